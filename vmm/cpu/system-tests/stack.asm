; Stack size changes: every instruction that loads SS or leaves a stack pops with the size of the
; stack it pops from (SP wraps at 64 KiB on a 16-bit stack, ESP's upper half stays) and only then
; takes on the new stack's size: POP SS both ways and with both operand sizes, LSS, RETF and IRETD to
; ring 3 with a return frame that wraps around 64 KiB, IRETD into v86 mode from such a stack and IRET
; inside v86 mode. A JMP into a 16-bit TSS (the upper halves of the registers, EFLAGS). ENTER with a
; 32-bit operand on a 16-bit stack (the full frame pointer pushed and loaded), and ENTER in ring 3
; faulting with #PF when its final stack pointer or a slot part-way down the frame is on a
; supervisor page, leaving no partial frame.
%include "common.inc"
SEL_TSS16 equ 0x40
PD equ 0x100000
PT equ 0x101000
MARK equ 0x5a5a5a5a
  org LOAD
  ENTER_PM32
  cld
  call init_idt
  mov edi, 0x80
  mov eax, int80
  mov dx, 0xee00
  call set_gate
  mov edi, 14
  mov eax, pf_handler
  mov dx, 0x8e00
  call set_gate
  mov dword [tss0 + 4], 0x70000           ; ESP0
  mov dword [tss0 + 8], SEL_DATA0         ; SS0
  mov ax, SEL_TSS
  ltr ax

  ; ---------------------------------------------------------------- POP SS
  ; 32-bit operand on a 16-bit stack: SP wraps from FFFC to 0, ESP's upper half is kept.
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x0002fffc
  mov dword [0xfffc], SEL_DATA0
  pop ss
  mov ebx, esp
  mov cx, ss
  mov esp, 0x70000
  EXPECT ebx, 0x00020000, 1
  EXPECT cx, SEL_DATA0, 2
  ; 16-bit operand on a 16-bit stack.
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x0003fffe
  mov word [0xfffe], SEL_DATA0
  o16 pop ss
  mov ebx, esp
  mov esp, 0x70000
  EXPECT ebx, 0x00030000, 3
  ; 32-bit stack popping a 16-bit SS: ESP moves by 4 over all 32 bits.
  mov esp, 0x0002fffc
  mov dword [0x2fffc], SEL_DATA16
  pop ss
  mov ebx, esp
  mov cx, ss
  mov ax, SEL_DATA0
  mov ss, ax
  mov esp, 0x70000
  EXPECT ebx, 0x00030000, 4
  EXPECT cx, SEL_DATA16, 5

  ; ---------------------------------------------------------------- LSS
  lss esp, [lss_ptr32]
  mov ecx, esp
  mov bx, ss
  lss esp, [home_ptr]
  EXPECT ecx, 0x12345678, 6
  EXPECT bx, SEL_DATA16, 7
  mov esp, 0x00050000
  lss sp, [lss_ptr16]
  mov ecx, esp
  lss esp, [home_ptr]
  EXPECT ecx, 0x00051234, 8

  ; ---------------------------------------------------------------- RETF and IRETD to ring 3
  ; The frame sits at SP FFF8 of a 16-bit ring-0 stack: ESP and SS come from offsets 0 and 4.
  mov dword [cont], after_retf
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x0004fff8
  mov dword [0xfff8], ring3_report
  mov dword [0xfffc], SEL_CODE3
  mov dword [0x0000], 0x0005fff0
  mov dword [0x0004], SEL_DATA3
  retf
after_retf:
  EXPECT dword [r3_esp], 0x0005fff0, 9
  EXPECT dword [r3_ss], SEL_DATA3, 10
  mov dword [cont], after_iret
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x0004fff4
  mov dword [0xfff4], ring3_report
  mov dword [0xfff8], SEL_CODE3
  mov dword [0xfffc], 0x2
  mov dword [0x0000], 0x0005ffe0
  mov dword [0x0004], SEL_DATA3
  iretd
after_iret:
  EXPECT dword [r3_esp], 0x0005ffe0, 11
  EXPECT dword [r3_ss], SEL_DATA3, 12

  ; ---------------------------------------------------------------- v86
  ; IRETD to v86 from SP FFF0 of a 16-bit stack: ESP at FFFC, SS and the data segments after the wrap.
  mov dword [cont], after_v86
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x0004fff0
  mov dword [0xfff0], v86_code
  mov dword [0xfff4], 0
  mov dword [0xfff8], 0x23002             ; VM, IOPL 3
  mov dword [0xfffc], 0x0001fffe
  mov dword [0x0000], 0
  mov dword [0x0004], 0
  mov dword [0x0008], 0
  mov dword [0x000c], 0
  mov dword [0x0010], 0
  iretd
after_v86:
  ; v86 ran IRET at SP FFFE: SP wrapped to 4 and ESP kept its upper half 0001.
  EXPECT dword [frame + 12], 0x00010004, 13
  EXPECT dword [frame], v86_int + 2, 14

  ; ---------------------------------------------------------------- 16-bit TSS
  pushfd
  or dword [esp], 0x240000                ; AC and ID: a 16-bit TSS's FLAGS image clears them
  popfd
  mov eax, 0x12345678
  mov ebx, 0x9abcdef0
  mov ebp, 0x0fedcba9
  jmp SEL_TSS16:0
  ; The 16-bit task jumps back here, with this task's registers from its TSS.
  EXPECT dword [t16_eax], 0xffff1111, 15
  EXPECT dword [t16_ebx], 0xffff4444, 16
  EXPECT dword [t16_ebp], 0xffff6666, 17
  EXPECT dword [t16_esp], 0xffff7000, 18
  EXPECT dword [t16_flags], 0x00000002, 19
  EXPECT ebx, 0x9abcdef0, 20
  pushfd
  and dword [esp], ~0x240000
  popfd

  ; ---------------------------------------------------------------- ENTER
  ; o32 ENTER 8, 36 (level 4) on a 16-bit stack whose ESP has upper half 0002.
  mov ax, SEL_DATA16
  mov ss, ax
  mov esp, 0x00021000
  mov ebp, 0x00030800
  mov dword [0x07fc], 0x11111111
  mov dword [0x07f8], 0x22222222
  mov dword [0x07f4], 0x33333333
  enter 8, 36
  mov ebx, esp
  mov ecx, ebp
  mov ax, SEL_DATA0
  mov ss, ax
  mov esp, 0x70000
  EXPECT ecx, 0x00020ffc, 21              ; EBP = ESP after the first push
  EXPECT dword [0x0ffc], 0x00030800, 22
  EXPECT dword [0x0ff8], 0x11111111, 23
  EXPECT dword [0x0ff4], 0x22222222, 24
  EXPECT dword [0x0ff0], 0x33333333, 25
  EXPECT dword [0x0fec], 0x00020ffc, 26   ; the frame pointer pushed: all of it
  EXPECT ebx, 0x00020fe4, 27

  ; Ring 3 with paging: the page below 0x60000 is supervisor-only.
  mov edi, PT
  mov eax, 7
.fill:
  mov [edi], eax
  add edi, 4
  add eax, 0x1000
  cmp edi, PT + 4096
  jne .fill
  mov dword [PT + 0x5f * 4], 0x5f000 | 3
  mov dword [PD], PT | 7
  mov eax, PD
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  jmp .paged
.paged:
  mov dword [0x60000], MARK
  mov dword [0x60004], MARK
  ; ENTER 1, 0 at ESP 0x60004: the push fits, the final stack pointer 0x5FFFF does not.
  mov dword [cont], after_enter1
  push dword SEL_DATA3
  push dword 0x60004
  push dword 0x2
  push dword SEL_CODE3
  push dword ring3_enter1
  iretd
after_enter1:
  EXPECT dword [pf_count], 1, 28
  EXPECT dword [pf_code], 7, 29           ; present, write, user
  EXPECT dword [pf_esp], 0x60004, 30
  EXPECT dword [pf_ebp], 0x61000, 31
  EXPECT dword [0x60000], MARK, 32
  mov eax, [pf_cr2]
  and eax, ~0xfff
  EXPECT eax, 0x5f000, 33
  ; ENTER 0, 5 at ESP 0x60008: the first two slots fit, the third and later do not.
  mov dword [cont], after_enter2
  push dword SEL_DATA3
  push dword 0x60008
  push dword 0x2
  push dword SEL_CODE3
  push dword ring3_enter2
  iretd
after_enter2:
  EXPECT dword [pf_count], 2, 34
  EXPECT dword [pf_esp], 0x60008, 35
  EXPECT dword [pf_ebp], 0x61000, 36
  EXPECT dword [0x60004], MARK, 37
  EXPECT dword [0x60000], MARK, 38
  mov eax, [pf_cr2]
  and eax, ~0xfff
  EXPECT eax, 0x5f000, 39
  jmp pass

  ; ---------------------------------------------------------------- ring 3 and v86 code
ring3_report:
  mov [ss:r3_esp], esp
  mov word [ss:r3_ss], ss
  int 0x80
ring3_enter1:
  mov ebp, 0x61000
  enter 1, 0
  int 0x80
ring3_enter2:
  mov ebp, 0x61000
  enter 0, 5
  int 0x80

  bits 16
v86_code:
  mov word [0xfffe], v86_int
  mov word [0x0000], 0
  mov word [0x0002], 0x3002
  iret
v86_int:
  int 0x80
task16:
  mov [t16_eax], eax
  mov [t16_ebx], ebx
  mov [t16_ebp], ebp
  mov [t16_esp], esp
  pushfd
  pop dword [t16_flags]
  jmp SEL_TSS:0
  bits 32

  ; ---------------------------------------------------------------- ring-0 handlers
int80:
  mov ax, SEL_DATA0
  mov ds, ax
  mov es, ax
  mov esi, esp
  mov edi, frame
  mov ecx, 9
  rep movsd
  mov esp, 0x70000
  jmp [cont]

pf_handler:
  mov ax, SEL_DATA0
  mov ds, ax
  mov es, ax
  inc dword [pf_count]
  mov eax, cr2
  mov [pf_cr2], eax
  mov eax, [esp]
  mov [pf_code], eax
  mov eax, [esp + 16]
  mov [pf_esp], eax
  mov [pf_ebp], ebp
  mov esp, 0x70000
  jmp [cont]

cont: dd 0
frame: times 9 dd 0
r3_esp: dd 0
r3_ss: dd 0
t16_eax: dd 0
t16_ebx: dd 0
t16_ebp: dd 0
t16_esp: dd 0
t16_flags: dd 0
pf_count: dd 0
pf_code: dd 0
pf_cr2: dd 0
pf_esp: dd 0
pf_ebp: dd 0
lss_ptr32: dd 0x12345678
  dw SEL_DATA16
lss_ptr16: dw 0x1234, SEL_DATA16
home_ptr: dd 0x70000
  dw SEL_DATA0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
  SEG A(tss16), 0x2b, 0x81, 0             ; 40 16-bit TSS, available
gdt_end:
gdtr:
  dw gdt_end - gdt - 1
  dd gdt
  align 4
tss0: times 0x68 db 0
tss16:
  dw 0                                    ; link
  times 6 dw 0                            ; SP0 SS0 SP1 SS1 SP2 SS2
  dw task16                               ; IP
  dw 0x0002                               ; FLAGS
  dw 0x1111, 0x2222, 0x3333, 0x4444       ; AX CX DX BX
  dw 0x7000, 0x6666, 0x7777, 0x8888       ; SP BP SI DI
  dw SEL_DATA16, SEL_CODE16, SEL_DATA16, SEL_DATA16 ; ES CS SS DS
  dw 0                                    ; LDT
