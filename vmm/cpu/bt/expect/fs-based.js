// block at eip 0x10000, key 0x3d4ed
const i2 = I[2], i3 = I[3];
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram8 = cpu.mem.u8, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // mov_eAXOv @0x10000
at = 0;
const o0 = (((20)) | 0);
const x1 = ((cpu.segBase[4] + o0) | 0), e1 = tlb[x1 >>> 12];
const m = (e1 & 17) === 1 && ((x1 | o0) & 3) === 0 ? ram32[((e1 & -4096) | (x1 & 4095)) >>> 2] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.readLin32(cpu.linR(4, o0, 4))));
r32[0] = m;
}
{ // mov_EvGv @0x10006
at = 1;
const o2 = ((r32[3] + (4)) | 0);
const x3 = ((cpu.segBase[4] + o2) | 0), e3 = tlb[x3 >>> 12], p3 = (e3 & -4096) | (x3 & 4095);
if ((e3 & 20) === 4 && (x3 & 3) === 0 && codePage[p3 >>> 12] === 0 && (o2 & 3) === 0) ram32[p3 >>> 2] = r32[0]; else { ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.writeLin32(cpu.linW(4, o2, 4), r32[0]); }
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65546; return n + 2; }
}
{ // add_EvIb @0x1000a
at = 2;
const o4 = (((24)) | 0);
const x5 = ((cpu.segBase[4] + o4) | 0), e5 = tlb[x5 >>> 12], p5 = (e5 & -4096) | (x5 & 4095);
const f5 = (e5 & 21) === 5 && (x5 & 3) === 0 && codePage[p5 >>> 12] === 0 && (o4 & 3) === 0;
if (!f5) { ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.rmwLin(i2, 4); }
const a = f5 ? ram32[p5 >>> 2] : cpu.readLin32(x5);
const b = 1;
const r = (a + b) | 0;
if (f5) ram32[p5 >>> 2] = r; else cpu.writeLin32(x5, r);
fa = a; fb = b; fr = r;
if (ws !== 0 && cpu.codeEpoch !== epoch) { cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65554; return n + 3; }
}
{ // inc_Eb @0x10012
at = 3;
const o6 = r32[1];
const x7 = ((cpu.segBase[4] + o6) | 0), e7 = tlb[x7 >>> 12], p7 = (e7 & -4096) | (x7 & 4095);
const f7 = (e7 & 21) === 5 && codePage[p7 >>> 12] === 0;
if (!f7) { ws = 1, ++slow[4] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.rmwLin(i3, 1); }
const a = f7 ? ram8[p7 >>> 0] : cpu.readLin8(x7);
const c = (((fr >>> 0) < (fa >>> 0)) ? 1 : 0); const r = (a + 1) & 255;
if (f7) ram8[p7 >>> 0] = r; else cpu.writeLin8(x7, r);
fa = a; fb = 1; fr = r; fc = c;
if (ws !== 0 && cpu.codeEpoch !== epoch) { cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.eip = 65557; return n + 4; }
}
{ // ret @0x10015
at = 4;
const x8 = r32[4], e8 = tlb[x8 >>> 12];
const v = (e8 & 17) === 1 && (x8 & 3) === 0 ? ram32[((e8 & -4096) | (x8 & 4095)) >>> 2] : (ws = 1, ++slow[5] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x8, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 5; cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.eip = 65558; return n + 5; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 1:  cpu.prevEip = 65542; cpu.btDone = n + 1; break;
case 2:  cpu.prevEip = 65546; cpu.btDone = n + 2; break;
case 3: cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.prevEip = 65554; cpu.btDone = n + 3; break;
case 4: cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.prevEip = 65557; cpu.btDone = n + 4; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
