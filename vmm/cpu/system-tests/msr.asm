; Model-specific registers of a Pentium II: MTRRcap (8 variable ranges, fixed ranges, WC), the
; variable and fixed ranges and the default type read back as written, and #GP(0) for what the SDM
; refuses: reserved bits (11:8 of PHYSBASE, 10:0 and 36+ of PHYSMASK, 9:8 and 12+ of DEF_TYPE), memory
; types 2, 3 and 7+, a write to MTRRcap. IA32_MCG_CAP reports no banks and no MCG_CTL (so 17Bh is
; #GP); an MSR the CPU does not have is #GP.
%include "common.inc"
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 13
  mov eax, gp_handler
  mov dx, 0x8e00
  call set_gate

  ; rdmsr/wrmsr with ECX, EDX:EAX; gp_count counts #GP(0), each skipping the 2-byte instruction.
%macro RD 1
  mov ecx, %1
  rdmsr
%endmacro
%macro WR 3 ; msr, edx, eax
  mov ecx, %1
  mov edx, %2
  mov eax, %3
  wrmsr
%endmacro

  RD 0xfe
  EXPECT eax, 0x508, 1
  EXPECT edx, 0, 2
  RD 0x2ff
  EXPECT eax, 0, 3                        ; disabled at power-on
  WR 0x204, 0x0, 0xd0000006               ; PHYSBASE2: 0xD0000000 WB
  WR 0x205, 0xf, 0xf0000800               ; PHYSMASK2: 256 MiB, valid
  RD 0x204
  EXPECT eax, 0xd0000006, 4
  RD 0x205
  EXPECT eax, 0xf0000800, 5
  EXPECT edx, 0xf, 6
  WR 0x250, 0x06060606, 0x06060606
  WR 0x26f, 0x05050505, 0x04040100        ; WP WP ... WT WT WC UC
  RD 0x26f
  EXPECT eax, 0x04040100, 7
  EXPECT edx, 0x05050505, 8
  WR 0x2ff, 0, 0xc06
  RD 0x2ff
  EXPECT eax, 0xc06, 9
  EXPECT dword [gp_count], 0, 10
  ; Refused values leave the register as it was.
  WR 0xfe, 0, 0x508
  EXPECT dword [gp_count], 1, 11
  WR 0x204, 0, 0xd0000106                 ; bit 8 reserved
  EXPECT dword [gp_count], 2, 12
  WR 0x204, 0x10, 0xd0000006              ; bit 36: beyond 36 physical address bits
  EXPECT dword [gp_count], 3, 13
  WR 0x204, 0, 0xd0000002                 ; type 2
  EXPECT dword [gp_count], 4, 14
  WR 0x205, 0xf, 0xf0000801               ; bit 0 of PHYSMASK
  EXPECT dword [gp_count], 5, 15
  WR 0x26f, 0x07050505, 0x04040100        ; type 7 in the top byte
  EXPECT dword [gp_count], 6, 16
  WR 0x2ff, 0, 0xd06                      ; bit 8
  EXPECT dword [gp_count], 7, 17
  WR 0x2ff, 0, 0xc03                      ; type 3
  EXPECT dword [gp_count], 8, 18
  RD 0x204
  EXPECT eax, 0xd0000006, 19
  RD 0x26f
  EXPECT edx, 0x05050505, 20
  RD 0x2ff
  EXPECT eax, 0xc06, 21
  ; Machine check: no banks.
  RD 0x179
  EXPECT eax, 0, 22
  EXPECT edx, 0, 23
  EXPECT dword [gp_count], 8, 24
  RD 0x17b                                ; IA32_MCG_CTL: absent without MCG_CTL_P
  EXPECT dword [gp_count], 9, 25
  RD 0x400                                ; IA32_MC0_CTL: no bank 0
  EXPECT dword [gp_count], 10, 26
  WR 0x17a, 0, 0
  EXPECT dword [gp_count], 10, 27
  WR 0x17a, 0, 8
  EXPECT dword [gp_count], 11, 28
  jmp pass

gp_handler:
  EXPECT dword [esp], 0, 90
  inc dword [gp_count]
  add dword [esp + 4], 2
  add esp, 4
  iretd

gp_count: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
