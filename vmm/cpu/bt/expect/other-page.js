// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b2: { b1: { b0: { switch (pc) {
case 65536: break b0;
case 65541: break b1;
case 69632: break b2;
default: cpu.eip = pc; return n;
}
} // b0
{ // call_Jz @0x10000
at = 0;
const sp = (r32[4] - 4) | 0;
const x0 = sp, e0 = tlb[x0 >>> 12], p0 = (e0 & -4096) | (x0 & 4095);
if ((e0 & 20) === 4 && (x0 & 3) === 0 && codePage[p0 >>> 12] === 0) ram32[p0 >>> 2] = 65541; else { ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x0, 65541, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 69632; return n + 1; }
{ n += 1;  break b2; }
}
{ n += 1;  break b1; }
} // b1
{ // ret @0x10005
at = 3;
const x1 = r32[4], e1 = tlb[x1 >>> 12];
const v = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x1, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 1;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65542; return n + 1; }
} // b2
if ((tlb[17] & -4079) !== 69633) { cpu.eip = 69632; return n; }
{ // add_EvIb @0x11000
const a = r32[0], b = 1;
const r = (a + b) | 0;
r32[0] = r;
fa = a; fb = b; fr = r;
}
{ // ret @0x11003
at = 2;
const x2 = r32[4], e2 = tlb[x2 >>> 12];
const v = (e2 & 17) === 1 && (x2 & 3) === 0 ? ram32[((e2 & -4096) | (x2 & 4095)) >>> 2] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x2, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 2; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 69636; return n + 2; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 3:  cpu.prevEip = 65541; cpu.btDone = n + 0; break;
case 2: cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.prevEip = 69635; cpu.btDone = n + 1; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
