/*
 * fpu-oracle: runs one x87 instruction on the host's own FPU, for the differential test of
 * vmm/cpu/fpu.ts. Built at test time with `gcc -m32 -O1`.
 *
 * Each stdin line: "ESC MODRM FLAGS IMAGE MEM"
 *   ESC, MODRM  hex bytes of the instruction (memory forms must use mod=00 rm=000, i.e. [EAX])
 *   FLAGS       hex EFLAGS value loaded (POPFD) just before the instruction, for FCMOVcc
 *   IMAGE       216 hex digits: a 108-byte FSAVE image (32-bit protected-mode layout) given to FRSTOR
 *   MEM         64 hex digits: the 32-byte memory operand EAX points at
 * Each stdout line: "FLAGS IMAGE MEM" after the instruction, the image taken with FNSAVE (which does
 * not wait, so an unmasked exception the instruction raised stays visible instead of trapping), or
 * "TRAP" when the instruction itself faulted (#MF from a pending exception, or any other signal).
 *
 * The instruction runs from a small stub assembled into an executable page, so every encoding,
 * including the undocumented aliases, can be tried without an assembler mnemonic for it.
 *
 * Hosts that cannot run 32-bit programs get the same oracle built with -m64 -no-pie: the x87 is the
 * same unit in 64-bit mode, FRSTOR and FNSAVE without REX.W use the 32-bit protected-mode image, and
 * only the instruction and data pointers' selectors differ, which the test does not compare. Every
 * address the stub names is then a static below 4 GiB, reached through SIB absolute forms.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static uint8_t image[108] __attribute__((aligned(16)));
static uint8_t mem[32] __attribute__((aligned(16)));
#ifdef __x86_64__
static uint64_t flags_in, flags_out;
#else
static uint32_t flags_in, flags_out;
#endif
static sigjmp_buf trap_jmp;

static void on_trap(int sig) {
  (void)sig;
  siglongjmp(trap_jmp, 1);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_bytes(const char *s, uint8_t *out, int n) {
  for (int i = 0; i < n; i++) {
    int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
    if (h < 0 || l < 0) return -1;
    out[i] = (uint8_t)(h << 4 | l);
  }
  return 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

int main(void) {
  uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_trap;
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGILL, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);

  static char line[1024];
  while (fgets(line, sizeof line, stdin)) {
    unsigned esc, modrm;
    char img_hex[256], mem_hex[80];
    unsigned flags_hex;
    if (sscanf(line, "%x %x %x %255s %79s", &esc, &modrm, &flags_hex, img_hex, mem_hex) != 5 ||
        strlen(img_hex) != 216 || strlen(mem_hex) != 64 || parse_bytes(img_hex, image, 108) ||
        parse_bytes(mem_hex, mem, 32)) {
      printf("BADINPUT\n");
      fflush(stdout);
      continue;
    }
    flags_in = flags_hex;
    uint8_t *p = code;
#ifdef __x86_64__
    *p++ = 0xFF; *p++ = 0x34; *p++ = 0x25; put32(p, (uint32_t)(uintptr_t)&flags_in); p += 4; /* push qword [flags_in] */
    *p++ = 0x9D;                                                                          /* popfq */
    *p++ = 0xDD; *p++ = 0x24; *p++ = 0x25; put32(p, (uint32_t)(uintptr_t)image); p += 4;   /* frstor [image] */
    *p++ = 0xB8; put32(p, (uint32_t)(uintptr_t)mem); p += 4;                              /* mov eax, mem (zero-extends) */
    *p++ = (uint8_t)esc; *p++ = (uint8_t)modrm;                                           /* the instruction, on [rax] */
    *p++ = 0x9C;                                                                          /* pushfq */
    *p++ = 0x8F; *p++ = 0x04; *p++ = 0x25; put32(p, (uint32_t)(uintptr_t)&flags_out); p += 4; /* pop qword [flags_out] */
    *p++ = 0xDD; *p++ = 0x34; *p++ = 0x25; put32(p, (uint32_t)(uintptr_t)image); p += 4;   /* fnsave [image] */
    *p++ = 0xC3;                                                                          /* ret */
#else
    *p++ = 0xFF; *p++ = 0x35; put32(p, (uint32_t)(uintptr_t)&flags_in); p += 4; /* push [flags_in] */
    *p++ = 0x9D;                                                               /* popfd */
    *p++ = 0xDD; *p++ = 0x25; put32(p, (uint32_t)(uintptr_t)image); p += 4;     /* frstor [image] */
    *p++ = 0xB8; put32(p, (uint32_t)(uintptr_t)mem); p += 4;                    /* mov eax, mem */
    *p++ = (uint8_t)esc; *p++ = (uint8_t)modrm;                                 /* the instruction */
    *p++ = 0x9C;                                                               /* pushfd */
    *p++ = 0x8F; *p++ = 0x05; put32(p, (uint32_t)(uintptr_t)&flags_out); p += 4; /* pop [flags_out] */
    *p++ = 0xDD; *p++ = 0x35; put32(p, (uint32_t)(uintptr_t)image); p += 4;     /* fnsave [image] */
    *p++ = 0xC3;                                                               /* ret */
#endif

    if (sigsetjmp(trap_jmp, 1)) {
      __asm__ volatile("fninit");
      printf("TRAP\n");
      fflush(stdout);
      continue;
    }
#ifdef __x86_64__
    __asm__ volatile("call *%0" : : "r"(code) : "rax", "memory", "cc");
#else
    __asm__ volatile("call *%0" : : "r"(code) : "eax", "memory", "cc");
#endif
    printf("%08x ", (uint32_t)flags_out);
    for (int i = 0; i < 108; i++) printf("%02x", image[i]);
    putchar(' ');
    for (int i = 0; i < 32; i++) printf("%02x", mem[i]);
    putchar('\n');
  }
  return 0;
}
