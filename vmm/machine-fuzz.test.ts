// The whole PC under a hostile guest: random port traffic to every device, random reads and writes
// all over the physical address space (RAM, the VGA window and its linear framebuffer, the ROM
// and shadow area, the BIOS flash, holes), PCI configuration writes that move, disable and overlap
// BARs, and the guest's own resets, with the machine running between them. Nothing may throw into
// the host, and the machine must still run afterwards. A fixed seed runs every time and a fresh one
// too; HOSTBOX_MACHINE_FUZZ_SEED=n replays one, HOSTBOX_MACHINE_FUZZ_STEPS=n runs longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMachine, type PcMachine } from './machine.ts';
import type { BlockRequest, MachineHost } from './machine-api.ts';
import { Xorshift32 } from './cpu/xorshift.ts';
import type { AccessSize } from './bus.ts';

/** A 64 KiB BIOS that spins at its reset vector with interrupts on (`sti; jmp $`). */
function spinningBios(): Uint8Array {
  const img = new Uint8Array(0x10000).fill(0x90);
  img.set([0xfb, 0xeb, 0xfe], 0xfff0);
  return img;
}

/** Where the devices listen, and a few ports nothing claims. */
const PORTS = [
  0x00, 0x20, 0x21, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71, 0x80, 0x92, 0xa0, 0xa1, 0x170, 0x177, 0x1ce, 0x1cf, 0x1f0,
  0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0x2f8, 0x2fd, 0x376, 0x3b4, 0x3b5, 0x3ba, 0x3c0, 0x3c1, 0x3c2, 0x3c4, 0x3c5,
  0x3c6, 0x3c7, 0x3c8, 0x3c9, 0x3ce, 0x3cf, 0x3d4, 0x3d5, 0x3da, 0x3f6, 0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x402, 0x4d0,
  0x4d1, 0x510, 0x511, 0x600, 0x604, 0x608, 0xb2, 0xcf8, 0xcf9, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0xc000, 0xc004, 0xc008, 0xc100,
  0xc110, 0xc112, 0xc114, 0xc116, 0xffff,
];

/** Physical areas worth aiming at: low RAM, VGA, option ROMs and BIOS shadow, the LFB, the flash, the APIC hole, past RAM. */
const AREAS: [number, number][] = [
  [0, 0x1000],
  [0x7000, 0x1000],
  [0xa0000, 0x20000],
  [0xc0000, 0x40000],
  [0x100000, 0x100000],
  [0xe0000000, 0x800000],
  [0xe07ff000, 0x2000],
  [0xfec00000, 0x1000],
  [0xfee00000, 0x1000],
  [0xfffe0000, 0x20000],
  [0x0ff0000, 0x20000], // the end of 16 MiB of RAM and past it
];

function machine(): { m: PcMachine; answer: () => void } {
  const pending: BlockRequest[] = [];
  const host: MachineHost = {
    serialOut: () => {},
    display: () => {},
    block: (req) => pending.push(req),
    net: () => {},
    power: () => {},
    log: () => {},
  };
  let now = 0;
  const m = createMachine(
    {
      memoryMiB: 16,
      engine: 'bt',
      bios: spinningBios(),
      hda: { id: 'hda', sectors: 2048, sectorSize: 512, readOnly: false },
      cdrom: { id: 'cdrom', sectors: 512, sectorSize: 2048, readOnly: true },
      nic: { mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56] },
    },
    host,
    () => (now += 0.25),
  ) as PcMachine;
  // The host's disk answers, in order, some of them failures.
  const answer = (): void => {
    for (const req of pending.splice(0)) {
      const size = req.disk === 'cdrom' ? 2048 : 512;
      if (req.tag % 7 === 3) m.blockReply({ tag: req.tag, ok: false, error: 'fuzz: I/O error' });
      else if (req.op === 'read') m.blockReply({ tag: req.tag, ok: true, data: new Uint8Array(req.count * size).fill(req.lba & 0xff) });
      else m.blockReply({ tag: req.tag, ok: true });
    }
  };
  return { m, answer };
}

function fuzz(seed: number, steps: number): void {
  const rng = new Xorshift32(seed);
  let { m, answer } = machine();
  const size = (): AccessSize => ([1, 2, 4] as const)[rng.below(3)]!;
  const value = (): number => [0, 0xff, 0xffff, 0xffffffff, rng.next(), rng.next() & 0xff][rng.below(6)]! >>> 0;
  const address = (): number => {
    if (rng.below(8) === 0) return rng.next() >>> 0;
    const [base, length] = AREAS[rng.below(AREAS.length)]!;
    return (base + rng.below(length)) >>> 0;
  };
  for (let step = 0; step < steps; step++) {
    try {
      switch (rng.below(12)) {
        case 0:
        case 1:
        case 2: {
          const port = rng.below(6) === 0 ? rng.below(0x10000) : PORTS[rng.below(PORTS.length)]! + rng.below(2) * rng.below(8);
          m.io.write(port, size(), value());
          break;
        }
        case 3:
        case 4:
          m.io.read(rng.below(6) === 0 ? rng.below(0x10000) : PORTS[rng.below(PORTS.length)]!, size());
          break;
        case 5: {
          // PCI configuration: any function, any register, BARs and command words included.
          const reg = rng.below(4) === 0 ? rng.below(256) : [0x04, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30, 0x3c, 0x40, 0x59, 0x5a, 0x60][rng.below(13)]!;
          m.io.write(0xcf8, 4, (0x80000000 | (rng.below(4) === 0 ? rng.below(0x10000) << 8 : rng.below(32) << 11 | rng.below(8) << 8) | (reg & 0xfc)) >>> 0);
          if (rng.bool()) m.io.write(0xcfc + (reg & 3), size(), value());
          else m.io.read(0xcfc + (reg & 3), size());
          break;
        }
        case 6:
        case 7: {
          const a = address();
          const s = size();
          if (s === 1) m.mem.write8(a, value());
          else if (s === 2) m.mem.write16(a, value());
          else m.mem.write32(a, value());
          break;
        }
        case 8: {
          const a = address();
          const s = size();
          if (s === 1) m.mem.read8(a);
          else if (s === 2) m.mem.read16(a);
          else m.mem.read32(a);
          break;
        }
        case 9:
          answer();
          if (m.runSlice(rng.below(3)) === 'off') ({ m, answer } = machine());
          break;
        case 10:
          if (rng.below(50) === 0) m.reset();
          else if (rng.below(20) === 0) m.keyboard([rng.below(0x100)]);
          else if (rng.below(20) === 0) m.mouse(rng.below(512) - 256, rng.below(512) - 256, rng.below(8), rng.below(5) - 2);
          else if (rng.below(20) === 0) m.netIn(new Uint8Array(rng.below(1600)).fill(0xff));
          else if (rng.below(50) === 0) m.changeCdrom(rng.bool() ? 0 : 1 + rng.below(1000));
          else if (rng.below(50) === 0) m.setLink(rng.bool());
          break;
        default:
          answer();
          m.runSlice(0);
      }
    } catch (e) {
      throw new Error(`machine fuzz seed ${seed}, step ${step} (HOSTBOX_MACHINE_FUZZ_SEED=${seed} to replay): ${(e as Error).stack}`);
    }
  }
  // Still a working machine: it runs, and saves and restores its state.
  answer();
  const r = m.runSlice(5);
  assert.ok(r === 'running' || r === 'halted' || r === 'off', `seed ${seed}: runSlice gave ${r}`);
  if (r === 'off') return;
  m.pause();
  answer();
  if (m.quiescent?.() === false) return;
  const saved = m.saveState!();
  const again = machine().m;
  again.loadState!(saved.sections, [...saved.ram]);
  assert.deepEqual(again.saveState!().sections, saved.sections, `seed ${seed}: the state read back differs`);
  again.runSlice(2);
  if (process.env.HOSTBOX_MACHINE_FUZZ_SEED) console.log(`machine fuzz seed ${seed}: saved and restored (${saved.sections.length} sections)`);
}

const STEPS = Number(process.env.HOSTBOX_MACHINE_FUZZ_STEPS ?? 4_000);

test('hostile guest: random port, memory and PCI configuration traffic to the whole machine never throws (fixed seed)', () => {
  fuzz(Number(process.env.HOSTBOX_MACHINE_FUZZ_SEED ?? 0x5eed1234) >>> 0 || 1, STEPS);
});

test('hostile guest: the same with a fresh seed', () => {
  if (process.env.HOSTBOX_MACHINE_FUZZ_SEED) return;
  const seed = (Date.now() % 0xffffffff) >>> 0 || 1;
  console.log(`machine fuzz seed ${seed} (HOSTBOX_MACHINE_FUZZ_SEED to replay)`);
  fuzz(seed, STEPS);
});

test('a BAR moved back and forth for ever does not grow the port bus (a guest cannot make the host run out of memory or indices)', () => {
  const { m } = machine();
  const bus = m.io as unknown as { ranges: unknown[] };
  // PCnet's I/O BAR (device 3, function 0, register 0x10) between two free places, I/O decoding on.
  const cfg = (reg: number): number => (0x80000000 | (3 << 11) | reg) >>> 0;
  m.io.write(0xcf8, 4, cfg(0x04));
  m.io.write(0xcfc, 2, 0x0005);
  const before = bus.ranges.length;
  for (let i = 0; i < 70_000; i++) {
    m.io.write(0xcf8, 4, cfg(0x10));
    m.io.write(0xcfc, 4, i & 1 ? 0xd001 : 0xd101);
  }
  assert.ok(bus.ranges.length <= before + 1, `${bus.ranges.length} ranges after 70,000 moves, ${before} before`);
  // And the card still answers where it was put last (0xd001 & ~3: its RDP at +0x10 reads back).
  m.io.write(0xd000 + 0x12, 2, 0); // RAP = CSR0
  assert.notEqual(m.io.read(0xd000 + 0x10, 2), 0xffff, 'the card decodes at its last BAR');
});
