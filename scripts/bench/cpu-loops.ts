// CPU engine speed on two fixed programs in flat 32-bit mode (issue 3's figures): a tight loop
// (SUB/JNZ) and a mixed workload (loads, stores, ALU, shifts, CALL/RET, LEA, REP MOVSD).

import { PhysicalMemory } from '../../vmm/memory.ts';
import { IoBus } from '../../vmm/bus.ts';
import { ManualClock } from '../../vmm/clock.ts';
import { Cpu } from '../../vmm/cpu/cpu.ts';
import { CR0_PE } from '../../vmm/cpu/regs.ts';
import { setSegmentCache } from '../../vmm/cpu/segments.ts';
import { attachEngine, type EngineName } from '../../vmm/cpu/bt/attach.ts';

function flatCpu(engine: EngineName): { cpu: Cpu; mem: PhysicalMemory } {
  const mem = new PhysicalMemory(16 << 20);
  const clock = new ManualClock();
  const cpu = new Cpu({ mem, io: new IoBus(), nowNs: () => clock.now(), pic: null });
  cpu.cr0 |= CR0_PE;
  for (let s = 0; s < 6; s++) setSegmentCache(cpu, s, s === 1 ? 8 : 16, 0, 0xffffffff, s === 1 ? 0xc09b : 0xc093);
  attachEngine(cpu, engine);
  return { cpu, mem };
}

function run(cpu: Cpu): { instructions: number; ms: number } {
  const t0 = performance.now();
  let n = 0;
  while (!cpu.halted) n += cpu.run(1_000_000);
  return { instructions: n, ms: performance.now() - t0 };
}

export function tightLoop(engine: EngineName = 'interpreter', iterations = 20_000_000): { mips: number; instructions: number } {
  const { cpu, mem } = flatCpu(engine);
  mem.u8.set([0x83, 0xe9, 0x01, 0x75, 0xfb, 0xf4], 0x1000); // sub ecx,1 ; jnz -5 ; hlt
  cpu.eip = 0x1000;
  cpu.r32[1] = iterations;
  const r = run(cpu);
  return { mips: r.instructions / r.ms / 1000, instructions: r.instructions };
}

export function mixedWorkload(engine: EngineName = 'interpreter', outer = 400): { mips: number; instructions: number } {
  const { cpu, mem } = flatCpu(engine);
  const code: number[] = [];
  const at = (): number => 0x1000 + code.length;
  const emit = (...b: number[]): void => void code.push(...b);
  const rel8 = (target: number): number => (target - (at() + 1)) & 0xff;
  const outerTop = at();
  emit(0xb9, 0xe8, 0x03, 0, 0); // mov ecx, 1000
  const inner = at();
  emit(0x8b, 0x04, 0x8e); // mov eax, [esi+ecx*4]
  emit(0x01, 0xd8); // add eax, ebx
  emit(0x31, 0xc2); // xor edx, eax
  emit(0xc1, 0xe0, 0x03); // shl eax, 3
  emit(0x89, 0x04, 0x8f); // mov [edi+ecx*4], eax
  const callAt = at();
  emit(0xe8, 0, 0, 0, 0); // call f (patched)
  emit(0x49); // dec ecx
  emit(0x75);
  emit(rel8(inner)); // jnz inner
  emit(0x56, 0x57, 0x51); // push esi, edi, ecx
  emit(0xb9, 0x00, 0x01, 0, 0); // mov ecx, 256
  emit(0xf3, 0xa5); // rep movsd
  emit(0x59, 0x5f, 0x5e); // pop ecx, edi, esi
  emit(0x4d); // dec ebp
  emit(0x75);
  emit(rel8(outerTop)); // jnz outer
  emit(0xf4); // hlt
  const f = at();
  emit(0x8d, 0x5c, 0x43, 0x01); // lea ebx, [ebx+eax*2+1]
  emit(0xc3); // ret
  const rel = f - (callAt + 5);
  code.splice(callAt - 0x1000 + 1, 4, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >> 24) & 0xff);
  mem.u8.set(code, 0x1000);
  cpu.eip = 0x1000;
  cpu.r32[4] = 0x80000; // esp
  cpu.r32[5] = outer; // ebp: outer iterations
  cpu.r32[6] = 0x100000; // esi
  cpu.r32[7] = 0x200000; // edi
  const r = run(cpu);
  return { mips: r.instructions / r.ms / 1000, instructions: r.instructions };
}
