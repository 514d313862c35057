; PAE paging: three levels of 64-bit entries through the PDPTE registers, 4 KiB pages and 2 MiB
; pages, accessed and dirty bits in the 64-bit entries, #PF with RSVD for bit 63 (no NX on a P6) and
; bit 7 of a PTE (no PAT), a not-present PDPTE, #GP(0) for a PDPTE with reserved bits on MOV CR3
; (CR3 kept), and the PDPTE registers holding their values until CR3 is written again.
%include "common.inc"
PDPT equ 0x100000
PDPT_BAD equ 0x100100
PD0 equ 0x101000
PT0 equ 0x102000
PD1 equ 0x103000
PD1B equ 0x104000
  org LOAD
  ENTER_PM32
  call init_idt
  mov dx, 0x8e00
  mov edi, 14
  mov eax, pf_handler
  call set_gate
  mov edi, 13
  mov eax, gp_handler
  call set_gate
  ; Tables: the first 2 MiB in 4 KiB pages, 2-4 MiB as one 2 MiB page, linear 8 MiB -> physical 4 MiB.
  mov edi, PT0
  mov eax, 7
.fill:
  mov [edi], eax
  mov dword [edi + 4], 0
  add edi, 8
  add eax, 0x1000
  cmp edi, PT0 + 4096
  jne .fill
  mov dword [PT0 + 0x1f0 * 8 + 4], 0x80000000 ; XD: reserved without NX
  or dword [PT0 + 0x1f1 * 8], 0x80            ; PAT bit: reserved without PAT
  mov dword [PD0], PT0 | 7
  mov dword [PD0 + 1 * 8], 0x200000 | 0x87
  mov dword [PD0 + 4 * 8], 0x400000 | 0x87
  mov dword [PD1], 0x600000 | 0x87
  mov dword [PD1B], 0xa00000 | 0x87
  mov dword [PDPT], PD0 | 1
  mov dword [PDPT + 8], PD1 | 1
  mov dword [PDPT_BAD], PD0 | 3               ; bit 1 reserved in a PDPTE
  mov dword [0x400010], 0xcafe
  mov dword [0x600010], 0x6666
  mov dword [0xa00010], 0xaaaa
  mov eax, cr4
  or eax, 0x20                                ; PAE
  mov cr4, eax
  mov eax, PDPT
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  jmp .paged
.paged:
  EXPECT dword [0x800010], 0xcafe, 1          ; 2 MiB page
  EXPECT dword [0x40000010], 0x6666, 2        ; through PDPTE 1
  mov eax, [PD0 + 4 * 8]
  and eax, 0x60
  EXPECT eax, 0x20, 3                         ; accessed, not dirty
  mov dword [0x800014], 1
  mov eax, [PD0 + 4 * 8]
  and eax, 0x60
  EXPECT eax, 0x60, 4                         ; dirty after a write
  ; Reserved bits: #PF with P and RSVD (and W for a write) and CR2.
  mov eax, [0x1f0008]
  EXPECT dword [pf_count], 1, 5
  EXPECT dword [pf_code], 9, 6
  EXPECT dword [pf_cr2], 0x1f0008, 7
  mov eax, [0x1f1000]
  EXPECT dword [pf_count], 2, 8
  EXPECT dword [pf_code], 9, 9
  ; PDPTE 2 is not present.
  mov eax, [0x80000000]
  EXPECT dword [pf_count], 3, 10
  EXPECT dword [pf_code], 0, 11
  EXPECT dword [pf_cr2], 0x80000000, 12
  ; The PDPTEs are registers: a change in memory shows only after CR3 is written.
  mov dword [PDPT + 8], PD1B | 1
  invlpg [0x40000000]
  EXPECT dword [0x40000010], 0x6666, 13
  mov eax, PDPT
  mov cr3, eax
  EXPECT dword [0x40000010], 0xaaaa, 14
  ; A PDPTE with reserved bits: MOV CR3 is #GP(0) and CR3 stays.
  mov eax, PDPT_BAD
  mov cr3, eax
  EXPECT dword [gp_count], 1, 15
  mov eax, cr3
  EXPECT eax, PDPT, 16
  EXPECT dword [0x800010], 0xcafe, 17
  jmp pass

pf_handler:
  push eax
  inc dword [pf_count]
  mov eax, cr2
  mov [pf_cr2], eax
  mov eax, [esp + 4]
  mov [pf_code], eax
  pop eax
  add esp, 4
  add dword [esp], 5                          ; past mov eax, [moffs32]
  iretd
gp_handler:
  inc dword [gp_count]
  add esp, 4
  add dword [esp], 3                          ; past mov cr3, eax
  iretd

pf_count: dd 0
pf_code: dd 0
pf_cr2: dd 0
gp_count: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
