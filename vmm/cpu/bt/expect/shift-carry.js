// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, r16 = cpu.r16, r8 = cpu.r8, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram32 = cpu.mem.i32;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // shl_EvIb @0x10000
const v = r32[0]; const r = (v << 3) | 0; const cf = (v >>> 29) & 1; const of = ((r >>> 31) & 1) ^ cf; r32[0] = r;
fr = r; fc = cf; fb = of;
}
{ // shr_Eb1 @0x10003
const v = r8[12] & 255; const r = (v >>> 1) & 255; const cf = (v >>> 0) & 1; const of = (v >>> 7) & 1; r8[12] = r;
fr = r; fc = cf; fb = of;
}
{ // sar_EvIb @0x10005
const v = r16[2] & 65535; const sv = (v << 16) >> 16; const r = (sv >> 20) & 65535; const cf = (sv >> 19) & 1; const of = 0; r16[2] = r;
fr = r; fc = cf; fb = of;
}
{ // adc_EvGv @0x10009
const a = r32[2], b = r32[6];
const c = fc; const r = (a + b + c) | 0;
r32[2] = r;
fa = a; fb = b; fr = r; fc = c;
}
{ // sbb_ALIb @0x1000b
const a = r8[0];
const c = ((fc ? (fr >>> 0) <= (fa >>> 0) : (fr >>> 0) < (fa >>> 0)) ? 1 : 0); const r = (a - 5 - c) & 255;
r8[0] = r;
fa = a; fb = 5; fr = r; fc = c;
}
{ // ret @0x1000d
at = 5;
const x0 = r32[4], e0 = tlb[x0 >>> 12];
const v = (e0 & 17) === 1 && (x0 & 3) === 0 ? ram32[((e0 & -4096) | (x0 & 4095)) >>> 2] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x0, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 6; cpu.lop = (fc ? 3 : 2); cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2261; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.lop = (fc ? 3 : 2); cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2261; cpu.eip = 65550; return n + 6; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 5: cpu.lop = (fc ? 3 : 2); cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2261; cpu.prevEip = 65549; cpu.btDone = n + 5; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
