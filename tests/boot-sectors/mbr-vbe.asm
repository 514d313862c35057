; A master boot record for the VESA BIOS Extensions test, through the VGA BIOS's VBE functions:
;   4F00h must answer with a "VESA" block;
;   mode 101h (640x480, 256 colours) set banked: each row y has colour y mod 256, written through
;     the 64 KiB window at A000h, bank by bank with 4F05h;
;   a key, then mode 112h (640x480, direct colour) set with its linear framebuffer: from 4F01h's
;     PhysBasePtr, BitsPerPixel and BytesPerScanLine, filled with orange (FF8000h) in 32-bit
;     protected mode, as protected-mode loaders do.
; Progress goes to the firmware debug port (0x402).
bits 16
org 0x7c00
start:
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7c00
  mov ax, 0x4f00
  mov di, 0x0600
  mov dword [di], 'VBE2'
  int 0x10
  cmp ax, 0x004f
  jne novbe
  cmp dword [0x0600], 'VESA'
  jne novbe
  mov si, saidvesa
  call debug

  mov ax, 0x4f02
  mov bx, 0x0101
  int 0x10
  cmp ax, 0x004f
  jne novbe
  push 0xa000
  pop es
  xor edx, edx              ; bank
.bank:
  push dx
  mov ax, 0x4f05
  xor bx, bx
  int 0x10
  pop dx
  xor di, di
.byte:
  mov eax, edx
  shl eax, 16
  or ax, di                 ; linear offset = bank * 64K + di
  push edx
  xor edx, edx
  mov ecx, 640
  div ecx                   ; eax = row
  pop edx
  stosb
  test di, di
  jnz .byte
  inc dx
  cmp dx, 5                 ; 640 * 480 bytes = 4.7 banks
  jb .bank
  mov si, said101
  call debug
  xor ax, ax
  int 0x16

  mov ax, 0x4f01
  mov cx, 0x0112
  push 0
  pop es
  mov di, 0x0800
  int 0x10
  cmp ax, 0x004f
  jne novbe
  mov ax, 0x4f02
  mov bx, 0x4112            ; bit 14: the linear framebuffer
  int 0x10
  cmp ax, 0x004f
  jne novbe

  cli
  lgdt [gdtr]
  mov eax, cr0
  or al, 1
  mov cr0, eax
  jmp 0x08:pm32

novbe:
  mov si, saidnovbe
  call debug
halt:
  sti
  hlt
  jmp halt

debug:
  mov dx, 0x402
.next:
  lodsb
  test al, al
  jz .done
  out dx, al
  jmp .next
.done:
  ret

bits 32
pm32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x7c00
  mov edi, [0x0800 + 0x28]  ; PhysBasePtr
  movzx ebx, byte [0x0800 + 0x19] ; BitsPerPixel
  shr ebx, 3                ; bytes a pixel
  movzx ebp, word [0x0800 + 0x10] ; BytesPerScanLine
  mov ecx, 480
.row:
  push edi
  mov edx, 640
.pixel:
  mov byte [edi], 0x00      ; blue
  mov byte [edi + 1], 0x80  ; green
  mov byte [edi + 2], 0xff  ; red
  add edi, ebx
  dec edx
  jnz .pixel
  pop edi
  add edi, ebp
  loop .row
  mov esi, said112
  mov dx, 0x402
.out:
  lodsb
  test al, al
  jz .stop
  out dx, al
  jmp .out
.stop:
  hlt
  jmp .stop

align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff     ; 0x08: flat 32-bit code
  dq 0x00cf92000000ffff     ; 0x10: flat data
gdtr:
  dw gdtr - gdt - 1
  dd gdt

saidvesa db "hostbox-vbe: VESA", 10, 0
said101 db "hostbox-vbe: mode 101h drawn", 10, 0
said112 db "hostbox-vbe: mode 112h drawn", 10, 0
saidnovbe db "hostbox-vbe: no VBE", 10, 0
times 510-($-$$) db 0
dw 0xaa55
