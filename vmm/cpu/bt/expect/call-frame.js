// block at eip 0x10000, key 0x4fd
const i0 = I[0], i1 = I[1], i2 = I[2], i3 = I[3], i4 = I[4], i5 = I[5], i6 = I[6], i7 = I[7];
return function block_10000(cpu, budget) {
const r32 = cpu.r32, r16 = cpu.r16, r8 = cpu.r8, epoch = cpu.codeEpoch;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = 65536;
try { for (;;) { switch (pc) {
case 65536: {
{ // push_r5 @0x10000
const v = r32[5];
at = 0; cpu.prevEip = 65536;
const sp = (r32[4] - 4) | 0; cpu.wf32(sp, v, 2); r32[4] = sp;
}
{ // mov_EvGv @0x10001
r32[5] = r32[4];
}
{ // push_r3 @0x10003
const v = r32[3];
at = 2; cpu.prevEip = 65539;
const sp = (r32[4] - 4) | 0; cpu.wf32(sp, v, 2); r32[4] = sp;
}
{ // mov_GvEv @0x10004
at = 3; cpu.prevEip = 65540;
const m = cpu.rf32(((r32[5] + (8)) | 0), 2);
r32[3] = m;
}
{ // call_Jz @0x10007
at = 4; cpu.prevEip = 65543;
const sp = (r32[4] - 4) | 0; cpu.wf32(sp, 65548, 2); r32[4] = sp;
{ n += 5;  if (n < budget) { pc = 65548; continue; } cpu.eip = 65548; return n; }
}
{ n += 5;  if (n < budget) { pc = 65548; continue; } cpu.eip = 65548; return n; }
}
case 65548: {
{ // pop_r3 @0x1000c
at = 5; cpu.prevEip = 65548;
const v = cpu.rf32(r32[4], 2);
r32[4] = (r32[4] + 4) | 0;
r32[3] = v;
}
{ // pop_r5 @0x1000d
at = 6; cpu.prevEip = 65549;
const v = cpu.rf32(r32[4], 2);
r32[4] = (r32[4] + 4) | 0;
r32[5] = v;
}
{ // ret @0x1000e
at = 7; cpu.prevEip = 65550;
const v = cpu.rf32(r32[4], 2);
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 3;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65551; return n + 3; }
}
default: cpu.eip = pc; return n;
} } } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.btDone = n + 0; break;
case 2:  cpu.btDone = n + 2; break;
case 3:  cpu.btDone = n + 3; break;
case 4:  cpu.btDone = n + 4; break;
case 5:  cpu.btDone = n + 0; break;
case 6:  cpu.btDone = n + 1; break;
case 7:  cpu.btDone = n + 2; break;
}
throw e; }
};
