; MMX and the x87 it aliases (SDM vol. 1 §9.5-9.6): #UD with CR0.EM, #NM with CR0.TS, #MF for a
; pending unmasked x87 exception (EMMS included), MM registers as the significands of R0-R7 with
; bits 79:64 set to ones on a write, TOP = 0 and all tags valid after an MMX instruction, all empty
; after EMMS, and FSAVE/FNSTENV images showing it. (Results of every MMX instruction are compared
; with the host CPU in differential.test.ts.)
%include "common.inc"
  org LOAD
  ENTER_PM32
  call init_idt
  mov dx, 0x8e00
  mov edi, 6
  mov eax, ud_handler
  call set_gate
  mov edi, 7
  mov eax, nm_handler
  call set_gate
  mov edi, 16
  mov eax, mf_handler
  call set_gate
  mov eax, cr0
  or eax, 0x20                            ; NE: x87 errors as #MF
  and eax, ~0xc                           ; EM, TS clear
  mov cr0, eax
  fninit

  ; CR0.EM: #UD. CR0.TS: #NM. Each skips the 3-byte instruction.
  mov eax, cr0
  or eax, 4
  mov cr0, eax
  movq mm0, mm1
  EXPECT dword [last_vec], 6, 1
  mov eax, cr0
  and eax, ~4
  or eax, 8
  mov cr0, eax
  paddb mm0, mm1
  EXPECT dword [last_vec], 7, 2
  clts
  mov dword [last_vec], -1

  ; A pending unmasked x87 exception (#Z) is #MF at the next MMX instruction, EMMS too.
  fldcw [cw_zm_unmasked]
  fld1
  fldz
  fdivp st1, st0
  pxor mm0, mm0
  EXPECT dword [last_vec], 16, 3
  fld1
  fldz
  fdivp st1, st0
  mov byte [skip], 2
  emms
  EXPECT dword [last_vec], 16, 4
  mov byte [skip], 3
  fninit

  ; MMX writes: TOP = 0, every tag valid, bits 79:64 of Ri all ones, MMi = the significand of Ri.
  fld1                                    ; TOP = 7, R7 = 1.0
  movq mm3, [pattern]
  fnsave [image]
  mov ax, [image + 4]
  and ax, 0x3800
  EXPECT ax, 0, 5                         ; TOP = 0
  mov ax, [image + 8]
  shr ax, 6
  and ax, 3
  EXPECT ax, 2, 6                         ; tag of R3: special (exponent all ones)
  mov ax, [image + 8]
  shr ax, 14
  EXPECT ax, 0, 7                         ; tag of R7: valid (1.0)
  EXPECT dword [image + 28 + 30], 0x89abcdef, 8 ; ST(3) = R3 with TOP = 0: significand low
  EXPECT dword [image + 28 + 34], 0x01234567, 9 ; high
  EXPECT word [image + 28 + 38], 0xffff, 10 ; sign and exponent all ones
  ; FNSAVE reinitialised the x87: R7 still holds 1.0, whose significand MM7 shows.
  movq [out], mm7
  EXPECT dword [out], 0, 11
  EXPECT dword [out + 4], 0x80000000, 12
  ; EMMS: every tag empty.
  emms
  fnstenv [image]
  EXPECT word [image + 8], 0xffff, 13
  ; x87 after MMX without EMMS sees a full stack: FLD overflows (#IS, masked, C1 = 1).
  fninit
  movd mm0, eax
  fld1
  fnstsw ax
  and ax, 0x0241                          ; SF, C1, IE
  EXPECT ax, 0x0241, 14
  emms
  jmp pass

ud_handler:
  mov dword [last_vec], 6
  jmp skip_insn
nm_handler:
  mov dword [last_vec], 7
  jmp skip_insn
mf_handler:
  mov dword [last_vec], 16
  fnclex
skip_insn:
  push eax
  movzx eax, byte [skip]
  add [esp + 4], eax
  pop eax
  iretd

last_vec: dd -1
skip: db 3
  align 4
cw_zm_unmasked: dw 0x037b
  align 8
pattern: dq 0x0123456789abcdef
out: dq 0
image: times 108 db 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
