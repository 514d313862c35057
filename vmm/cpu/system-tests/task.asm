; Hardware task switches between 32-bit TSSs: CALL to a TSS descriptor (NT and the back link set, the
; caller stays busy) and IRET back; JMP to the task and JMP back (busy bits move, NT stays clear);
; INT 0x40 through a task gate in the IDT; and a double fault (#NP while delivering #GP, both
; contributory) through a task gate, the error code 0 on the #DF task's stack.
%include "common.inc"
SEL_TSSB equ 0x40
SEL_TSSC equ 0x48
SEL_TSSD equ 0x50

; TSS image: link, ESP0/SS0..., CR3, EIP, EFLAGS, regs, segments, LDT, iomap.
%macro TSS 2 ; entry point, stack top
  dd 0, 0x70000, SEL_DATA0, 0, 0, 0, 0, 0
  dd %1, 0x2, 0, 0, 0, 0, %2, 0, 0, 0
  dd SEL_DATA0, SEL_CODE0, SEL_DATA0, SEL_DATA0, SEL_DATA0, SEL_DATA0, 0
  dw 0, 0x68
%endmacro

  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 0x40
  mov ax, SEL_TSSC
  shl eax, 16
  mov dx, 0x8500                          ; task gate, DPL 0
  call set_gate
  mov word [idt + 0x40 * 8 + 2], SEL_TSSC
  mov edi, 8
  mov dx, 0x8500
  call set_gate
  mov word [idt + 8 * 8 + 2], SEL_TSSD
  mov ax, SEL_TSS
  ltr ax
  EXPECT byte [gdt + SEL_TSS + 5], 0x8b, 1 ; LTR marks it busy

  ; CALL: task B runs and returns with IRET.
  mov ebx, 0x1234
  call SEL_TSSB:0
  EXPECT ebx, 0x1234, 2
  EXPECT dword [b_phase], 1, 3
  EXPECT byte [gdt + SEL_TSSB + 5], 0x89, 4
  EXPECT byte [gdt + SEL_TSS + 5], 0x8b, 5
  pushfd
  pop eax
  and eax, 0x4000
  EXPECT eax, 0, 6
  mov eax, cr0
  and eax, 8
  EXPECT eax, 8, 7                        ; CR0.TS set by the switch
  clts

  ; JMP there and back.
  jmp SEL_TSSB:0
  EXPECT dword [b_phase], 2, 8
  EXPECT byte [gdt + SEL_TSSB + 5], 0x89, 9
  EXPECT byte [gdt + SEL_TSS + 5], 0x8b, 10

  ; Task gate in the IDT.
  int 0x40
  EXPECT dword [c_runs], 1, 11
  EXPECT byte [gdt + SEL_TSSC + 5], 0x89, 12

  ; #GP through a not-present gate gives #NP while delivering #GP: a double fault.
  mov byte [idt + 13 * 8 + 5], 0x0e       ; clear P
  mov ax, 0x7ff8
  mov ds, ax
  mov al, 13
  jmp fail

task_b:
  pushfd
  pop eax
  and eax, 0x4000
  EXPECT eax, 0x4000, 20                  ; NT
  EXPECT word [tss_b], SEL_TSS, 21        ; back link
  EXPECT byte [gdt + SEL_TSS + 5], 0x8b, 22
  EXPECT byte [gdt + SEL_TSSB + 5], 0x8b, 23
  str ax
  EXPECT ax, SEL_TSSB, 24
  mov dword [b_phase], 1
  mov ebx, 0x5678
  iretd
  ; Resumed by the JMP: NT was cleared in the image IRET saved.
  pushfd
  pop eax
  and eax, 0x4000
  EXPECT eax, 0, 25
  EXPECT byte [gdt + SEL_TSS + 5], 0x89, 26 ; JMP cleared the old task's busy bit
  mov dword [b_phase], 2
  jmp SEL_TSS:0

task_c:
  EXPECT word [tss_c], SEL_TSS, 30
  inc dword [c_runs]
  iretd
  jmp task_c

task_d:
  EXPECT dword [esp], 0, 40               ; #DF error code
  EXPECT esp, 0x5f000 - 4, 41
  EXPECT word [tss_d], SEL_TSS, 42
  jmp pass

b_phase: dd 0
c_runs: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
  SEG A(tss_b), 0x67, 0x89, 0
  SEG A(tss_c), 0x67, 0x89, 0
  SEG A(tss_d), 0x67, 0x89, 0
gdt_end:
gdtr:
  dw gdt_end - gdt - 1
  dd gdt
  align 4
tss0: times 0x68 db 0
tss_b: TSS task_b, 0x6f000
tss_c: TSS task_c, 0x6e000
tss_d: TSS task_d, 0x5f000
