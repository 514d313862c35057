; A master boot record for the suspend and snapshot tests: a counter that lives on the disk. At boot
; it reads the count from the disk's second sector (INT 13h, CHS 0/0/2; zero when the sector lacks
; the "CNT!" mark) and says "boot at N". Then, about four times a second (every 4 BIOS timer ticks,
; sleeping in HLT between them), it adds one, writes the count back to the second sector and prints
; "count=N" on COM1 (polled through the 16550A's LSR, as SeaBIOS's own serial console is off in the
; app) and on the screen (INT 10h teletype).
;   - A resumed VM goes on counting from where it was, without a new "boot at" line.
;   - A VM reverted to a snapshot boots (or resumes) with the count its disk had at the snapshot.
bits 16
org 0x7c00

%define COM1 0x3f8
%define SECTOR 0x8000
%define TICKS 0x046c            ; BIOS data area: timer ticks since midnight (18.2 Hz)

start:
  cli
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7c00
  sti
  mov [drive], dl
  mov ax, 0x0201                ; read one sector: CHS 0/0/2
  mov cx, 0x0002
  xor dh, dh
  mov dl, [drive]
  mov bx, SECTOR
  int 0x13
  jc failed
  cmp dword [SECTOR], 'CNT!'
  je .have
  mov dword [SECTOR], 'CNT!'
  mov dword [SECTOR + 4], 0
.have:
  mov si, bootmsg
  call print
  mov eax, [SECTOR + 4]
  call printdec
  mov si, crlf
  call print

count:
  inc dword [SECTOR + 4]
  mov ax, 0x0301                ; write one sector: CHS 0/0/2
  mov cx, 0x0002
  xor dh, dh
  mov dl, [drive]
  mov bx, SECTOR
  int 0x13
  jc failed
  mov si, countmsg
  call print
  mov eax, [SECTOR + 4]
  call printdec
  mov si, crlf
  call print
  mov ebx, [TICKS]
  add ebx, 4
.wait:
  hlt                           ; the timer's IRQ 0 wakes it
  mov eax, [TICKS]
  sub eax, ebx
  js .wait
  jmp count

failed:
  mov si, diskerr
  call print
.halt:
  hlt
  jmp .halt

; the text at DS:SI to COM1 and the screen
print:
  lodsb
  test al, al
  jz .done
  call putc
  jmp print
.done:
  ret

putc:
  push ax
  push dx
  mov ah, al
  mov dx, COM1 + 5
.thre:
  in al, dx
  test al, 0x20
  jz .thre
  mov al, ah
  mov dx, COM1
  out dx, al
  mov ah, 0x0e
  mov bx, 7
  int 0x10
  pop dx
  pop ax
  ret

; EAX in decimal
printdec:
  mov ecx, 10
  xor di, di
.div:
  xor edx, edx
  div ecx
  push dx
  inc di
  test eax, eax
  jnz .div
.out:
  pop ax
  add al, '0'
  call putc
  dec di
  jnz .out
  ret

drive db 0
bootmsg db "boot at ", 0
countmsg db "count=", 0
crlf db 13, 10, 0
diskerr db "INT 13h failed", 13, 10, 0
times 510-($-$$) db 0
dw 0xaa55
