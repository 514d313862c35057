; A tiny guest for the random-point suspend campaign (vmm/state/suspend-campaign.test.ts): a 64 KiB
; "BIOS" the PC starts at its reset vector, with no firmware of anyone else's in it. Each round it
;   1. reads 64 sectors of the primary IDE disk by bus master DMA (READ DMA through the PIIX3's
;      BMIBA, which it programs itself over PCI configuration space), polling the bus master's
;      interrupt bit, and adds the sectors into its checksum;
;   2. copies them with one REP MOVSD of 8192 dwords and fills 64 KiB with one REP STOSB (both
;      longer than a REP runs between interrupt checks, so a suspend can fall inside them);
;   3. switches the VGA to mode 13h by programming its registers, fills the 320x200 frame with one
;      REP STOSD through the VGA's memory window, reads part of it back, and switches back to text
;      mode 3, where it writes a line with REP MOVSW and reads a CRTC register back;
;   4. prints "round NN sum=XXXXXXXX" on COM1, polled through the 16550A's LSR.
; The 8254 ticks IRQ 0 underneath (its handler counts ticks, never part of the answer). The byte
; at PHASE says which of the four the guest is in, for the campaign to count where it stopped.
; At the end it prints "sum=XXXXXXXX" and powers off through the ACPI PM1a control register.
;
; Build: nasm -f bin -o campaign.bin campaign.asm  (ROUNDS can be given with -D)

%ifndef ROUNDS
%define ROUNDS 6
%endif

%define COM1 0x3f8
%define PM1A_CNT 0x604
%define BMIBA 0xc000            ; where this guest puts the IDE bus master registers
%define RAMCODE 0x8000
%define PRD 0x7e00              ; the descriptor table: one region
%define TICKS 0x7f00
%define SUM 0x7f04
%define ROUND 0x7f08
%define PHASE 0x7f10            ; 1 DMA, 2 REP strings, 3 VGA, 4 serial
%define DMABUF 0x20000          ; 32 KiB read by DMA
%define SECTORS 64

        bits 16
        org 0xf0000

rom_start:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov es, ax
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
        ; 8259A pair: master vectors 20h-27h, slave 28h-2Fh, only IRQ 0 unmasked
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
        ; PIIX3 IDE (bus 0, device 1, function 1): BMIBA, I/O and bus master enable, primary decode on
        mov eax, 0x80000920
        mov dx, 0xcf8
        out dx, eax
        mov eax, BMIBA | 1
        mov dx, 0xcfc
        out dx, eax
        mov eax, 0x80000904
        mov dx, 0xcf8
        out dx, eax
        mov ax, 0x0005
        mov dx, 0xcfc
        out dx, ax
        mov eax, 0x80000940
        mov dx, 0xcf8
        out dx, eax
        mov ax, 0x8000
        mov dx, 0xcfc
        out dx, ax
        mov dword [PRD], DMABUF
        mov dword [PRD+4], 0x80000000 | (SECTORS * 512)
        ; COM1: 8N1, FIFO on
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al
        mov dx, COM1 + 2
        mov al, 0x07
        out dx, al
        mov dword [SUM], 0x12345678
        mov dword [ROUND], 0
        sti
        mov si, msg_start
        call puts

round:
        mov byte [PHASE], 1
        call dma_read
        ; add the sectors in: sum = rol(sum, 3) + dword
        push ds
        mov ax, DMABUF >> 4
        mov ds, ax
        xor si, si
        mov cx, SECTORS * 512 / 4
        mov ebx, [es:SUM]
.add:
        lodsd
        rol ebx, 3
        add ebx, eax
        loop .add
        pop ds
        mov [SUM], ebx

        mov byte [PHASE], 2
        push ds
        push es
        mov ax, DMABUF >> 4
        mov ds, ax
        mov ax, 0x3000
        mov es, ax
        xor si, si
        xor di, di
        mov ecx, SECTORS * 512 / 4
        rep movsd
        mov ax, 0x4000
        mov es, ax
        xor di, di
        mov al, [cs:ROUND]
        add al, 0x11
        mov cx, 0xffff
        rep stosb
        mov ebx, [es:0x1234]
        mov ax, 0x3000
        mov es, ax
        add ebx, [es:0x2000]
        add ebx, [es:0x7ffc]
        pop es
        pop ds
        add [SUM], ebx

        mov byte [PHASE], 3
        mov si, mode13
        call set_mode
        push es
        mov ax, 0xa000
        mov es, ax
        xor di, di
        mov eax, [ROUND]
        imul eax, eax, 0x01030507
        mov ecx, 320 * 200 / 4
        rep stosd
        mov ebx, [es:0x1000]
        add ebx, [es:320 * 199]
        pop es
        add [SUM], ebx
        mov si, mode3
        call set_mode
        push es
        mov ax, 0xb800
        mov es, ax
        mov si, text_line
        mov di, 160 * 3
        mov cx, (text_end - text_line) / 2
        rep movsw
        mov ebx, [es:160 * 3 + 4]
        pop es
        mov dx, 0x3d4
        mov al, 0x09
        out dx, al
        inc dx
        in al, dx
        movzx eax, al
        add ebx, eax
        add [SUM], ebx

        mov byte [PHASE], 4
        mov si, msg_round
        call puts
        mov eax, [ROUND]
        mov cx, 2
        shl eax, 24
        call puthex_n
        mov si, msg_sum
        call puts
        mov eax, [SUM]
        call puthex
        mov si, msg_crlf
        call puts

        inc dword [ROUND]
        cmp dword [ROUND], ROUNDS
        jb round

        mov byte [PHASE], 0
        mov si, msg_final
        call puts
        mov eax, [SUM]
        call puthex
        mov si, msg_crlf
        call puts
        ; ACPI S5: SLP_TYP 5, SLP_EN
        mov dx, PM1A_CNT
        mov ax, (5 << 10) | (1 << 13)
        out dx, ax
        cli
        hlt

; Reads SECTORS sectors at LBA ROUND*SECTORS into DMABUF by READ DMA.
dma_read:
        mov dx, BMIBA
        xor al, al
        out dx, al                      ; BMICOM: stopped
        mov dx, BMIBA + 2
        mov al, 0x06
        out dx, al                      ; BMISTA: clear interrupt and error
        mov dx, BMIBA + 4
        mov eax, PRD
        out dx, eax
        call ata_ready
        mov dx, 0x1f6
        mov al, 0xe0                    ; LBA, master
        out dx, al
        mov dx, 0x1f2
        mov al, SECTORS
        out dx, al
        mov eax, [ROUND]
        imul eax, eax, SECTORS
        mov dx, 0x1f3
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        mov dx, 0x1f7
        mov al, 0xc8                    ; READ DMA
        out dx, al
        mov dx, BMIBA
        mov al, 0x09                    ; start, the bus master writes memory
        out dx, al
        mov dx, BMIBA + 2
.wait:
        in al, dx
        test al, 0x04
        jz .wait
        mov dx, BMIBA
        mov al, 0x08
        out dx, al                      ; stop
        mov dx, 0x1f7
        in al, dx                       ; status: acknowledges INTRQ
        test al, 0x01
        jz .ok
        mov si, msg_error
        call puts
.ok:
        ret

ata_ready:
        mov dx, 0x1f7
.busy:
        in al, dx
        test al, 0x80
        jnz .busy
        ret

; Programs the VGA from a table: misc, 5 sequencer, 25 CRTC, 9 graphics, 21 attribute registers.
set_mode:
        mov dx, 0x3c2
        lodsb
        out dx, al
        mov dx, 0x3c4
        xor ah, ah
        mov cx, 5
.seq:
        mov al, ah
        out dx, al
        inc dx
        lodsb
        out dx, al
        dec dx
        inc ah
        loop .seq
        mov dx, 0x3d4                   ; unlock CRTC 0-7 (CR11 bit 7)
        mov al, 0x11
        out dx, al
        inc dx
        in al, dx
        and al, 0x7f
        out dx, al
        dec dx
        xor ah, ah
        mov cx, 25
.crtc:
        mov al, ah
        out dx, al
        inc dx
        lodsb
        out dx, al
        dec dx
        inc ah
        loop .crtc
        mov dx, 0x3ce
        xor ah, ah
        mov cx, 9
.gc:
        mov al, ah
        out dx, al
        inc dx
        lodsb
        out dx, al
        dec dx
        inc ah
        loop .gc
        mov dx, 0x3da
        in al, dx                       ; attribute flip-flop to index
        mov dx, 0x3c0
        xor ah, ah
        mov cx, 21
.ac:
        mov al, ah
        out dx, al
        lodsb
        out dx, al
        inc ah
        loop .ac
        mov dx, 0x3da
        in al, dx
        mov dx, 0x3c0
        mov al, 0x20                    ; palette address source: the display on
        out dx, al
        ret

tick:
        inc dword [cs:TICKS]
        push ax
        mov al, 0x20
        out 0x20, al
        pop ax
        iret

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
puthex_n:
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

mode13: db 0x63
        db 0x03, 0x01, 0x0f, 0x00, 0x0e
        db 0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
        db 0x9c, 0x0e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff
        db 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff
        db 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f
        db 0x41, 0x00, 0x0f, 0x00, 0x00
mode3:  db 0x67
        db 0x03, 0x00, 0x03, 0x00, 0x02
        db 0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x50
        db 0x9c, 0x0e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff
        db 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff
        db 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f
        db 0x0c, 0x00, 0x0f, 0x08, 0x00
text_line:
        db 'c', 0x1f, 'a', 0x1f, 'm', 0x1f, 'p', 0x1f, 'a', 0x1f, 'i', 0x1f, 'g', 0x1f, 'n', 0x1f
text_end:
msg_start: db 'campaign guest', 13, 10, 0
msg_round: db 'round ', 0
msg_sum: db ' sum=', 0
msg_final: db 'sum=', 0
msg_crlf: db 13, 10, 0
msg_error: db 'E', 0
ram_end:

        section .reset start=0xffff0
        jmp 0xf000:rom_start
        times 16 - ($ - $$) db 0
