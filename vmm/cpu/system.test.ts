// System-level guest programs (system-tests/*.asm): protected and real mode, unreal mode, paging,
// ring transitions, call gates, task switches, v86 mode with its monitor and the I/O bitmap, and the
// double- and triple-fault paths. Each program is assembled with nasm, loaded at 0x8000, run from real
// mode, and reports 0 through port 0xF4 when every check passed (else the failing check's number).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadReal, makeBox, runUntilDone, type Box } from './system-tests/box.ts';
import type { EngineName } from './bt/attach.ts';
import { EVERY_ENGINE } from './bt/test-kit.ts';
import { ManualClock } from '../clock.ts';
import { LocalApic } from '../devices/local-apic/local-apic.ts';

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, 'system-tests');
const LOAD = 0x8000;

function haveNasm(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const nasm = haveNasm();
// Without nasm the programs cannot be assembled: a skip on a developer's machine, a failure in CI.
const skip = nasm || process.env.CI ? false : 'nasm is not installed (apt-get install nasm): system programs not assembled';
const work = mkdtempSync(join(tmpdir(), 'hostbox-systest-'));
process.on('exit', () => {
  rmSync(work, { recursive: true, force: true });
});

function assemble(name: string): Uint8Array {
  const out = join(work, name.replace(/\.asm$/, '.bin'));
  execFileSync('nasm', ['-f', 'bin', '-I', srcDir + '/', '-o', out, join(srcDir, name)]);
  return new Uint8Array(readFileSync(out));
}


function runProgram(name: string, engine: EngineName, budget = 2_000_000): Box {
  const box = makeBox(16 << 20, undefined, engine);
  loadReal(box, assemble(name), LOAD);
  runUntilDone(box, budget);
  return box;
}

function describe(box: Box): string {
  const c = box.cpu;
  return `results ${JSON.stringify(box.results)}, console ${JSON.stringify(box.console)}, shutdown ${box.shutdown}, ` +
    `CS:EIP ${c.sel[1]!.toString(16)}:${(c.eip >>> 0).toString(16)}, halted ${c.halted}, exc ${c.excVector}/${c.excCode.toString(16)}`;
}

const expectPass: Record<string, string> = {
  'pm_real.asm': 'protected mode and back, unreal mode, real-mode #GP through the IVT',
  'paging.asm': 'paging: 4 KiB and 4 MiB pages, #PF with CR2 and error code, global pages, CR0.WP',
  'ring3.asm': 'ring 3 through IRET, INT to a ring-0 gate with the TSS stack, call gate with parameters, SYSENTER/SYSEXIT',
  'task.asm': 'task switches: CALL/IRET with NT, JMP both ways, a task gate in the IDT, #DF through a task gate',
  'v86.asm': 'v86 mode: entered by IRET, INT to a ring-0 monitor and back, I/O bitmap, IOPL-sensitive CLI',
  'gp.asm': 'bad segment loads raise #GP/#NP with the selector; LAR, LSL, VERR, VERW, ARPL',
  'undefined.asm': 'undefined results as a P6 gives them: SHLD/SHRD 16-bit counts 17-31, BSF/BSR of 0, MUL flags, oversize counts',
  'msr.asm': 'MSRs: MTRRcap, variable and fixed MTRRs, default type, #GP on reserved bits and types; MCG_CAP with no banks',
  'mmx.asm': 'MMX and the x87: #UD with EM, #NM with TS, #MF when pending (EMMS too), TOP and tags, FNSAVE images, EMMS',
  'pae.asm': 'PAE paging: PDPTE registers, 4 KiB and 2 MiB pages, A/D bits, reserved XD and PAT bits, bad PDPTEs',
  'cpuid.asm': 'CPUID: a Pentium II (family 6, model 5) claiming exactly the features that work here',
  'stack.asm': 'stack size changes as SS loads: POP SS, LSS, RETF/IRETD to ring 3, IRET to and in v86; 16-bit TSS; ENTER frames and #PF',
};

for (const engine of EVERY_ENGINE)
  for (const [file, what] of Object.entries(expectPass)) {
    test(`${file} (${engine}): ${what}`, { skip }, () => {
      const box = runProgram(file, engine);
      assert.equal(box.shutdown, null, describe(box));
      assert.deepEqual(box.results, [0], describe(box));
    });
  }

for (const engine of EVERY_ENGINE)
  test(`triple.asm (${engine}): a fault with no usable IDT shuts the CPU down through onShutdown`, { skip }, () => {
    const box = runProgram('triple.asm', engine);
    assert.notEqual(box.shutdown, null, describe(box));
    assert.deepEqual(box.results, [], describe(box));
  });

/**
 * apic.asm needs the board's local APIC and time that passes: one microsecond of guest time per
 * thousand instructions, and a halted CPU skips to the next timer.
 */
function runWithApic(name: string, engine: EngineName, budget = 2_000_000): Box {
  const box = makeBox(16 << 20, undefined, engine);
  const clock = new ManualClock();
  const cpu = box.cpu;
  const apic = new LocalApic({
    clock,
    mem: box.mem,
    pic: { hasInterrupt: () => false, acknowledge: () => 0xff },
    cpu,
    windowMoved: (page) => cpu.pagesRemapped(page, 1),
  });
  cpu.apic = apic;
  cpu.env.pic = apic;
  loadReal(box, assemble(name), LOAD);
  let n = 0;
  while (n < budget && box.results.length === 0 && box.shutdown === null) {
    n += cpu.run(1000);
    clock.advance(1000);
    if (cpu.halted) {
      const next = clock.nextDeadline();
      if (next === Infinity) break;
      clock.advanceTo(next);
    }
  }
  return box;
}

for (const engine of EVERY_ENGINE)
  test(`apic.asm (${engine}): the local APIC on from reset, disabled and enabled by IA32_APIC_BASE, self-IPIs, TPR, the timer waking HLT`, { skip }, () => {
    const box = runWithApic('apic.asm', engine);
    assert.equal(box.shutdown, null, describe(box));
    assert.deepEqual(box.results, [0], describe(box));
  });

test('every program in system-tests/ is run by this file', { skip }, () => {
  const all = readdirSync(srcDir).filter((f) => f.endsWith('.asm'));
  for (const f of all) assert.ok(f in expectPass || f === 'triple.asm' || f === 'apic.asm', `${f} has no test`);
});
