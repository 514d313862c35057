; Protected mode and back: a 32-bit write above 1 MiB, a return to real mode through a 16-bit code
; segment, then unreal mode (FS keeps its 4 GiB limit in real mode, DS its 64 KiB one) and a real-mode
; #GP through the IVT for an offset beyond DS's limit.
%include "common.inc"
  org LOAD
  ENTER_PM32
  mov dword [0x200000], 0x12345678
  EXPECT dword [0x200000], 0x12345678, 1
  mov eax, cr0
  and eax, 0x80000011
  EXPECT eax, 0x11, 2           ; PE and ET, no paging
  jmp SEL_CODE16:pm16
  bits 16
pm16:
  mov ax, SEL_DATA16
  mov ds, ax
  mov ss, ax
  mov es, ax
  mov eax, cr0
  and al, 0xfe
  mov cr0, eax
  jmp 0:real
real:
  xor ax, ax
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax                    ; a real-mode load keeps the 4 GiB limit cached in protected mode
  mov sp, 0x7000
  mov eax, [fs:dword 0x200000]
  EXPECT eax, 0x12345678, 3
  mov ax, cs
  EXPECT ax, 0, 4
  ; Beyond DS's 64 KiB limit: #GP, vector 13 through the IVT.
  mov word [13 * 4], gp_real
  mov word [13 * 4 + 2], 0
  mov byte [flag], 0
  mov eax, [dword 0x20000]
  mov al, 5
  jmp fail
gp_real:
  add sp, 6
  mov ax, [flag]
  EXPECT sp, 0x7000, 6
  ; IRET in real mode: flags and CS:IP come back.
  pushf
  push cs
  push word after_iret
  iret
after_iret:
  ; A far call and a far return through a real-mode segment.
  call 0x0700:(far_target - 0x7000)
  EXPECT bx, 0x55aa, 7
  jmp pass
far_target:
  mov bx, 0x55aa
  retf
flag: dw 0
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
