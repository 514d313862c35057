; udp-echo: the test guest's UDP end (busybox's nc has no UDP). A static i386 Linux program, written
; as a flat file with its own ELF header so that building it needs only nasm:
;   udp-echo PORT            answers every datagram sent to PORT with the same bytes, forever
;   udp-echo PORT A.B.C.D    sends its standard input to A.B.C.D:PORT as one datagram and prints the
;                            answer; ends with status 1 if none comes within 5 seconds (SIGALRM)
; Built by scripts/build-guest.sh into the guest's /bin (nasm -f bin).

BITS 32
ORG 0x08048000

SYS_EXIT     equ 1
SYS_READ     equ 3
SYS_WRITE    equ 4
SYS_ALARM    equ 27
SYS_SOCKET   equ 359
SYS_BIND     equ 361
SYS_SENDTO   equ 369
SYS_RECVFROM equ 371
AF_INET      equ 2
SOCK_DGRAM   equ 2
BUF_SIZE     equ 65536

elf_header:
  db 0x7f, 'ELF', 1, 1, 1, 0          ; 32-bit, little-endian, ELF version 1, System V ABI
  times 8 db 0
  dw 2                                ; ET_EXEC
  dw 3                                ; EM_386
  dd 1
  dd start
  dd program_header - $$
  dd 0                                ; no section headers
  dd 0
  dw program_header - elf_header
  dw program_header_end - program_header
  dw 2
  dw 0, 0, 0

program_header:
  dd 1                                ; PT_LOAD: the whole file, then the zeroed buffers
  dd 0
  dd $$
  dd $$
  dd file_end - $$
  dd bss_end - $$
  dd 7                                ; read, write, execute
  dd 0x1000
program_header_end:
  dd 0x6474e551                       ; PT_GNU_STACK: the stack need not be executable
  dd 0, 0, 0, 0, 0
  dd 6                                ; read, write
  dd 16

start:
  cmp dword [esp], 2
  jb usage
  mov esi, [esp + 8]
  call number
  test byte [esi], 0xff               ; the port is all digits, 1-65535
  jnz usage
  test eax, eax
  jz usage
  cmp eax, 0xffff
  ja usage
  xchg al, ah                         ; network byte order
  mov [address + 2], ax
  mov word [address], AF_INET

  mov eax, SYS_SOCKET
  mov ebx, AF_INET
  mov ecx, SOCK_DGRAM
  xor edx, edx
  int 0x80
  test eax, eax
  js fail
  mov [socket], eax

  cmp dword [esp], 3
  jae send

; ---- udp-echo PORT: echo every datagram to where it came from
  mov eax, SYS_BIND
  mov ebx, [socket]
  mov ecx, address
  mov edx, 16
  int 0x80
  test eax, eax
  js fail
.next:
  mov dword [peer_length], 16
  mov eax, SYS_RECVFROM
  mov ebx, [socket]
  mov ecx, buffer
  mov edx, BUF_SIZE
  xor esi, esi
  mov edi, peer
  mov ebp, peer_length
  int 0x80
  test eax, eax
  js .next
  mov edx, eax
  mov eax, SYS_SENDTO
  mov ebx, [socket]
  mov ecx, buffer
  xor esi, esi
  mov edi, peer
  mov ebp, [peer_length]
  int 0x80
  jmp .next

; ---- udp-echo PORT A.B.C.D: one datagram out, its answer printed
send:
  mov esi, [esp + 12]
  mov edi, address + 4
  mov ecx, 4
.octet:
  push ecx
  call number
  pop ecx
  cmp eax, 255
  ja usage
  mov [edi], al
  inc edi
  mov dl, [esi]
  inc esi
  cmp ecx, 1
  je .last
  cmp dl, '.'
  jne usage
  loop .octet
.last:
  test dl, dl
  jnz usage

  xor edi, edi                        ; bytes read so far
.read:
  mov eax, SYS_READ
  xor ebx, ebx
  lea ecx, [buffer + edi]
  mov edx, BUF_SIZE
  sub edx, edi
  jz .sent
  int 0x80
  test eax, eax
  js fail
  jz .sent
  add edi, eax
  jmp .read
.sent:
  mov eax, SYS_ALARM
  mov ebx, 5
  int 0x80
  mov edx, edi
  mov eax, SYS_SENDTO
  mov ebx, [socket]
  mov ecx, buffer
  xor esi, esi
  mov edi, address
  mov ebp, 16
  int 0x80
  test eax, eax
  js fail
  mov eax, SYS_RECVFROM
  mov ebx, [socket]
  mov ecx, buffer
  mov edx, BUF_SIZE
  xor esi, esi
  xor edi, edi
  xor ebp, ebp
  int 0x80
  test eax, eax
  js fail
  mov edx, eax
  mov eax, SYS_WRITE
  mov ebx, 1
  mov ecx, buffer
  int 0x80
  xor ebx, ebx
  jmp exit

usage:
  mov ecx, usage_text
  mov edx, usage_length
  jmp complain
fail:
  mov ecx, fail_text
  mov edx, fail_length
complain:
  mov eax, SYS_WRITE
  mov ebx, 2
  int 0x80
  mov ebx, 1
exit:
  mov eax, SYS_EXIT
  int 0x80

; The decimal number at esi (0 if none), in eax; esi is left on the first other character.
number:
  xor eax, eax
.digit:
  movzx edx, byte [esi]
  sub edx, '0'
  cmp edx, 9
  ja .done
  imul eax, eax, 10
  add eax, edx
  cmp eax, 0x10000                    ; stops growing long before it could wrap
  ja .done
  inc esi
  jmp .digit
.done:
  ret

usage_text: db 'usage: udp-echo PORT [A.B.C.D]', 10
usage_length equ $ - usage_text
fail_text: db 'udp-echo: a system call failed', 10
fail_length equ $ - fail_text

file_end:

ABSOLUTE file_end
alignb 4
socket:      resd 1
peer_length: resd 1
address:     resb 16
peer:        resb 16
buffer:      resb BUF_SIZE
bss_end:
