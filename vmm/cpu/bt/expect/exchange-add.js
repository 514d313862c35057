// block at eip 0x10000, key 0x4fd
const slow = SLOW;
return function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip;
try { for (;;) { switch (pc) {
case 65536: {
{ // cmpxchg_EvGv @0x10000
at = 0;
const x0 = r32[3], e0 = tlb[x0 >>> 12], p0 = (e0 & -4096) | (x0 & 4095);
const f0 = (e0 & 21) === 5 && (x0 & 3) === 0 && codePage[p0 >>> 12] === 0;
if (!f0) { ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.pwf(x0, 4, 3); }
const b = f0 ? ram32[p0 >>> 2] : cpu.readLin32(x0);
const a = r32[0], s = r32[1];
const r = (a - b) | 0;
if (f0) ram32[p0 >>> 2] = (a | 0) === (b | 0) ? s : b; else cpu.writeLin32(x0, (a | 0) === (b | 0) ? s : b);
if (!((a | 0) === (b | 0))) r32[0] = b;
fa = a; fb = b; fr = r;
if (cpu.codeEpoch !== epoch) { cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65540; return n + 1; }
}
{ // xadd_EvGv @0x10004
const a = r32[0], b = r32[2];
const r = (a + b) | 0;
r32[2] = a; r32[0] = r;
fa = a; fb = b; fr = r;
}
{ // cmpxchg_EvGv @0x10007
const a = r32[0], b = r32[6], s = r32[7];
const r = (a - b) | 0;
if ((a | 0) === (b | 0)) r32[6] = s; else r32[0] = b;
fa = a; fb = b; fr = r;
}
{ // ret @0x1000a
at = 3;
const x1 = r32[4], e1 = tlb[x1 >>> 12];
const v = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.rf32(x1, 2));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 4; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65547; return n + 4; }
}
default: cpu.eip = pc; return n;
} } } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 3: cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.prevEip = 65546; cpu.btDone = n + 3; break;
}
throw e; }
};
