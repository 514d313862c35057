; A master boot record for the Screen tab's input test: it turns the PS/2 mouse on the way a driver
; does (i8042 command A8h enables the auxiliary port, D4h sends the next byte to the mouse, F4h
; enables data reporting), then polls the controller and writes every byte it receives on the text
; screen and on COM1: "M:xx" for the mouse (status bit 5, AUXB), "K:xx" for the keyboard. Interrupts
; stay masked at the PIC, so no BIOS handler takes the bytes first.
bits 16
org 0x7c00
start:
  cli
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7c00
  push 0xb800
  pop es
  in al, 0x21             ; mask IRQ 1 (keyboard) and IRQ 12 (mouse)
  or al, 0x02
  out 0x21, al
  in al, 0xa1
  or al, 0x10
  out 0xa1, al
  call clear
  xor di, di              ; row 0, white on blue across the screen: the title
  mov cx, 80
  mov ax, 0x1f20
  rep stosw
  mov di, 2
  mov si, title
  mov ah, 0x1f
.title:
  lodsb
  test al, al
  jz .titled
  stosw
  jmp .title
.titled:
.flush:                   ; drop whatever the BIOS left in the output buffer
  in al, 0x64
  test al, 1
  jz .flushed
  in al, 0x60
  jmp .flush
.flushed:
  mov al, 0xa8            ; enable the auxiliary interface
  call command
  mov al, 0x20            ; read the command byte
  call command
  call wait_out
  in al, 0x60
  and al, 0xcc            ; no interrupts (bits 0, 1), both clocks on (bits 4, 5); translation kept
  mov bl, al
  mov al, 0x60            ; write the command byte
  call command
  call wait_in
  mov al, bl
  out 0x60, al
  mov al, 0xd4            ; the next data byte goes to the mouse
  call command
  call wait_in
  mov al, 0xf4            ; enable data reporting
  out 0x60, al
  mov di, 320             ; output from row 2
.poll:
  in al, 0x64
  test al, 1
  jz .poll
  mov ah, al
  in al, 0x60
  mov bl, 'K'
  test ah, 0x20
  jz .kbd
  mov bl, 'M'
.kbd:
  mov bh, al
  cmp di, 3840            ; the screen is full: start again at row 2
  jb .room
  call clear
  mov di, 320
.room:
  mov al, bl
  call put
  mov al, ':'
  call put
  mov al, bh
  shr al, 4
  call hex
  mov al, bh
  and al, 0x0f
  call hex
  mov al, ' '
  call put
  jmp .poll

hex:                      ; one hex digit of al
  add al, '0'
  cmp al, '9'
  jbe put
  add al, 'A' - '9' - 1
put:                      ; al to the screen at es:di (light grey on black) and to COM1
  mov ah, 0x07
  stosw
  push dx
  mov dx, 0x3f8
  out dx, al
  pop dx
  ret

clear:                    ; rows 1-24 blank
  push di
  mov di, 160
  mov cx, 80 * 24
  mov ax, 0x0720
  rep stosw
  pop di
  ret

command:                  ; al to the controller's command port
  call wait_in
  out 0x64, al
  ret
wait_in:                  ; until the controller's input buffer is empty
  push ax
.w:
  in al, 0x64
  test al, 2
  jnz .w
  pop ax
  ret
wait_out:                 ; until a byte waits in the output buffer
  in al, 0x64
  test al, 1
  jz wait_out
  ret

title: db 'HOSTBOX MOUSE TEST', 0

times 510 - ($ - $$) db 0
dw 0xaa55
