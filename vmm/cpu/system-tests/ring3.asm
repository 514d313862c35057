; Rings: IRET from ring 0 to ring 3 (data segments the new CPL may not use become null), INT 0x80
; through a DPL-3 interrupt gate with the stack switch to the TSS's SS0:ESP0, a call gate from ring 3
; to ring 0 copying two parameters and RETF 8 back, SYSENTER/SYSEXIT, and CLI at ring 3 with IOPL 0
; raising #GP(0) with the CLI's address on the ring-0 stack.
%include "common.inc"
SEL_GATE equ 0x40 | 3
R3_STACK equ 0x60000
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 0x80
  mov eax, int80
  mov dx, 0xee00
  call set_gate
  mov edi, 13
  mov eax, gp_handler
  mov dx, 0x8e00
  call set_gate
  mov dword [tss0 + 4], 0x70000           ; ESP0
  mov dword [tss0 + 8], SEL_DATA0         ; SS0
  mov ax, SEL_TSS
  ltr ax
  ; SYSENTER_CS = 08, so SYSEXIT goes to 18|3 / 20|3.
  mov ecx, 0x174
  mov eax, SEL_CODE0
  xor edx, edx
  wrmsr
  mov ecx, 0x175
  mov eax, 0x6f000
  wrmsr
  mov ecx, 0x176
  mov eax, sysenter_entry
  wrmsr
  push dword SEL_DATA3
  push dword R3_STACK
  push dword 0x002                        ; IOPL 0, IF clear
  push dword SEL_CODE3
  push dword ring3
  iretd

  ; ---------------------------------------------------------------- ring 3
ring3:
  mov ax, ds
  mov bx, ax                              ; null after IRET to ring 3
  mov ax, SEL_DATA3
  mov ds, ax
  mov es, ax
  mov [r3_ds], bx
  mov ax, cs
  mov [r3_cs], ax
  mov eax, 0x1111
  int 0x80
  mov [r3_after_int], eax
  mov [r3_esp1], esp
  push dword 0xaaaa
  push dword 0xbbbb
  call SEL_GATE:0
  mov [r3_gate_ret], eax
  mov [r3_esp2], esp
  mov ecx, ring3_after_sysexit
  mov edx, ecx
  mov ecx, esp
  sysenter
ring3_after_sysexit:
  mov [r3_esp3], esp
  mov ax, cs
  mov [r3_cs2], ax
cli_here:
  cli
  mov eax, 0x99                           ; not reached

  ; ---------------------------------------------------------------- ring 0
int80:
  mov ebx, [esp + 4]
  EXPECT ebx, SEL_CODE3, 20
  mov ebx, [esp + 16]
  EXPECT ebx, SEL_DATA3, 21
  mov ebx, [esp + 12]
  EXPECT ebx, R3_STACK, 22
  EXPECT esp, 0x70000 - 20, 23
  mov bx, ss
  EXPECT bx, SEL_DATA0, 24
  mov eax, 0x2222
  iretd

gate_target:
  mov bx, cs
  EXPECT bx, SEL_CODE0, 30
  EXPECT dword [esp + 4], SEL_CODE3, 31
  EXPECT dword [esp + 8], 0xbbbb, 32
  EXPECT dword [esp + 12], 0xaaaa, 33
  EXPECT dword [esp + 16], R3_STACK - 8, 34
  EXPECT dword [esp + 20], SEL_DATA3, 35
  EXPECT esp, 0x70000 - 24, 36
  mov eax, 0x3333
  retf 8

sysenter_entry:
  mov bx, cs
  EXPECT bx, SEL_CODE0, 40
  mov bx, ss
  EXPECT bx, SEL_DATA0, 41
  EXPECT esp, 0x6f000, 42
  sysexit

gp_handler:
  EXPECT dword [esp], 0, 50               ; error code
  EXPECT dword [esp + 4], cli_here, 51
  EXPECT dword [esp + 8], SEL_CODE3, 52
  EXPECT word [r3_ds], 0, 53
  EXPECT word [r3_cs], SEL_CODE3, 54
  EXPECT dword [r3_after_int], 0x2222, 55
  EXPECT dword [r3_gate_ret], 0x3333, 56
  EXPECT dword [r3_esp2], R3_STACK, 57
  EXPECT dword [r3_esp3], R3_STACK, 58
  EXPECT word [r3_cs2], SEL_CODE3, 59
  jmp pass

r3_ds: dw 0xffff
r3_cs: dw 0
r3_cs2: dw 0
r3_after_int: dd 0
r3_esp1: dd 0
r3_esp2: dd 0
r3_esp3: dd 0
r3_gate_ret: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
  GATE SEL_CODE0, A(gate_target), 0xec, 2 ; 40 call gate, DPL 3, two dwords
gdt_end:
gdtr:
  dw gdt_end - gdt - 1
  dd gdt
tss0: times 0x68 db 0
