; The local APIC as a guest meets it (run with the board's APIC attached, see system.test.ts): enabled
; from reset, with CPUID's flag; a global disable through IA32_APIC_BASE that takes the window and the
; flag away, and back; a self-IPI taken through the IDT, held back by TPR and let through when TPR
; drops; the timer waking HLT, one-shot and periodic; EOI; reserved MSR bits #GP.
%include "common.inc"
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 13
  mov eax, gp_handler
  mov dx, 0x8e00
  call set_gate
  mov edi, 0x40
  mov eax, timer_handler
  call set_gate
  mov edi, 0x41
  mov eax, ipi_handler
  call set_gate

APIC equ 0xfee00000
  mov eax, 1
  cpuid
  test edx, 1 << 9
  setz bl
  EXPECT bl, 0, 1                            ; enabled from reset: CPUID says so
  mov ecx, 0x1b
  rdmsr
  EXPECT eax, 0xfee00900, 2                  ; default base, BSP, enabled
  EXPECT edx, 0, 3
  EXPECT dword [APIC + 0x30], 0x00040014, 4
  ; Global disable: the window and the CPUID flag go.
  mov eax, 0xfee00100
  wrmsr
  EXPECT dword [APIC + 0x30], 0xffffffff, 5
  mov eax, 1
  cpuid
  test edx, 1 << 9
  setz bl
  EXPECT bl, 1, 6
  ; And back, with the registers at their power-up values.
  mov ecx, 0x1b
  mov eax, 0xfee00900
  xor edx, edx
  wrmsr
  EXPECT dword [APIC + 0x30], 0x00040014, 7
  EXPECT dword [APIC + 0x320], 0x10000, 8    ; LVT timer masked
  mov dword [APIC + 0xf0], 0x1ff             ; software enable, spurious vector FFh

  ; A self-IPI (shorthand self, fixed, vector 41h), taken once interrupts are on.
  mov dword [APIC + 0x300], (1 << 18) | 0x41
  EXPECT dword [ipi_count], 0, 9
  sti
  nop
  cli
  EXPECT dword [ipi_count], 1, 10
  ; TPR class 5 holds back class 4 until it drops.
  mov dword [APIC + 0x80], 0x50
  mov dword [APIC + 0x300], (1 << 18) | 0x41
  sti
  nop
  nop
  cli
  EXPECT dword [ipi_count], 1, 11
  mov dword [APIC + 0x80], 0
  sti
  nop
  cli
  EXPECT dword [ipi_count], 2, 12
  EXPECT dword [APIC + 0x100 + 0x40], 0, 13  ; nothing left in service

  ; One-shot timer: divide by 1, 1000 ticks, wakes HLT.
  mov dword [APIC + 0x3e0], 0xb
  mov dword [APIC + 0x320], 0x40
  mov dword [APIC + 0x380], 1000
  sti
  hlt
  cli
  EXPECT dword [timer_count], 1, 14
  EXPECT dword [APIC + 0x390], 0, 15
  ; Periodic: four more wake-ups, then stopped.
  mov dword [APIC + 0x320], 0x20040
  mov dword [APIC + 0x380], 5000
.wait:
  sti
  hlt
  cli
  cmp dword [timer_count], 5
  jb .wait
  mov dword [APIC + 0x380], 0
  EXPECT dword [APIC + 0x390], 0, 16

  ; Reserved bits of IA32_APIC_BASE: #GP, the MSR unchanged.
  mov ecx, 0x1b
  mov eax, 0xfee00901
  xor edx, edx
  wrmsr
  EXPECT dword [gp_count], 1, 17
  rdmsr
  EXPECT eax, 0xfee00900, 18
  jmp pass

timer_handler:
  inc dword [timer_count]
  mov dword [APIC + 0xb0], 0
  iretd
ipi_handler:
  inc dword [ipi_count]
  mov dword [APIC + 0xb0], 0
  iretd
gp_handler:
  inc dword [gp_count]
  add dword [esp + 4], 2
  add esp, 4
  iretd

timer_count: dd 0
ipi_count: dd 0
gp_count: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
