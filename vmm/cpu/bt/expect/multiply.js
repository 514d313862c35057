// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, r8 = cpu.r8, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // imul_GvEv @0x10000
at = 0;
const x0 = ((r32[6] + (4)) | 0), e0 = tlb[x0 >>> 12];
const m = (e0 & 17) === 1 && (x0 & 3) === 0 ? ram32[((e0 & -4096) | (x0 & 4095)) >>> 2] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x0, 3)));
const a = r32[0], b = m; const lo = Math.imul(a, b);
fr = lo; fc = (a | 0) * (b | 0) !== lo ? 1 : 0; fb = fc;
r32[0] = lo;
}
{ // mul_Ev @0x10004
const a = r32[0], b = r32[1]; const ua = a >>> 0; const ub = b >>> 0; const p1 = (ua & 65535) * ub; const p2 = (ua >>> 16) * ub; const lo = Math.imul(ua, ub); const hi = (Math.floor(p2 / 65536) + Math.floor((p1 + (p2 % 65536) * 65536) / 4294967296)) | 0;
r32[0] = lo; r32[2] = hi;
fr = lo; fc = hi !== 0 ? 1 : 0; fb = fc;
}
{ // neg_Ev @0x10006
const a = r32[2];
const r = (-a) | 0;
r32[2] = r;
fa = 0; fb = a; fr = r;
}
{ // set2_Eb @0x10008
r8[0] = (((fa >>> 0) < (fb >>> 0)) ? 1 : 0);
}
{ // ret @0x1000b
at = 4;
const x1 = r32[4], e1 = tlb[x1 >>> 12];
const v = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x1, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 5; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65548; return n + 5; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 4: cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.prevEip = 65547; cpu.btDone = n + 4; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
