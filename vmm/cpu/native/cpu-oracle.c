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
static uint32_t saved_esp;
static uint8_t buf[256] __attribute__((aligned(64)));
static sigjmp_buf jb;
static unsigned char *page;

static void on_signal(int sig) { siglongjmp(jb, sig); }

static unsigned char *emit32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); return p + 4; }
static unsigned char *emit_abs(unsigned char *p, int n, const unsigned char *op, void *addr) {
  memcpy(p, op, n); return emit32(p + n, (uint32_t)(uintptr_t)addr);
}

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
static int parse_hex(const char *s, unsigned char *dst, int max) {
  int n = 0;
  while (s[0] && s[1] && n < max) { dst[n++] = (unsigned char)(hexval(s[0]) << 4 | hexval(s[1])); s += 2; }
  return n;
}

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
    __builtin___clear_cache((char *)page, (char *)p);
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
      ((void (*)(void))page)();
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
