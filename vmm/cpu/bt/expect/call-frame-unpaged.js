// block at eip 0x10000, key 0x7d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage, plain = cpu.mem.plainSpan;
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
const x0 = sp;
if ((((x0 - 1048576) >>> 0) < plain[0] || (tlb[x0 >>> 12] & 20) === 4) && (x0 & 3) === 0 && codePage[x0 >>> 12] === 0) ram32[x0 >>> 2] = v; else { ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x0, v, 2); }
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
const x1 = sp;
if ((((x1 - 1048576) >>> 0) < plain[0] || (tlb[x1 >>> 12] & 20) === 4) && (x1 & 3) === 0 && codePage[x1 >>> 12] === 0) ram32[x1 >>> 2] = v; else { ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x1, v, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65540; return n + 3; }
}
{ // mov_GvEv @0x10004
at = 3;
const x2 = ((r32[5] + (8)) | 0);
const m = (((x2 - 1048576) >>> 0) < plain[0] || (tlb[x2 >>> 12] & 17) === 1) && (x2 & 3) === 0 ? ram32[x2 >>> 2] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.rf32(x2, 2));
r32[3] = m;
}
{ // call_Jz @0x10007
at = 4;
const sp = (r32[4] - 4) | 0;
const x3 = sp;
if ((((x3 - 1048576) >>> 0) < plain[0] || (tlb[x3 >>> 12] & 20) === 4) && (x3 & 3) === 0 && codePage[x3 >>> 12] === 0) ram32[x3 >>> 2] = 65548; else { ws = 1, ++slow[4] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.wf32(x3, 65548, 2); }
r32[4] = sp;
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65548; return n + 5; }
{ n += 5;  break b1; }
}
{ n += 5;  break b1; }
} // b1
{ // pop_r3 @0x1000c
at = 5;
const x4 = r32[4];
const v = (((x4 - 1048576) >>> 0) < plain[0] || (tlb[x4 >>> 12] & 17) === 1) && (x4 & 3) === 0 ? ram32[x4 >>> 2] : (ws = 1, ++slow[5] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.rf32(x4, 2));
r32[4] = (r32[4] + 4) | 0;
r32[3] = v;
}
{ // pop_r5 @0x1000d
at = 6;
const x5 = r32[4];
const v = (((x5 - 1048576) >>> 0) < plain[0] || (tlb[x5 >>> 12] & 17) === 1) && (x5 & 3) === 0 ? ram32[x5 >>> 2] : (ws = 1, ++slow[6] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.rf32(x5, 2));
r32[4] = (r32[4] + 4) | 0;
r32[5] = v;
}
{ // ret @0x1000e
at = 7;
const x6 = r32[4];
const v = (((x6 - 1048576) >>> 0) < plain[0] || (tlb[x6 >>> 12] & 17) === 1) && (x6 & 3) === 0 ? ram32[x6 >>> 2] : (ws = 1, ++slow[7] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.rf32(x6, 2));
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
throw e; }
});
