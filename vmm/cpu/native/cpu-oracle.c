/*
 * The host CPU as an oracle for the interpreter's integer instructions (32-bit user mode).
 * Protocol on stdin, one case per line:
 *   <code hex> <eax> <ecx> <edx> <ebx> <ebp> <esi> <edi> <eflags> <buffer hex (256 bytes)>
 * Registers in hex. The first output line is "BUF <address>": the buffer's address, which EBX/ESI/
 * EDI-relative code in the cases points into. For each case it prints
 *   OK <eax> <ecx> <edx> <ebx> <ebp> <esi> <edi> <eflags> <buffer hex>
 * or "FAULT <signal>" when the code raised SIGFPE/SIGSEGV/SIGILL/SIGBUS.
 * The code runs between a prologue that loads the registers and flags and an epilogue that stores
 * them, in an executable page; ESP stays the host's own stack (cases never touch ESP).
 *
 * Built with -m32 it runs the code as it is. Some hosts cannot run 32-bit programs at all (a kernel
 * with IA-32 emulation switched off, which also takes away the 32-bit user code segment), so the same
 * source also builds with -m64 and runs each case in 64-bit mode, re-encoded to mean the same there:
 * an address-size prefix (0x67) makes every memory operand, string instruction and moffs use 32-bit
 * addresses and ECX/ESI/EDI, as in 32-bit mode; INC/DEC r32 (40-4F, REX prefixes in 64-bit mode)
 * become FF /0 and FF /1. No REX is ever emitted, so byte registers 4-7 stay AH..BH. The opcodes
 * 64-bit mode does not have (the BCD adjusts, SALC) answer "SKIP" instead of a result.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct regs { uint32_t eax, ecx, edx, ebx, ebp, esi, edi, eflags; };
static struct regs in, out;
#ifdef __x86_64__
static uint64_t flags_in64, flags_out64;
#else
static uint32_t saved_esp;
#endif
static uint8_t buf[256] __attribute__((aligned(64)));
static sigjmp_buf jb;
static unsigned char *page;

static void on_signal(int sig) { siglongjmp(jb, sig); }

static unsigned char *emit32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); return p + 4; }
#ifndef __x86_64__
static unsigned char *emit_abs(unsigned char *p, int n, const unsigned char *op, void *addr) {
  memcpy(p, op, n); return emit32(p + n, (uint32_t)(uintptr_t)addr);
}
#endif

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
static int parse_hex(const char *s, unsigned char *dst, int max) {
  int n = 0;
  while (s[0] && s[1] && n < max) { dst[n++] = (unsigned char)(hexval(s[0]) << 4 | hexval(s[1])); s += 2; }
  return n;
}

#ifdef __x86_64__
/* mov r32, [abs32] / mov [abs32], r32 through a SIB byte with no base: A1/A3 take 8-byte offsets here. */
static unsigned char *emit_mov_abs(unsigned char *p, unsigned char op, int reg, void *addr) {
  *p++ = op; *p++ = (unsigned char)(0x04 | reg << 3); *p++ = 0x25;
  return emit32(p, (uint32_t)(uintptr_t)addr);
}

static int is_legacy_prefix(unsigned char b) {
  return b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 || b == 0xf0 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65;
}

/* The 32-bit code `in` re-encoded for 64-bit mode into `out`; its length, or -1 if it has no equivalent. */
static int to_long_mode(const unsigned char *in, int n, unsigned char *out) {
  int k = 0, m = 0;
  out[m++] = 0x67;
  while (k < n && is_legacy_prefix(in[k])) {
    if (in[k] == 0x67) return -1; /* 16-bit addressing does not exist in 64-bit mode */
    out[m++] = in[k++];
  }
  if (k >= n) return -1;
  unsigned char op = in[k];
  if (op == 0x27 || op == 0x2f || op == 0x37 || op == 0x3f || op == 0xd4 || op == 0xd5 || op == 0xd6 || op == 0x82 ||
      op == 0x60 || op == 0x61 || op == 0x62 || op == 0xce)
    return -1;
  if (op >= 0x40 && op <= 0x4f) {
    out[m++] = 0xff;
    out[m++] = (unsigned char)(0xc0 | (op & 0x0f));
    k++;
  }
  while (k < n) out[m++] = in[k++];
  return m;
}
#endif

int main(void) {
  page = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) { perror("mmap"); return 1; }
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_signal; sa.sa_flags = SA_NODEFER;
  sigaction(SIGFPE, &sa, NULL); sigaction(SIGSEGV, &sa, NULL); sigaction(SIGILL, &sa, NULL); sigaction(SIGBUS, &sa, NULL);
  printf("BUF %08x\n", (uint32_t)(uintptr_t)buf);
  fflush(stdout);
  static char line[16384];
  static unsigned char code[512];
  while (fgets(line, sizeof line, stdin)) {
    char codehex[1100], bufhex[600];
    if (sscanf(line, "%1099s %x %x %x %x %x %x %x %x %599s", codehex, &in.eax, &in.ecx, &in.edx, &in.ebx, &in.ebp, &in.esi, &in.edi, &in.eflags, bufhex) != 10) {
      printf("BAD\n"); fflush(stdout); continue;
    }
    int n = parse_hex(codehex, code, sizeof code);
    parse_hex(bufhex, buf, sizeof buf);
    unsigned char *p = page;
#ifdef __x86_64__
    static unsigned char code64[520];
    int n64 = to_long_mode(code, n, code64);
    if (n64 < 0) { printf("SKIP\n"); fflush(stdout); continue; }
    flags_in64 = in.eflags;
    *p++ = 0x53; *p++ = 0x55;                                           /* push rbx; push rbp */
    *p++ = 0xff; *p++ = 0x34; *p++ = 0x25; p = emit32(p, (uint32_t)(uintptr_t)&flags_in64); /* push qword [flags_in64] */
    *p++ = 0x9d;                                                        /* popfq */
    uint32_t *load[] = { &in.eax, &in.ecx, &in.edx, &in.ebx, 0, &in.ebp, &in.esi, &in.edi };
    uint32_t *store[] = { &out.eax, &out.ecx, &out.edx, &out.ebx, 0, &out.ebp, &out.esi, &out.edi };
    for (int r = 0; r < 8; r++) if (load[r]) p = emit_mov_abs(p, 0x8b, r, load[r]);
    memcpy(p, code64, n64); p += n64;
    for (int r = 0; r < 8; r++) if (store[r]) p = emit_mov_abs(p, 0x89, r, store[r]);
    *p++ = 0x9c;                                                        /* pushfq */
    *p++ = 0x8f; *p++ = 0x04; *p++ = 0x25; p = emit32(p, (uint32_t)(uintptr_t)&flags_out64); /* pop qword [flags_out64] */
    *p++ = 0x5d; *p++ = 0x5b;                                           /* pop rbp; pop rbx */
    *p++ = 0xc3;                                                        /* ret */
#else
    *p++ = 0x60;                                                        /* pushad */
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x25", &saved_esp);  /* mov [saved_esp], esp */
    p = emit_abs(p, 2, (const unsigned char *)"\xff\x35", &in.eflags);  /* push dword [in.eflags] */
    *p++ = 0x9d;                                                        /* popfd */
    p = emit_abs(p, 1, (const unsigned char *)"\xa1", &in.eax);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x0d", &in.ecx);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x15", &in.edx);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x1d", &in.ebx);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x2d", &in.ebp);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x35", &in.esi);
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x3d", &in.edi);
    memcpy(p, code, n); p += n;
    p = emit_abs(p, 1, (const unsigned char *)"\xa3", &out.eax);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x0d", &out.ecx);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x15", &out.edx);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x1d", &out.ebx);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x2d", &out.ebp);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x35", &out.esi);
    p = emit_abs(p, 2, (const unsigned char *)"\x89\x3d", &out.edi);
    *p++ = 0x9c;                                                        /* pushfd */
    p = emit_abs(p, 2, (const unsigned char *)"\x8f\x05", &out.eflags); /* pop dword [out.eflags] */
    p = emit_abs(p, 2, (const unsigned char *)"\x8b\x25", &saved_esp); /* mov esp, [saved_esp] */
    *p++ = 0x61;                                                        /* popad */
    *p++ = 0xc3;                                                        /* ret */
#endif
    __builtin___clear_cache((char *)page, (char *)p);
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
      ((void (*)(void))page)();
#ifdef __x86_64__
      out.eflags = (uint32_t)flags_out64;
#endif
      printf("OK %08x %08x %08x %08x %08x %08x %08x %08x ", out.eax, out.ecx, out.edx, out.ebx, out.ebp, out.esi, out.edi, out.eflags);
      for (int i = 0; i < 256; i++) printf("%02x", buf[i]);
      printf("\n");
    } else {
      printf("FAULT %d\n", sig);
    }
    fflush(stdout);
  }
  return 0;
}
