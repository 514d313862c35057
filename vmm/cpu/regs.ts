// Register numbers, software-TLB entry bits and control-register bits (SDM vol. 3 §2.5).

export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

// Software TLB entry: physical page base in bits 12-31, rights in the low bits. A right is present
// only if the access may proceed without a page walk (for writes: the dirty bit is already set).
export const TLB_VALID = 1 << 0; // supervisor read
export const TLB_USER_READ = 1 << 1;
export const TLB_SUP_WRITE = 1 << 2;
export const TLB_USER_WRITE = 1 << 3;
/** Not plain RAM: ROM, MMIO or nothing. Accesses go through PhysicalMemory's slow path. */
export const TLB_IO = 1 << 4;
export const TLB_GLOBAL = 1 << 5;


export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_PGE = 1 << 7;

