; Virtual-8086 mode under a ring-0 monitor: IRETD with VM set enters it (segments loaded the 8086
; way), INT 0x30 with IOPL 3 goes to a DPL-3 gate on the ring-0 stack with ES/DS/FS/GS pushed and
; nulled, IRETD returns with them; the TSS I/O bitmap allows port 0xE9 and denies 0x80 (#GP(0));
; with IOPL 0, CLI traps to the monitor.
%include "common.inc"
V86_STACK equ 0x6000
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 0x30
  mov eax, int30
  mov dx, 0xee00
  call set_gate
  mov edi, 13
  mov eax, gp_handler
  mov dx, 0x8e00
  call set_gate
  mov dword [tss0 + 4], 0x70000
  mov dword [tss0 + 8], SEL_DATA0
  mov ax, SEL_TSS
  ltr ax
  push dword 0                            ; GS
  push dword 0                            ; FS
  push dword 0x0100                       ; DS
  push dword 0                            ; ES
  push dword 0                            ; SS
  push dword V86_STACK
  push dword 0x23002                      ; VM, IOPL 3
  push dword 0                            ; CS
  push dword v86_code
  iretd

  bits 16
v86_code:
  mov ax, ds
  mov [cs:v86_ds], ax
  int 0x30
after_int30:
  mov [cs:v86_ret], ax
  mov ax, es
  mov [cs:v86_es], ax
  pushf
  pop ax
  mov [cs:v86_flags], ax
  mov al, 'V'
  out 0xe9, al
out_80:
  out 0x80, al
  mov ax, 1                               ; skipped by the monitor
cli_here:
  cli
  hlt
  bits 32

int30:
  EXPECT esp, 0x70000 - 36, 20
  EXPECT dword [esp], after_int30, 21
  EXPECT dword [esp + 4], 0, 22           ; CS
  mov eax, [esp + 8]
  and eax, 0x20000
  EXPECT eax, 0x20000, 23                 ; VM in the image
  EXPECT dword [esp + 12], V86_STACK, 24
  EXPECT dword [esp + 24], 0x0100, 25     ; DS
  mov ax, ds
  EXPECT ax, 0, 26                        ; nulled on entry
  pushfd
  pop eax
  and eax, 0x20000
  EXPECT eax, 0, 27
  mov ax, SEL_DATA0
  mov ds, ax
  mov dword [esp + 20], 0x1234            ; ES for the return
  mov eax, 0x4242
  iretd

gp_handler:
  mov ax, SEL_DATA0
  mov ds, ax
  EXPECT dword [esp], 0, 30               ; error code
  inc dword [gp_count]
  cmp dword [gp_count], 1
  jne .second
  EXPECT dword [esp + 4], out_80, 31
  EXPECT word [v86_ds], 0x0100, 32
  EXPECT word [v86_ret], 0x4242, 33
  EXPECT word [v86_es], 0x1234, 34
  mov ax, [v86_flags]
  and ax, 0x3000
  EXPECT ax, 0x3000, 35
  add dword [esp + 4], 2                  ; skip the OUT
  and dword [esp + 12], ~0x3000           ; IOPL 0: CLI now traps
  add esp, 4
  iretd
.second:
  EXPECT dword [esp + 4], cli_here, 36
  jmp pass

v86_ds: dw 0
v86_es: dw 0
v86_ret: dw 0
v86_flags: dw 0
gp_count: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x68 + 32
gdtr:
  dw 8 * 8 - 1
  dd gdt
  align 4
tss0:
  times 0x66 db 0
  dw 0x68                                 ; I/O bitmap offset
  times 29 db 0xff                        ; ports 0x00-0xE7 denied
  db 0xfd                                 ; 0xE8-0xEF: only 0xE9 allowed
  db 0xef                                 ; 0xF0-0xF7: only 0xF4 allowed
  db 0xff
  db 0xff
