// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b1: { b0: { switch (pc) {
case 65536: break b0;
case 65548: break b1;
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
{ // push_r3 @0x10003
const v = r32[3];
at = 2;
const sp = (r32[4] - 4) | 0;
const x1 = sp, e1 = tlb[x1 >>> 12], p1 = (e1 & -4096) | (x1 & 4095);
if ((e1 & 20) === 4 && (x1 & 3) === 0 && codePage[p1 >>> 12] === 0) ram32[p1 >>> 2] = v; else { ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x1, v, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65540; return n + 3; }
}
{ // mov_GvEv @0x10004
at = 3;
const x2 = ((r32[5] + (8)) | 0), e2 = tlb[x2 >>> 12];
const m = (e2 & 17) === 1 && (x2 & 3) === 0 ? ram32[((e2 & -4096) | (x2 & 4095)) >>> 2] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x2, 2)));
r32[3] = m;
}
{ // call_Jz @0x10007
at = 4;
const sp = (r32[4] - 4) | 0;
const x3 = sp, e3 = tlb[x3 >>> 12], p3 = (e3 & -4096) | (x3 & 4095);
if ((e3 & 20) === 4 && (x3 & 3) === 0 && codePage[p3 >>> 12] === 0) ram32[p3 >>> 2] = 65548; else { ws = 1, ++slow[4] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x3, 65548, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65548; return n + 5; }
{ n += 5;  break b1; }
}
{ n += 5;  break b1; }
} // b1
{ // pop_r3 @0x1000c
at = 5;
const x4 = r32[4], e4 = tlb[x4 >>> 12];
const v = (e4 & 17) === 1 && (x4 & 3) === 0 ? ram32[((e4 & -4096) | (x4 & 4095)) >>> 2] : (ws = 1, ++slow[5] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x4, 2)));
r32[4] = (r32[4] + 4) | 0;
r32[3] = v;
}
{ // pop_r5 @0x1000d
at = 6;
const x5 = r32[4], e5 = tlb[x5 >>> 12];
const v = (e5 & 17) === 1 && (x5 & 3) === 0 ? ram32[((e5 & -4096) | (x5 & 4095)) >>> 2] : (ws = 1, ++slow[6] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x5, 2)));
r32[4] = (r32[4] + 4) | 0;
r32[5] = v;
}
{ // ret @0x1000e
at = 7;
const x6 = r32[4], e6 = tlb[x6 >>> 12];
const v = (e6 & 17) === 1 && (x6 & 3) === 0 ? ram32[((e6 & -4096) | (x6 & 4095)) >>> 2] : (ws = 1, ++slow[7] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x6, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 3;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65551; return n + 3; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 2:  cpu.prevEip = 65539; cpu.btDone = n + 2; break;
case 3:  cpu.prevEip = 65540; cpu.btDone = n + 3; break;
case 4:  cpu.prevEip = 65543; cpu.btDone = n + 4; break;
case 5:  cpu.prevEip = 65548; cpu.btDone = n + 0; break;
case 6:  cpu.prevEip = 65549; cpu.btDone = n + 1; break;
case 7:  cpu.prevEip = 65550; cpu.btDone = n + 2; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
