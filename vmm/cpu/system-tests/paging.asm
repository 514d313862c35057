; Paging: the first 4 MiB identity-mapped with 4 KiB pages, linear 8 MiB mapped by a 4 MiB page to
; physical 4 MiB (CR4.PSE), a #PF on a not-present page (CR2, error code, retry after the handler
; maps it), CR0.WP turning a supervisor write to a read-only page into #PF, and a global page
; (CR4.PGE) whose stale translation survives a CR3 write while an ordinary one is dropped.
%include "common.inc"
PD equ 0x100000
PT equ 0x101000
  org LOAD
  ENTER_PM32
  call init_idt
  mov edi, 14
  mov eax, pf_handler
  mov dx, 0x8e00
  call set_gate
  ; Page table: identity, supervisor+user, writable.
  mov edi, PT
  mov eax, 0x7
.fill:
  mov [edi], eax
  add edi, 4
  add eax, 0x1000
  cmp edi, PT + 4096
  jne .fill
  mov dword [PD], PT | 7
  mov dword [PD + 8], 0x400000 | 0x87     ; linear 8 MiB: 4 MiB page at physical 4 MiB
  mov dword [PT + 0x300 * 4], 0           ; 0x300000 not present
  mov dword [PT + 0x301 * 4], 0x301000 | 5 ; 0x301000 read-only
  mov dword [PT + 0x302 * 4], 0x302000 | 0x107 ; global
  mov dword [0x400010], 0xcafe
  mov dword [0x302000], 0xaaaa
  mov dword [0x303000], 0xbbbb
  mov dword [0x304000], 0xcccc
  mov dword [0x305000], 0xdddd
  mov eax, cr4
  or eax, 0x90                            ; PSE, PGE
  mov cr4, eax
  mov eax, PD
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  jmp .paged
.paged:
  EXPECT dword [0x800010], 0xcafe, 1
  ; Not present: the handler records CR2 and the code, maps the page, and the read is retried.
  mov dword [pf_count], 0
  mov eax, [0x300123]
  EXPECT dword [pf_count], 1, 2
  EXPECT dword [pf_cr2], 0x300123, 3
  EXPECT dword [pf_code], 0, 4
  ; CR0.WP clear: the supervisor may write a read-only page.
  mov dword [0x301000], 1
  EXPECT dword [pf_count], 1, 5
  mov eax, cr0
  or eax, 0x10000
  mov cr0, eax
  mov dword [0x301004], 2
  EXPECT dword [pf_count], 2, 6
  EXPECT dword [pf_cr2], 0x301004, 7
  EXPECT dword [pf_code], 3, 8            ; present, write, supervisor
  EXPECT dword [0x301004], 2, 9
  ; Global pages survive a CR3 write; others do not.
  mov dword [PT + 0x304 * 4], 0x304000 | 7
  EXPECT dword [0x302000], 0xaaaa, 10     ; load both translations
  EXPECT dword [0x304000], 0xcccc, 11
  mov dword [PT + 0x302 * 4], 0x303000 | 0x107
  mov dword [PT + 0x304 * 4], 0x305000 | 7
  mov eax, cr3
  mov cr3, eax
  EXPECT dword [0x302000], 0xaaaa, 12     ; stale global translation
  EXPECT dword [0x304000], 0xdddd, 13
  invlpg [0x302000]
  EXPECT dword [0x302000], 0xbbbb, 14
  jmp pass

pf_handler:
  push eax
  inc dword [pf_count]
  mov eax, cr2
  mov [pf_cr2], eax
  mov eax, [esp + 4]
  mov [pf_code], eax
  mov eax, cr2
  shr eax, 12
  or dword [PT + eax * 4], 3              ; present and writable
  invlpg [0x300000]
  invlpg [0x301000]
  pop eax
  add esp, 4
  iretd

pf_count: dd 0
pf_cr2: dd 0
pf_code: dd 0
IDT_CODE
COMMON_CODE
  align 8
STD_GDT 0x67
gdtr:
  dw 8 * 8 - 1
  dd gdt
tss0: times 0x68 db 0
