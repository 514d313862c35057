; CPUID reports a Pentium II (GenuineIntel, family 6, model 5) with exactly the features this CPU
; implements: each feature bit is checked against a probe that works when the bit is set and faults
; (#UD or #GP) when it is clear, and no bit is set that has no probe here.
%include "common.inc"
  org LOAD
  ENTER_PM32
  call init_idt
  mov dx, 0x8e00
  mov edi, 6
  mov eax, ud_handler
  call set_gate
  mov edi, 13
  mov eax, gp_handler
  call set_gate
  mov edi, 7
  mov eax, ud_handler                     ; #NM would mean the FPU is absent
  call set_gate

  xor eax, eax
  cpuid
  EXPECT eax, 2, 1
  EXPECT ebx, 'Genu', 2
  EXPECT edx, 'ineI', 3
  EXPECT ecx, 'ntel', 4
  mov eax, 1
  cpuid
  mov [features], edx
  mov ebx, eax
  shr ebx, 8
  and ebx, 0xf
  EXPECT ebx, 6, 5                        ; family
  mov ebx, eax
  shr ebx, 4
  and ebx, 0xf
  EXPECT ebx, 5, 6                        ; model
  EXPECT ecx, 0, 7                        ; no leaf-1 ECX features on a P6

%macro PROBE 1 ; feature bit; the probe's code follows, then ENDPROBE
  %push probe
  %assign %$bit %1
  or dword [probed], 1 << %1
  mov byte [faulted], 0
  mov dword [resume], %$after
%endmacro
%macro ENDPROBE 0
%$after:
  mov eax, [features]
  bt eax, %$bit
  setc al
  xor al, [faulted]
  EXPECT al, 1, 20 + %$bit                ; supported and no fault, or not supported and a fault
  %pop
%endmacro
%macro CR4BIT 1
  mov eax, %1
  mov cr4, eax
  xor eax, eax
  mov cr4, eax
%endmacro

  PROBE 0
  fninit
  ENDPROBE
  PROBE 1                                 ; VME
  CR4BIT 1
  ENDPROBE
  PROBE 3                                 ; PSE
  CR4BIT 0x10
  ENDPROBE
  PROBE 4                                 ; TSC
  rdtsc
  ENDPROBE
  PROBE 5                                 ; MSR
  mov ecx, 0x10
  rdmsr
  ENDPROBE
  PROBE 6                                 ; PAE
  CR4BIT 0x20
  ENDPROBE
  PROBE 7                                 ; MCE
  CR4BIT 0x40
  ENDPROBE
  PROBE 8                                 ; CX8
  cmpxchg8b [buf]
  ENDPROBE
  PROBE 9                                 ; APIC: its base MSR
  mov ecx, 0x1b
  rdmsr
  ENDPROBE
  PROBE 11                                ; SEP
  mov ecx, 0x174
  rdmsr
  ENDPROBE
  PROBE 12                                ; MTRR
  mov ecx, 0xfe
  rdmsr
  ENDPROBE
  PROBE 13                                ; PGE
  CR4BIT 0x80
  ENDPROBE
  PROBE 14                                ; MCA
  mov ecx, 0x179
  rdmsr
  ENDPROBE
  PROBE 15                                ; CMOV
  cmovz eax, ebx
  ENDPROBE
  PROBE 16                                ; PAT
  mov ecx, 0x277
  rdmsr
  ENDPROBE
  PROBE 19                                ; CLFSH
  clflush [buf]
  ENDPROBE
  PROBE 23                                ; MMX
  emms
  ENDPROBE
  PROBE 24                                ; FXSR
  fxsave [buf]
  ENDPROBE
  PROBE 25                                ; SSE
  xorps xmm0, xmm0
  ENDPROBE
  mov eax, [features]
  mov ebx, [probed]
  not ebx
  and eax, ebx
  EXPECT eax, 0, 8                        ; nothing claimed that was not probed
  jmp pass

ud_handler:
  mov byte [faulted], 1
  push eax
  mov eax, [resume]
  mov [esp + 4], eax
  pop eax
  iretd
gp_handler:
  add esp, 4
  jmp ud_handler

features: dd 0
probed: dd 0
resume: dd 0
faulted: db 0
  align 16
buf: times 512 db 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
