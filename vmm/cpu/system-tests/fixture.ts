// Descriptor tables for CPU tests that start in protected mode without a guest program: a GDT with
// every kind of descriptor the protection code distinguishes, an LDT, an IDT, two 32-bit TSSs and a
// 16-bit one, at fixed addresses in low memory. Used by fuzz.test.ts and protection.test.ts.

import type { Box } from './box.ts';

export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS_A = 0x3000;
export const TSS_B = 0x3200;
export const TSS_C = 0x3400;
export const LDT = 0x4000;
export const HANDLER = 0x9000;
export const CODE = 0x10000;
export const PD = 0x100000;
export const PT = 0x101000;

export function seg(base: number, limit: number, access: number, flags: number): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = (base & 0xff000000) | ((flags & 0xf) << 20) | (limit & 0xf0000) | ((access & 0xff) << 8) | ((base >>> 16) & 0xff);
  return [lo | 0, hi | 0];
}
export function gate(sel: number, off: number, access: number, count: number): [number, number] {
  return [((sel & 0xffff) << 16) | (off & 0xffff), (off & 0xffff0000) | ((access & 0xff) << 8) | (count & 0x1f)];
}

export const GDT_ENTRIES: [number, number][] = [
  [0, 0],
  seg(0, 0xfffff, 0x9a, 0xc), // 08 code32 r0
  seg(0, 0xfffff, 0x92, 0xc), // 10 data32 r0
  seg(0, 0xfffff, 0xfa, 0xc), // 18 code32 r3
  seg(0, 0xfffff, 0xf2, 0xc), // 20 data32 r3
  seg(CODE, 0xffff, 0x9a, 0x0), // 28 code16 r0 at CODE
  seg(0, 0xffff, 0x92, 0x0), // 30 data16 r0
  seg(TSS_A, 0x87, 0x8b, 0), // 38 TSS A, busy (current)
  seg(TSS_B, 0x67, 0x89, 0), // 40 TSS B, available
  seg(TSS_C, 0x2b, 0x81, 0), // 48 16-bit TSS C, available
  gate(0x08, HANDLER, 0xec, 2), // 50 call gate 32, DPL 3
  gate(0x28, 0, 0xe4, 1), // 58 call gate 16, DPL 3
  gate(0x40, 0, 0xe5, 0), // 60 task gate, DPL 3
  seg(LDT, 0x17, 0x82, 0), // 68 LDT
  seg(0, 0xfffff, 0x9e, 0xc), // 70 conforming code32 r0
  seg(0, 0xfffff, 0x12, 0xc), // 78 data, not present
  seg(0, 0xfff, 0xf6, 0x4), // 80 expand-down data r3
  seg(0, 0xfffff, 0xba, 0xc), // 88 code32 r1
  seg(0, 0xfffff, 0xb2, 0xc), // 90 data32 r1
  seg(CODE, 0xffff, 0xfa, 0x0), // 98 code16 r3 at CODE
  seg(0, 0xfffff, 0x90, 0xc), // a0 read-only data r0
  seg(0, 0xfffff, 0x98, 0xc), // a8 execute-only code r0
  seg(0x300000, 0xfff, 0xf2, 0x0), // b0 small data r3 high up
  seg(0, 0xfffff, 0xfe, 0xc), // b8 conforming code32 r3
];
export const LDT_ENTRIES: [number, number][] = [
  seg(0, 0xfffff, 0xfa, 0xc), // 04 (07) code32 r3
  seg(0, 0xfffff, 0xf2, 0xc), // 0c (0f) data32 r3
  seg(0, 0xfffff, 0x92, 0xc), // 14 data32 r0
];
export const SELECTORS = [
  0, 0x08, 0x10, 0x1b, 0x23, 0x28, 0x30, 0x38, 0x40, 0x48, 0x53, 0x5b, 0x63, 0x68, 0x70, 0x78, 0x83, 0x89, 0x91, 0x9b, 0xa0,
  0xa8, 0xb3, 0xbb, 0x07, 0x0f, 0x14, 0x18, 0x20, 0x0b, 0x13, 0x1000, 0xffff,
];

export function write32(box: Box, addr: number, v: number): void {
  box.mem.i32[addr >>> 2] = v;
}
export function write16(box: Box, addr: number, v: number): void {
  box.mem.u16[addr >>> 1] = v;
}

