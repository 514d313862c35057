// block at eip 0x10000, key 0x3d4fd
const i0 = I[0];
return (function block_10000(cpu, budget) {
const r32 = cpu.r32, epoch = cpu.codeEpoch;
let fa = 0, fb = 0, fr = 0, fc = 0, n = 0, at = 0, pc = cpu.eip;
try { for (;;) { b0: { switch (pc) {
case 65536: break b0;
default: cpu.eip = pc; return n;
}
} // b0
{ // rcl_EvIb @0x10000
at = 0;
cpu.prevEip = 65536; cpu.eip = 65539; i0.h(cpu, i0);
if (cpu.eip !== 65539 || cpu.brk || cpu.codeEpoch !== epoch) return n + 1;
}
{ // or_EvGv @0x10003
const a = r32[3], b = r32[0];
const r = (a | b) | 0;
r32[3] = r;
fa = a; fb = b; fr = r;
}
{ // jmp_Jb @0x10005
{ n += 3; cpu.lop = 4; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; if (n < budget) { pc = 65536; continue; } cpu.eip = 65536; return n; }
}
{ cpu.lop = 4; cpu.la = fa; cpu.lb = fb; cpu.lres = fr; cpu.lsz = 2; cpu.lazy = 2261; cpu.eip = 65543; return n + 3; }
} } catch (e) {
if (e === FAULT) switch (at) {
case 0:  cpu.btDone = n + 0; break;
}
throw e; }
});
