; Results the SDM leaves undefined, pinned to what a P6 gives (as QEMU and Bochs model it; each
; handler's comment says which): SHLD/SHRD of 16-bit operands by 17-31 (bits of dst:src:dst), BSF/BSR
; of zero (destination kept, flags as after a logical operation on the source), the flags after MUL,
; and shifts and rotates by counts at and beyond the operand's width.
%include "common.inc"
FLAGS6 equ 0x8d5                          ; OF SF ZF AF PF CF
  org LOAD
  ENTER_PM32
  ; ---------------------------------------------------------------- SHLD/SHRD, 16 bits
  mov bx, 0x5678
  mov ax, 0x1234
  shld ax, bx, 20
  setc cl
  EXPECT ax, 0x6781, 1
  EXPECT cl, 1, 2
  mov ax, 0x1234
  mov cl, 17
  shld ax, bx, cl
  setc dl
  EXPECT ax, 0xacf0, 3
  EXPECT dl, 0, 4
  mov ax, 0x1234
  shrd ax, bx, 20
  setc cl
  EXPECT ax, 0x4567, 5
  EXPECT cl, 1, 6
  mov word [scratch], 0x1234
  mov cl, 31
  shrd [scratch], bx, cl
  setc dl
  EXPECT word [scratch], 0x2468, 7
  EXPECT dl, 1, 8
  mov ax, 0x1234
  shld ax, bx, 31
  EXPECT ax, 0x091a, 9
  ; ---------------------------------------------------------------- BSF/BSR
  mov eax, 0xdeadbeef
  xor ecx, ecx
  stc
  bsf eax, ecx
  pushfd
  pop edx
  and edx, FLAGS6
  EXPECT eax, 0xdeadbeef, 10
  EXPECT edx, 0x44, 11                    ; ZF, PF (of the zero source)
  mov ax, 0x1111
  bsr ax, cx
  EXPECT ax, 0x1111, 12
  mov ecx, 0x80000000
  bsr eax, ecx
  pushfd
  pop edx
  and edx, FLAGS6
  EXPECT eax, 31, 13
  EXPECT edx, 0x84, 14                    ; SF from the source, PF of its low byte 00
  ; ---------------------------------------------------------------- MUL flags
  mov eax, 0x10000
  mov ecx, 0x10000
  mul ecx
  pushfd
  pop ebx
  and ebx, FLAGS6
  EXPECT ebx, 0x845, 15                   ; OF CF (upper half), ZF PF from EAX = 0, AF clear
  mov al, 0x90
  mov cl, 0x01
  mul cl
  pushfd
  pop ebx
  and ebx, FLAGS6
  EXPECT ebx, 0x84, 16                    ; SF and PF from AL = 90h
  ; ---------------------------------------------------------------- counts at and beyond the width
  mov al, 0x81
  shl al, 8
  setc dl
  EXPECT al, 0, 17
  EXPECT dl, 1, 18                        ; the last bit out: bit 0
  mov al, 0x81
  mov cl, 9
  shl al, cl
  setc dl
  EXPECT dl, 0, 19
  mov ax, 0x8001
  shr ax, 17
  setc dl
  EXPECT ax, 0, 20
  EXPECT dl, 0, 21
  mov al, 0x80
  sar al, 20
  setc dl
  EXPECT al, 0xff, 22
  EXPECT dl, 1, 23
  mov al, 0x81
  rol al, 8
  pushfd
  pop ebx
  and ebx, 0x801
  EXPECT al, 0x81, 24
  EXPECT ebx, 0x001, 25                   ; CF = bit 0, OF = CF xor bit 7
  jmp pass

scratch: dd 0
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
