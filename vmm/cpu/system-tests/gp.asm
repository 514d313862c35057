; Segment-load faults and the descriptor queries: MOV DS with a selector beyond the GDT limit raises
; #GP(selector) and leaves DS alone; a not-present data segment raises #NP(selector); loading SS with
; a read-only segment #GP; a far JMP to a data segment #GP. LAR, LSL, VERR, VERW and ARPL.
%include "common.inc"
SEL_NP equ 0x40
SEL_RO equ 0x48
SEL_XO equ 0x50
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 13
  mov eax, fault_handler
  mov dx, 0x8e00
  call set_gate
  mov edi, 11
  mov eax, fault_handler
  call set_gate

  mov dword [resume], .1
  mov ax, 0x7ff8
  mov ds, ax
  mov al, 1
  jmp fail
.1:
  EXPECT dword [last_vec], 13, 2
  EXPECT dword [last_code], 0x7ff8, 3
  mov ax, ds
  EXPECT ax, SEL_DATA0, 4
  mov dword [resume], .2
  mov ax, SEL_NP
  mov es, ax
  mov al, 5
  jmp fail
.2:
  EXPECT dword [last_vec], 11, 6
  EXPECT dword [last_code], SEL_NP, 7
  mov dword [resume], .3
  mov ax, SEL_RO
  mov ss, ax
  mov al, 8
  jmp fail
.3:
  EXPECT dword [last_vec], 13, 9
  EXPECT dword [last_code], SEL_RO, 10
  mov dword [resume], .4
  jmp SEL_DATA0:0
.4:
  EXPECT dword [last_code], SEL_DATA0, 11

  ; LAR: access rights of the flat code segment; an invalid selector clears ZF.
  mov ax, SEL_CODE0
  lar ebx, ax
  jnz .f12
  EXPECT ebx, 0x00c09b00, 13              ; masked by 00F0FF00, accessed by the far jump
  mov ax, 0x7ff8
  lar ebx, ax
  jz .f14
  ; LSL: byte limit after granularity.
  mov ax, SEL_DATA16
  lsl ecx, ax
  EXPECT ecx, 0xffff, 15
  mov ax, SEL_TSS
  lsl ecx, ax
  EXPECT ecx, 0x67, 16
  ; VERR / VERW.
  mov ax, SEL_RO
  verr ax
  jnz .f17
  verw ax
  jz .f18
  mov ax, SEL_XO
  verr ax
  jz .f19
  mov ax, SEL_DATA0
  verw ax
  jnz .f20
  ; ARPL raises the RPL.
  mov ax, 0x10
  mov bx, 0x23
  arpl ax, bx
  jnz .f21
  EXPECT ax, 0x13, 22
  arpl ax, bx
  jz .f23
  jmp pass
.f12: mov al, 12
  jmp fail
.f14: mov al, 14
  jmp fail
.f17: mov al, 17
  jmp fail
.f18: mov al, 18
  jmp fail
.f19: mov al, 19
  jmp fail
.f20: mov al, 20
  jmp fail
.f21: mov al, 21
  jmp fail
.f23: mov al, 23
  jmp fail

fault_handler:
  pop dword [last_code]
  mov eax, [resume]
  mov [esp], eax
  mov dword [last_vec], 13
  cmp dword [last_code], SEL_NP
  jne .r
  mov dword [last_vec], 11
.r:
  iretd

resume: dd 0
last_vec: dd 0
last_code: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
  SEG 0, 0xfffff, 0x12, 0xc               ; 40 data, not present
  SEG 0, 0xfffff, 0x90, 0xc               ; 48 data, read-only
  SEG 0, 0xfffff, 0x98, 0xc               ; 50 code, execute-only
gdt_end:
gdtr:
  dw gdt_end - gdt - 1
  dd gdt
tss0: times 0x68 db 0
