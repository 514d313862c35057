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
{ // shl_EvCL @0x10000
const k = r8[4] & 31; if (k !== 0) { const v = r32[0]; const r = k >= 32 ? 0 : (v << k) & (-1); const out = 32 - k; const cf = k <= 32 ? (v >>> out) & 1 : 0; const of = ((r >>> 31) & 1) ^ cf; r32[0] = r; fr = r; fc = cf; fb = of; cpu.flagsRaw = (cpu.flagsRaw & -2066) | fc | (fb << 11); cpu.lop = 4; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 196; }
}
{ // sar_EvCL @0x10002
const k = r8[4] & 31; if (k !== 0) { const v = r16[6] & 65535; const up = 32 - 16; const sv = (v << up) >> up; const r = (sv >> k) & 65535; const out = k - 1; const cf = (sv >> out) & 1; const of = 0; r16[6] = r; fr = r; fc = cf; fb = of; cpu.flagsRaw = (cpu.flagsRaw & -2066) | fc | (fb << 11); cpu.lop = 4; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 196; }
}
{ // ror_EbCL @0x10005
const k = r8[4] & 31; if (k !== 0) { const v = r8[8] & 255; const c = k & 7; const rc = 8 - c; const r = c === 0 ? v : ((v >>> c) | (v << rc)) & 255; const cf = (r >>> 7) & 1; const of = cf ^ ((r >>> (7 - 1)) & 1); r8[8] = r; cpu.lazy &= -2050; cpu.flagsRaw = (cpu.flagsRaw & -2050) | cf | (of << 11); }
}
{ // bswap_1 @0x10007
const v = r32[1]; r32[1] = ((v & 255) << 24) | ((v & 65280) << 8) | ((v >>> 8) & 65280) | (v >>> 24);
}
{ // ret @0x10009
at = 4;
const x0 = r32[4], e0 = tlb[x0 >>> 12];
const v = (e0 & 17) === 1 && (x0 & 3) === 0 ? ram32[((e0 & -4096) | (x0 & 4095)) >>> 2] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x0, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 5;  if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{  cpu.eip = 65546; return n + 5; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 4:  cpu.prevEip = 65545; cpu.btDone = n + 4; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
