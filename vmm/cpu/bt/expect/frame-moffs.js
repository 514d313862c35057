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
{ // push_r5 @0x10000
const v = r32[5];
at = 0;
const sp = (r32[4] - 4) | 0;
const x0 = sp, e0 = tlb[x0 >>> 12], p0 = (e0 & -4096) | (x0 & 4095);
if ((e0 & 20) === 4 && (x0 & 3) === 0 && codePage[p0 >>> 12] === 0) ram32[p0 >>> 2] = v; else { ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x0, v, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65537; return n + 1; }
}
{ // mov_EvGv @0x10001
r32[5] = r32[4];
}
{ // push_Ev @0x10003
at = 2;
const x1 = ((r32[6] + (4)) | 0), e1 = tlb[x1 >>> 12];
const m = (e1 & 17) === 1 && (x1 & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x1, 3)));
const pv = m;
const sp = (r32[4] - 4) | 0;
const x2 = sp, e2 = tlb[x2 >>> 12], p2 = (e2 & -4096) | (x2 & 4095);
if ((e2 & 20) === 4 && (x2 & 3) === 0 && codePage[p2 >>> 12] === 0) ram32[p2 >>> 2] = pv; else { ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x2, pv, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65542; return n + 3; }
}
{ // mov_eAXOv @0x10006
at = 3;
const x3 = (((12288)) | 0), e3 = tlb[x3 >>> 12];
const m = (e3 & 17) === 1 && (x3 & 3) === 0 ? ram32[((e3 & -4096) | (x3 & 4095)) >>> 2] : (ws = 1, ++slow[4] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x3, 3)));
r32[0] = m;
}
{ // mov_OveAX @0x1000b
at = 4;
const x4 = (((12292)) | 0), e4 = tlb[x4 >>> 12], p4 = (e4 & -4096) | (x4 & 4095);
if ((e4 & 20) === 4 && (x4 & 3) === 0 && codePage[p4 >>> 12] === 0) ram32[p4 >>> 2] = r32[0]; else { ws = 1, ++slow[5] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x4, r32[0], 3); }
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65552; return n + 5; }
}
{ // cwd @0x10010
r32[2] = r32[0] >> 31;
}
{ // cbw @0x10011
r16[0] = (r8[0] << 24) >> 24;
}
{ // cld @0x10013
cpu.flagsRaw &= -1025;
}
{ // leave @0x10014
at = 8;
const x5 = r32[5], e5 = tlb[x5 >>> 12];
const v = (e5 & 17) === 1 && (x5 & 3) === 0 ? ram32[((e5 & -4096) | (x5 & 4095)) >>> 2] : (ws = 1, ++slow[6] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x5, 2)));
r32[4] = (r32[5] + 4) | 0; r32[5] = v;
}
{ // ret @0x10015
at = 9;
const x6 = r32[4], e6 = tlb[x6 >>> 12];
const v = (e6 & 17) === 1 && (x6 & 3) === 0 ? ram32[((e6 & -4096) | (x6 & 4095)) >>> 2] : (ws = 1, ++slow[7] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x6, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 10;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65558; return n + 10; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 2:  cpu.prevEip = 65539; cpu.btDone = n + 2; break;
case 3:  cpu.prevEip = 65542; cpu.btDone = n + 3; break;
case 4:  cpu.prevEip = 65547; cpu.btDone = n + 4; break;
case 8:  cpu.prevEip = 65556; cpu.btDone = n + 8; break;
case 9:  cpu.prevEip = 65557; cpu.btDone = n + 9; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
