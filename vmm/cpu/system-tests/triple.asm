; No usable IDT: an exception cannot be delivered (#GP for the vector beyond the IDT limit), the
; #GP cannot either (double fault), nor the #DF: the CPU shuts down. Nothing is reported.
%include "common.inc"
  org LOAD
  ENTER_PM32
  lidt [empty_idtr]
  ud2
  mov al, 1
  jmp fail
empty_idtr:
  dw 0
  dd 0
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
