// block at eip 0x10000, key 0x3d4fd
const i3 = I[3];
return (function block_10000(cpu, budget) {
const r32 = cpu.r32;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip;
try { for (;;) { b1: { b0: { switch (pc) {
case 65536: break b0;
case 65541: break b1;
default: cpu.eip = pc; return n;
}
} // b0
{ // add_EvGv @0x10000
const a = r32[0], b = r32[1];
const r = (a + b) | 0;
r32[0] = r;
fa = a; fb = b; fr = r;
}
{ // dec_r1 @0x10002
const a = r32[1];
const c = (((fr >>> 0) < (fa >>> 0)) ? 1 : 0); const r = (a - 1) | 0;
r32[1] = r;
fa = a; fb = 1; fr = r; fc = c;
}
{ // jnz_Jb @0x10003
if (!(fr === 0)) { n += 3; cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2260; if (n < budget) { pc = 65536; continue; } cpu.eip = 65536; return n; }
{ n += 3; cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2260; break b1; }
}
{ n += 3; cpu.flagsRaw = (cpu.flagsRaw & -2) | fc; cpu.lop = 2; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2260; break b1; }
} // b1
{ // hlt @0x10005
at = 3;
cpu.prevEip = 65541; cpu.eip = 65542; i3.h(cpu, i3);
return n + 1;
}
{  cpu.eip = 65542; return n + 1; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 3:  cpu.btDone = n + 0; break;
}
throw e; }
});
