// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b2: { b1: { b0: { switch (pc) {
case 65536: break b0;
case 65544: break b1;
case 65546: break b2;
default: cpu.eip = pc; return n;
}
} // b0
{ // mov_GvEv @0x10000
at = 0;
const x0 = ((r32[6] + (8)) | 0), e0 = tlb[x0 >>> 12];
const m = (e0 & 17) === 1 && (x0 & 3) === 0 ? ram32[((e0 & -4096) | (x0 & 4095)) >>> 2] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x0, 3)));
r32[0] = m;
}
{ // cmp_GvEv @0x10003
at = 1;
const x1 = ((r32[7] + (4)) | 0), e1 = tlb[x1 >>> 12];
const b = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x1, 3)));
const a = r32[0];
const r = (a - b) | 0;
fa = a; fb = b; fr = r;
}
{ // jb_Jb @0x10006
if (((fa >>> 0) < (fb >>> 0))) { n += 3; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; break b2; }
{ n += 3; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; break b1; }
}
{ n += 3; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; break b1; }
} // b1
{ // jle_Jb @0x10008
if (cpu.cond(14)) { n += 1;  break b2; }
{ n += 1;  break b2; }
}
{ n += 1;  break b2; }
} // b2
{ // ret @0x1000a
at = 3;
const x2 = r32[4], e2 = tlb[x2 >>> 12];
const v = (e2 & 17) === 1 && (x2 & 3) === 0 ? ram32[((e2 & -4096) | (x2 & 4095)) >>> 2] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x2, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 1;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65547; return n + 1; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 1:  cpu.prevEip = 65539; cpu.btDone = n + 1; break;
case 3:  cpu.prevEip = 65546; cpu.btDone = n + 0; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
