// block at eip 0x10000, key 0x3d4fd
const slow = SLOW;
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, r16 = cpu.r16, r8 = cpu.r8, epoch = cpu.codeEpoch, tlb = cpu.tlb, ram8 = cpu.mem.u8, ram16 = cpu.mem.u16, ram32 = cpu.mem.i32, codePage = cpu.mem.codePage;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip, ws = 0;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // movzx_GvEb @0x10000
at = 0;
const x0 = r32[6], e0 = tlb[x0 >>> 12];
const m = (e0 & 17) === 1 ? ram8[((e0 & -4096) | (x0 & 4095)) >>> 0] : (ws = 1, ++slow[1] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.readLin8(x0)));
r32[0] = m;
}
{ // mov_EbGb @0x10003
at = 1;
const x1 = r32[7], e1 = tlb[x1 >>> 12], p1 = (e1 & -4096) | (x1 & 4095);
if ((e1 & 20) === 4 && codePage[p1 >>> 12] === 0) ram8[p1 >>> 0] = r8[0]; else { ws = 1, ++slow[2] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.writeLin8(x1, r8[0]); }
if (ws !== 0 && cpu.codeEpoch !== epoch) {  cpu.eip = 65541; return n + 2; }
}
{ // movzx_GvEw @0x10005
at = 2;
const x2 = ((r32[6] + (2)) | 0), e2 = tlb[x2 >>> 12];
const m = (e2 & 17) === 1 && (x2 & 1) === 0 ? ram16[((e2 & -4096) | (x2 & 4095)) >>> 1] : (ws = 1, ++slow[3] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf16(x2, 3)));
r32[3] = m;
}
{ // add_EvGv @0x10009
at = 3;
const x3 = ((r32[7] + (4)) | 0), e3 = tlb[x3 >>> 12], p3 = (e3 & -4096) | (x3 & 4095);
const f3 = (e3 & 21) === 5 && (x3 & 1) === 0 && codePage[p3 >>> 12] === 0;
if (!f3) { ws = 1, ++slow[4] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.pwf(x3, 2, 3); }
const a = f3 ? ram16[p3 >>> 1] : cpu.readLin16(x3);
const b = r16[6];
const r = (a + b) & 65535;
if (f3) ram16[p3 >>> 1] = r; else cpu.writeLin16(x3, r);
fa = a; fb = b; fr = r;
if (ws !== 0 && cpu.codeEpoch !== epoch) { cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 2261; cpu.eip = 65549; return n + 4; }
}
{ // inc_Eb @0x1000d
at = 4;
const x4 = ((r32[7] + (6)) | 0), e4 = tlb[x4 >>> 12], p4 = (e4 & -4096) | (x4 & 4095);
const f4 = (e4 & 21) === 5 && codePage[p4 >>> 12] === 0;
if (!f4) { ws = 1, ++slow[5] === 4096 && (slow[0] = 1, cpu.btSlow = true); cpu.pwf(x4, 1, 3); }
const a = f4 ? ram8[p4 >>> 0] : cpu.readLin8(x4);
const c = (((fr & 65535) < (fa & 65535)) ? 1 : 0); const r = (a + 1) & 255;
if (f4) ram8[p4 >>> 0] = r; else cpu.writeLin8(x4, r);
fa = a; fb = 1; fr = r; fc = c;
if (ws !== 0 && cpu.codeEpoch !== epoch) { cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.eip = 65552; return n + 5; }
}
{ // ret @0x10010
at = 5;
const x5 = r32[4], e5 = tlb[x5 >>> 12];
const v = (e5 & 17) === 1 && (x5 & 3) === 0 ? ram32[((e5 & -4096) | (x5 & 4095)) >>> 2] : (ws = 1, ++slow[6] === 4096 && (slow[0] = 1, cpu.btSlow = true), cpu.btRead(epoch, cpu.rf32(x5, 2)));
const t = v | 0;
r32[4] = (r32[4] + 4) | 0;
{ n += 6; cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; if (n < budget) { pc = t; continue; } cpu.eip = t; return n; }
}
{ cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.eip = 65553; return n + 6; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.prevEip = 65536; cpu.btDone = n + 0; break;
case 1:  cpu.prevEip = 65539; cpu.btDone = n + 1; break;
case 2:  cpu.prevEip = 65541; cpu.btDone = n + 2; break;
case 3:  cpu.prevEip = 65545; cpu.btDone = n + 3; break;
case 4: cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 1; cpu.lazy = 2261; cpu.prevEip = 65549; cpu.btDone = n + 4; break;
case 5: cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 0; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 0; cpu.lazy = 2260; cpu.prevEip = 65552; cpu.btDone = n + 5; break;
}
if (cpu.btRestart) cpu.btInstr = I[at];
throw e; }
});
