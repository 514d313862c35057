; A master boot record for the BIOS boot test: prints through INT 10h, reads the disk's second
; sector through INT 13h (CHS, the way old loaders do) and prints the text found there.
bits 16
org 0x7c00
start:
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov sp, 0x7c00
  mov [drive], dl
  mov si, hello
  call print
  mov ax, 0x0201          ; read one sector
  mov cx, 0x0002          ; cylinder 0, sector 2
  xor dh, dh              ; head 0
  mov dl, [drive]
  mov bx, 0x8000
  int 0x13
  jc failed
  mov si, 0x8000
  call print
  jmp halt
failed:
  mov si, readerr
  call print
halt:
  ; Interrupts stay on: SeaBIOS's serial console sends its last characters from the timer tick.
  sti
  hlt
  jmp halt

print:
  lodsb
  test al, al
  jz .done
  mov ah, 0x0e
  mov bx, 7
  int 0x10
  jmp print
.done:
  ret

drive db 0
hello db "Hello from the MBR", 13, 10, 0
readerr db "INT 13h read failed", 13, 10, 0
times 510-($-$$) db 0
dw 0xaa55
