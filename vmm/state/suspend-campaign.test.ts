// The random-point suspend campaign: the campaign guest (tests/state-guest/campaign.asm) reads its
// IDE disk by bus master DMA, runs long REP MOVSD/STOSB/STOSD/MOVSW, switches the VGA between
// mode 13h and text mode, and prints on COM1, folding all of it into a checksum. It is suspended
// at many random instruction counts (exactly there: the CPU is stepped to the count, mid-REP
// included), and, as the VMM does, run on until the disk has answered its command in flight; then
// saved, loaded into a freshly built machine, and run on, again and again. The serial output, the
// checksum and the text screen at the end must be those of a run never interrupted, and the
// points must have fallen in each of the four activities.
//
// CI runs fixed seeds. HOSTBOX_SUSPEND_CAMPAIGN=N runs N fresh seeds more (each printed, so a
// failure can be replayed with HOSTBOX_SUSPEND_SEEDS=seed,...). Needs nasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { PcMachine } from '../machine.ts';
import type { BlockReply, BlockRequest, MachineHost, RamRun, StateSection, VmConfig } from '../machine-api.ts';
import { Xorshift32 } from '../cpu/xorshift.ts';

const ROUNDS = 12;
const SECTORS = 64;
const PHASE = 0x7f10;
const PHASES = ['end', 'IDE DMA', 'REP strings', 'VGA mode change', 'serial output'] as const;

const image = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-campaign-'));
  try {
    const out = join(dir, 'campaign.bin');
    const r = spawnSync('nasm', ['-f', 'bin', '-o', out, `-DROUNDS=${ROUNDS}`, new URL('../../tests/state-guest/campaign.asm', import.meta.url).pathname], { encoding: 'utf8' });
    assert.equal(r.status, 0, `nasm: ${r.error?.message ?? r.stderr}`);
    return new Uint8Array(readFileSync(out));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

const disk = new Uint8Array(ROUNDS * SECTORS * 512 + 65536).map((_, i) => (Math.imul(i, 2654435761) >>> 23) ^ (i >>> 9));

/** A machine running the campaign guest, its disk answering each request `delay` steps later. */
class Run {
  readonly machine: PcMachine;
  serial = '';
  off = false;
  private t = 0;
  private pending: { reply: BlockReply; due: number }[] = [];
  private steps = 0;

  constructor(
    private readonly delay: number,
    engine: VmConfig['engine'] = 'interpreter',
  ) {
    const host: MachineHost = {
      serialOut: (port, b) => {
        if (port === 0) this.serial += Buffer.from(b).toString('latin1');
      },
      display: () => {},
      block: (req: BlockRequest) => {
        const data = req.op === 'read' ? disk.slice(req.lba * 512, (req.lba + req.count) * 512) : undefined;
        this.pending.push({ reply: { tag: req.tag, ok: true, data }, due: this.steps + this.delay });
      },
      power: (e) => {
        if (e === 'poweroff') this.off = true;
      },
      log: () => {},
    };
    const config: VmConfig = { memoryMiB: 4, engine, bios: image, hda: { id: 'hda', sectors: disk.length / 512, sectorSize: 512, readOnly: false } };
    // Host time advances at each look, so a run is the same every time.
    this.machine = new PcMachine(config, host, () => (this.t += 0.05), () => 1_764_000_000_000);
  }

  get instructions(): number {
    return this.machine.stats().instructions;
  }

  private deliver(): void {
    this.steps++;
    const due = this.pending.filter((p) => p.due <= this.steps);
    this.pending = this.pending.filter((p) => p.due > this.steps);
    for (const p of due) this.machine.blockReply(p.reply);
  }

  /** One slice of the run loop, with the disk's answers that are due. */
  slice(): void {
    this.deliver();
    this.machine.runSlice(1);
  }

  /** Exactly `n` more instructions (fewer if the CPU halts), outside the run loop's slices. */
  stepInstructions(n: number): void {
    const goal = this.instructions + n;
    while (!this.off && this.instructions < goal) {
      const before = this.instructions;
      this.deliver();
      this.machine.cpu.run(goal - this.instructions);
      if (this.instructions === before) this.machine.runSlice(1);
    }
  }

  /**
   * Suspends as the VMM does: runs on until no disk command is in flight (in small steps, with a
   * slice of the run loop now and then for the clock's events), then saves. Null if the guest
   * powered off first.
   */
  save(): { sections: StateSection[]; ram: RamRun[] } | null {
    for (let k = 1; !this.machine.quiescent(); k++) {
      if (this.off) return null;
      if (k % 8) this.stepInstructions(500);
      else this.slice();
    }
    this.machine.pause();
    const s = this.machine.saveState();
    return { sections: s.sections, ram: [...s.ram] };
  }

  /** The text screen: VGA plane memory as mode 3 shows it (characters and attributes). */
  textScreen(): string {
    let out = '';
    for (let i = 0; i < 80 * 25; i++) out += String.fromCharCode(this.machine.mem.read8(0xb8000 + i * 2), this.machine.mem.read8(0xb8000 + i * 2 + 1));
    return out;
  }
}

/** Is the CPU stopped inside a REP string instruction (at it, with elements left)? Real mode. */
function midRep(m: PcMachine): boolean {
  let at = m.cpu.sel[1]! * 16 + m.cpu.eip;
  let rep = false;
  let a32 = false;
  for (let k = 0; k < 4; k++, at++) {
    const b = m.mem.read8(at);
    if (b === 0xf3) rep = true;
    else if (b === 0x67) a32 = true;
    else if (b !== 0x66 && b !== 0x26 && b !== 0x2e && b !== 0x36 && b !== 0x3e) break;
  }
  const op = m.mem.read8(at);
  const count = a32 ? m.cpu.r32[1]! : m.cpu.r16[2]!;
  return rep && [0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0x6c, 0x6d, 0x6e, 0x6f].includes(op) && count !== 0;
}

/** Instructions a point aimed at an activity goes into it, at most: it starts within each. */
const SPAN = [0, 4000, 30, 900, 600];

function phaseIn(ram: RamRun[]): number {
  for (const r of ram) {
    const at = PHASE - r.firstPage * 4096;
    if (at >= 0 && at < r.data.length) return r.data[at]!;
  }
  return 0;
}

const reference = (() => {
  const r = new Run(3);
  while (!r.off) r.slice();
  return { serial: r.serial, screen: r.textScreen(), instructions: r.instructions };
})();

/**
 * One campaign: `points` suspends at random instruction counts drawn from `seed`, each loaded into
 * a fresh machine (whose disk answers after a random delay of its own). Returns where they fell.
 */
function campaign(seed: number, points: number, engine: VmConfig['engine'] = 'interpreter'): { phases: number[]; midRep: number } {
  const rng = new Xorshift32(seed);
  let run = new Run(1 + rng.below(6), engine);
  let serial = '';
  const phases: number[] = [];
  let inRep = 0;
  for (let i = 0; i < points && !run.off; i++) {
    // Half the points at a random count of instructions from here; the others aimed at a random
    // moment of the next DMA, REP strings, VGA mode change or serial output.
    const aim = rng.below(2) ? 1 + rng.below(4) : 0;
    if (aim === 0) run.stepInstructions(rng.below(reference.instructions / points));
    else {
      const phase = (): number => run.machine.mem.read8(PHASE);
      while (!run.off && phase() === aim) run.stepInstructions(8);
      while (!run.off && phase() !== aim) run.stepInstructions(8);
      run.stepInstructions(rng.below(SPAN[aim]!));
    }
    if (run.off) break;
    if (midRep(run.machine)) inRep++;
    const saved = run.save();
    if (!saved) break;
    phases.push(phaseIn(saved.ram));
    serial += run.serial;
    const next = new Run(1 + rng.below(6), engine);
    next.machine.loadState(saved.sections, saved.ram);
    run = next;
  }
  while (!run.off) run.slice();
  serial += run.serial;
  assert.equal(serial, reference.serial, `seed ${seed}: the serial output (and so every round's checksum) differs from the uninterrupted run`);
  assert.equal(run.textScreen(), reference.screen, `seed ${seed}: the text screen at the end differs`);
  return { phases, midRep: inRep };
}

test('the campaign guest reads its disk by DMA, switches VGA modes and prints its rounds and checksum', () => {
  assert.match(reference.serial, /^campaign guest\r\n(round [0-9a-f]{2} sum=[0-9a-f]{8}\r\n){12}sum=[0-9a-f]{8}\r\n$/);
  assert.doesNotMatch(reference.serial, /E/, 'no disk error');
  assert.ok(reference.screen.includes('c\x1fa\x1fm\x1fp\x1fa\x1fi\x1fg\x1fn\x1f'), 'the line written in text mode');
});

test('suspended at many random points (DMA, REP strings, a VGA mode change, serial output) and resumed in fresh machines, every run ends the same', () => {
  const fixed = (process.env.HOSTBOX_SUSPEND_SEEDS ?? '1,2,3').split(',').map(Number);
  const fresh = Array.from({ length: Number(process.env.HOSTBOX_SUSPEND_CAMPAIGN ?? 0) }, () => randomInt(1, 2 ** 31));
  const hit = new Map<number, number>();
  let inRep = 0;
  for (const seed of [...fixed, ...fresh]) {
    if (fresh.includes(seed)) process.stdout.write(`# suspend campaign seed ${seed}\n`);
    const r = campaign(seed, 40);
    for (const p of r.phases) hit.set(p, (hit.get(p) ?? 0) + 1);
    inRep += r.midRep;
  }
  const summary = [...hit].sort((a, b) => a[0] - b[0]).map(([p, n]) => `${PHASES[p] ?? p}: ${n}`).join(', ');
  process.stdout.write(`# suspend points by activity: ${summary}; inside a REP with elements left: ${inRep}\n`);
  for (const p of [1, 2, 3, 4]) assert.ok((hit.get(p) ?? 0) > 0, `no suspend fell in ${PHASES[p]} (${summary})`);
  assert.ok(inRep > 0, 'no suspend fell inside a REP string instruction');
});

test('the same under the binary translator', () => {
  const r = campaign(7, 30, 'bt');
  assert.ok(r.phases.length > 10);
});
