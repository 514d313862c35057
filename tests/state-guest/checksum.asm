; A tiny guest for the suspend and resume tests: a 64 KiB "BIOS" that the PC starts at its reset
; vector, with no firmware of anyone else's in it. It computes a long checksum whose answer depends
; on every part of the machine a saved state must carry:
;   - RAM above 1 MiB through fast A20 (port 92h): a lost A20 gate aliases the buffer onto low RAM;
;   - "unreal" mode: DS and ES keep 4 GiB limits in their hidden descriptor caches after the return
;     to real mode, which only a saved descriptor cache keeps;
;   - an x87 accumulator that stays in ST0 for the whole run;
;   - the 8254 and 8259 ticking (IRQ 0) underneath; the handler counts ticks, which depend on host
;     timing and so are never part of the answer, but it must not disturb the registers;
;   - COM1 output polled through the 16550A's LSR (one dot per round).
; It prints "sum=XXXXXXXX fpu=XXXXXXXX" and powers off through the ACPI PM1a control register.
;
; Build: nasm -f bin -o checksum.bin checksum.asm  (ROUNDS and WORDS can be given with -D)

%ifndef ROUNDS
%define ROUNDS 48
%endif
%ifndef WORDS
%define WORDS 0x8000            ; dwords in the buffer (128 KiB)
%endif

%define COM1 0x3f8
%define PM1A_CNT 0x604
%define BUF 0x100000            ; above 1 MiB: needs A20
%define RAMCODE 0x8000
%define TICKS 0x7f00

        bits 16
        org 0xf0000

rom_start:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov ds, ax
        mov es, ax
        ; copy the payload to RAM: the loop then runs from DRAM, not from the ROM window
        mov ax, cs
        mov ds, ax
        mov si, section..ram.start - 0xf0000
        mov di, RAMCODE
        mov cx, ram_end - ram_start
        cld
        rep movsb
        xor ax, ax
        mov ds, ax
        jmp 0:RAMCODE

        section .ram vstart=RAMCODE follows=.text
ram_start:
        ; 8259A pair: ICW1-4, master vectors 20h-27h, slave 28h-2Fh, only IRQ 0 unmasked
        mov al, 0x11
        out 0x20, al
        out 0xa0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xa1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xa1, al
        mov al, 1
        out 0x21, al
        out 0xa1, al
        mov al, 0xfe
        out 0x21, al
        mov al, 0xff
        out 0xa1, al
        ; IVT entry 20h -> tick handler
        mov word [0x20*4], tick
        mov word [0x20*4+2], 0
        mov dword [TICKS], 0
        ; 8254 channel 0, mode 2, about 1 kHz
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al
        ; fast A20
        in al, 0x92
        or al, 2
        and al, 0xfe
        out 0x92, al
        ; unreal mode: load 4 GiB data segments in protected mode, come back with them cached
        lgdt [gdt_desc]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp short .flush
.flush:
        mov bx, 8
        mov ds, bx
        mov es, bx
        and al, 0xfe
        mov cr0, eax
        xor ax, ax
        mov ds, ax
        mov es, ax
        sti

        mov si, msg_start
        call puts
        ; zero the buffer through ES's 4 GiB limit
        mov edi, BUF
        mov ecx, WORDS
        xor eax, eax
        a32 rep stosd
        finit
        fldz                            ; the accumulator lives in ST0 from here on
        mov ebx, 0x12345678             ; xorshift32 state
        xor ebp, ebp                    ; the checksum
        mov dx, ROUNDS
.round:
        mov esi, BUF
        mov ecx, WORDS
.word:
        mov eax, ebx                    ; xorshift32
        shl eax, 13
        xor ebx, eax
        mov eax, ebx
        shr eax, 17
        xor ebx, eax
        mov eax, ebx
        shl eax, 5
        xor ebx, eax
        mov eax, [esi]
        xor eax, ebx
        rol eax, 5
        add eax, ecx
        mov [esi], eax
        add ebp, eax
        rol ebp, 1
        add esi, 4
        dec ecx
        jnz .word
        mov [scratch], bp               ; the FPU adds the low half of the checksum each round
        fiadd word [scratch]
        push dx
        mov al, '.'
        call putc
        pop dx
        dec dx
        jnz .round

        fistp dword [scratch]
        mov si, msg_sum
        call puts
        mov eax, ebp
        call puthex
        mov si, msg_fpu
        call puts
        mov eax, [scratch]
        call puthex
        mov si, msg_end
        call puts
        cli
        ; ACPI S5: SLP_TYP 5, SLP_EN
        mov dx, PM1A_CNT
        mov ax, (5 << 10) | (1 << 13)
        out dx, ax
.hang:
        hlt
        jmp .hang

tick:
        inc dword [cs:TICKS]
        push ax
        mov al, 0x20
        out 0x20, al
        pop ax
        iret

; al -> COM1, waiting for THRE
putc:
        push dx
        push ax
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20
        jz .wait
        pop ax
        mov dx, COM1
        out dx, al
        pop dx
        ret

puts:
        lodsb
        test al, al
        jz .done
        call putc
        jmp puts
.done:
        ret

puthex:
        mov cx, 8
.digit:
        rol eax, 4
        push eax
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'a' - '9' - 1
.out:
        call putc
        pop eax
        dec cx
        jnz .digit
        ret

msg_start: db 'checksum guest', 13, 10, 0
msg_sum: db 13, 10, 'sum=', 0
msg_fpu: db ' fpu=', 0
msg_end: db 13, 10, 0
scratch: dd 0
        align 8
gdt:    dq 0
        dq 0x00cf92000000ffff           ; flat 4 GiB data
gdt_desc:
        dw gdt_desc - gdt - 1
        dd gdt
ram_end:

        section .reset start=0xffff0
        jmp 0xf000:rom_start
        times 16 - ($ - $$) db 0
