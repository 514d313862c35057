// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, r16 = cpu.r16, r8 = cpu.r8, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // cmpxchg_EvGv @0x10000
at = 0;
const x0 = r32[3], e0 = tlb[x0 >>> 12], p0 = (e0 & -4096) | (x0 & 4095);
const f0 = (e0 & 21) === 5 && (x0 & 3) === 0 && codePage[p0 >>> 12] === 0;
if (!f0) { ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.pwf(x0, 4, 3); }
const b = f0 ? ram32[p0 >>> 2] : cpu.readLin32(x0);
const a = r32[0], s = r32[1];
const r = (a - b) | 0;
if (f0) ram32[p0 >>> 2] = (a | 0) === (b | 0) ? s : b; else cpu.writeLin32(x0, (a | 0) === (b | 0) ? s : b);
if (!((a | 0) === (b | 0))) r32[0] = b;
fa = a; fb = b; fr = r;
if (ws !== 0 && cpu.codeEpoch !== epoch) { cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65540; return n + 1; }
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
{ // bsf_GvEv @0x1000a
at = 3;
const x1 = r32[6], e1 = tlb[x1 >>> 12];
const m = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x1, 3)));
const v = m | 0;
if (v !== 0) r32[0] = 31 - Math.clz32(v & -v);
fa = 0; fb = 0; fr = v;
}
{ // bsr_GvEv @0x1000d
const v = r16[4];
if (v !== 0) r16[2] = 31 - Math.clz32(v);
fa = 0; fb = 0; fr = v;
}
{ // set8_Eb @0x10011
r8[0] = (((fr & 32768) !== 0) ? 1 : 0);
}
{ // ret @0x10014
at = 6;
const x2 = r32[4], e2 = tlb[x2 >>> 12];
const v = (e2 & 17) === 1 && (x2 & 3) === 0 ? ram32[((e2 & -4096) | (x2 & 4095)) >>> 2] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x2, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 7; cpu.lop = 4; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 2261; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.lop = 4; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 2261; cpu.eip = 65557; return n + 7; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 3: cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.prevEip = 65546; cpu.btDone = n + 3; break;
case 6: cpu.lop = 4; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 2261; cpu.prevEip = 65556; cpu.btDone = n + 6; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
