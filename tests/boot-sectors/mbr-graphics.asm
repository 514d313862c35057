; A master boot record for the VGA graphics test: the VGA BIOS sets the modes (INT 10h), the code
; draws as DOS programs do, and tells the test through the firmware debug port (0x402) what is up.
;   mode 13h: pixel (x, y) has colour (x + 3y) mod 256; DAC entry 21h is set to (3Fh, 20h, 00h)
;   a key, then mode 12h: sixteen vertical stripes 40 pixels wide, colours 0-15, by set/reset
bits 16
org 0x7c00
start:
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7c00
  mov ax, 0x0013
  int 0x10
  push 0xa000
  pop es
  xor di, di
  xor dx, dx              ; y
.row13:
  mov ax, dx
  add ax, dx
  add ax, dx              ; al = 3y
  mov cx, 320
.col13:
  stosb
  inc al
  loop .col13
  inc dx
  cmp dx, 200
  jb .row13
  mov ax, 0x1010          ; set one DAC register
  mov bx, 0x21
  mov dh, 0x3f
  mov ch, 0x20
  mov cl, 0x00
  int 0x10
  mov si, said13
  call debug
  xor ax, ax              ; wait for a key
  int 0x16

  mov ax, 0x0012
  int 0x10
  push 0xa000
  pop es
  mov dx, 0x3ce
  mov ax, 0x0f01          ; Enable Set/Reset: all four planes
  out dx, ax
  xor di, di
  mov bx, 480
.row12:
  xor si, si              ; byte column
.col12:
  mov ax, si
  mov cl, 5
  div cl                  ; al = stripe = column / 5
  mov ah, al
  xor al, al              ; Set/Reset (index 0) = stripe colour
  mov dx, 0x3ce
  out dx, ax
  mov al, 0xff
  stosb
  inc si
  cmp si, 80
  jb .col12
  dec bx
  jnz .row12
  mov si, said12
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

said13 db "hostbox-gfx: mode 13h drawn", 10, 0
said12 db "hostbox-gfx: mode 12h drawn", 10, 0
times 510-($-$$) db 0
dw 0xaa55
