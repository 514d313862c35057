// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // mov_GvEv @0x10000
at = 0;
const m = cpu.btRead(epoch, cpu.rf32(((r32[6] + (4)) | 0), 3));
r32[0] = m;
}
{ // mov_EvGv @0x10003
at = 1;
const x0 = r32[7], e0 = tlb[x0 >>> 12], p0 = (e0 & -4096) | (x0 & 4095);
if ((e0 & 20) === 4 && (x0 & 3) === 0 && codePage[p0 >>> 12] === 0) ram32[p0 >>> 2] = r32[0]; else { ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x0, r32[0], 3); }
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65541; return n + 2; }
}
{ // add_EvGv @0x10005
at = 2;
const lin = r32[3]; cpu.pwf(lin, 4, 3);
const a = cpu.readLin32(lin);
const b = r32[0];
const r = (a + b) | 0;
cpu.writeLin32(lin, r);
fa = a; fb = b; fr = r;
if (cpu.codeEpoch !== epoch) { cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65543; return n + 3; }
}
{ // jmp_Jb @0x10007
{ n += 4; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; if (n < budget) { pc = 65536; continue; } cpu.eip = 65536; return n; }
}
{ cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65545; return n + 4; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 1:  cpu.prevEip = 65539; cpu.btDone = n + 1; break;
case 2:  cpu.prevEip = 65541; cpu.btDone = n + 2; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
