import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoBus } from '../../bus.ts';
import type { IrqLine } from '../../irq.ts';
import type { BlockReply, BlockRequest } from '../../machine-api.ts';
import { PhysicalMemory } from '../../memory.ts';
import { PciBus } from '../pci/pci-bus.ts';
import { PiixIde } from './piix-ide.ts';
import { Xorshift32 } from '../../cpu/xorshift.ts';
import type { DriveSpec } from './ata-channel.ts';

class Line implements IrqLine {
  level = false;
  edges = 0;
  raise(): void {
    if (!this.level) this.edges++;
    this.level = true;
  }
  lower(): void {
    this.level = false;
  }
}

const DISK_SECTORS = 4096;
const CD_SECTORS = 300;

/** A board with the IDE function, an in-memory disk and CD answering block requests when told to. */
function board(opts: { disk?: boolean; cd?: boolean; fail?: (req: BlockRequest) => boolean } = {}) {
  const io = new IoBus();
  const pci = new PciBus();
  const mem = new PhysicalMemory(4 * 1024 * 1024);
  const irqs = Array.from({ length: 16 }, () => new Line());
  const disk = new Uint8Array(DISK_SECTORS * 512);
  for (let i = 0; i < disk.length; i += 512) new DataView(disk.buffer).setUint32(i, i / 512, true);
  const cd = new Uint8Array(CD_SECTORS * 2048);
  for (let i = 0; i < cd.length; i += 2048) new DataView(cd.buffer).setUint32(i, 0xc0000000 + i / 2048, true);
  const queue: BlockRequest[] = [];
  const drives: (DriveSpec | null)[] = [
    opts.disk === false ? null : { kind: 'disk', diskId: 'hda', sectors: DISK_SECTORS, readOnly: false },
    null,
    opts.cd ? { kind: 'cdrom', diskId: 'cdrom', sectors: CD_SECTORS, readOnly: true } : null,
    null,
  ];
  const ide = new PiixIde({ pci, device: 1, function: 1, mem, io, isaIrq: (n) => irqs[n]!, drives, block: (r) => queue.push(r) });
  for (const r of ide.ioRanges) io.register(r);
  ide.reset('power');
  /** Answers every queued request (as the host would, later). */
  const serve = (): number => {
    let n = 0;
    while (queue.length) {
      const req = queue.shift()!;
      n++;
      const img = req.disk === 'hda' ? disk : cd;
      const ss = req.disk === 'hda' ? 512 : 2048;
      let reply: BlockReply;
      if (opts.fail?.(req)) reply = { tag: req.tag, ok: false, error: 'injected' };
      else if (req.op === 'read') reply = { tag: req.tag, ok: true, data: img.slice(req.lba * ss, (req.lba + req.count) * ss) };
      else {
        if (req.op === 'write') img.set(req.data!, req.lba * ss);
        reply = { tag: req.tag, ok: true };
      }
      ide.blockReply(reply);
    }
    return n;
  };
  const cfg = (off: number, size: 1 | 2 | 4, v: number) => pci.configWrite(0, (1 << 3) | 1, off, size, v);
  cfg(0x04, 2, 0x0005); // I/O space and bus master
  cfg(0x20, 4, 0xc000); // BMIBA
  return { io, mem, ide, irqs, disk, cd, queue, serve, cfg };
}

type Board = ReturnType<typeof board>;
const P = 0x1f0;
const S = 0x170;

function lba28(b: Board, base: number, lba: number, count: number, cmd: number): void {
  b.io.write(base + 6, 1, 0xe0 | ((lba >>> 24) & 0x0f));
  b.io.write(base + 2, 1, count & 0xff);
  b.io.write(base + 3, 1, lba & 0xff);
  b.io.write(base + 4, 1, (lba >>> 8) & 0xff);
  b.io.write(base + 5, 1, (lba >>> 16) & 0xff);
  b.io.write(base + 7, 1, cmd);
}

function readWords(b: Board, base: number, words: number): Uint8Array {
  const out = new Uint8Array(words * 2);
  for (let i = 0; i < words; i++) {
    const w = b.io.read(base, 2);
    out[2 * i] = w & 0xff;
    out[2 * i + 1] = w >> 8;
  }
  return out;
}

const status = (b: Board, base: number): number => b.io.read(base + 7, 1);

test('after reset: ATA signature on the primary channel, PACKET signature on the secondary, nothing elsewhere floats', () => {
  const b = board({ cd: true });
  assert.deepEqual([2, 3, 4, 5].map((o) => b.io.read(P + o, 1)), [1, 1, 0, 0]);
  assert.equal(status(b, P) & 0xc9, 0x40);
  assert.deepEqual([2, 3, 4, 5].map((o) => b.io.read(S + o, 1)), [1, 1, 0x14, 0xeb]);
  // Device 1 is absent: status reads 0 while it is selected.
  b.io.write(P + 6, 1, 0xb0);
  assert.equal(status(b, P), 0);
  const none = board({ disk: false });
  assert.equal(none.io.read(P + 7, 1), 0xff);
});

test('an absent device 1 has registers of its own: the probe pattern reads back, a reset leaves FFh/FFh', () => {
  // The Bochs BIOS's probe: write 55h/AAh, read them back, soft reset, then classify by signature.
  const b = board({ cd: true });
  const probe = (base: number, dev: number): number[] => {
    b.io.write(base + 0x206, 1, 0x0a);
    b.io.write(base + 6, 1, dev);
    for (const [sc, sn] of [[0x55, 0xaa], [0xaa, 0x55], [0x55, 0xaa]]) {
      b.io.write(base + 2, 1, sc!);
      b.io.write(base + 3, 1, sn!);
    }
    const found = [b.io.read(base + 2, 1), b.io.read(base + 3, 1)];
    b.io.write(base + 0x206, 1, 0x0e);
    b.io.write(base + 0x206, 1, 0x0a);
    b.io.write(base + 6, 1, dev);
    return [...found, ...[2, 3, 4, 5, 7].map((o) => b.io.read(base + o, 1))];
  };
  assert.deepEqual(probe(S, 0xa0), [0x55, 0xaa, 1, 1, 0x14, 0xeb, 0]);
  assert.deepEqual(probe(S, 0xb0), [0x55, 0xaa, 1, 1, 0xff, 0xff, 0]);
  // The PACKET device still shows its own signature, and a command to the absent one does nothing.
  b.io.write(S + 7, 1, 0xa1);
  assert.equal(status(b, S), 0);
  b.io.write(S + 6, 1, 0xa0);
  assert.deepEqual([4, 5].map((o) => b.io.read(S + o, 1)), [0x14, 0xeb]);
  // EXECUTE DEVICE DIAGNOSTIC leaves the same signatures.
  b.io.write(S + 7, 1, 0x90);
  b.io.write(S + 6, 1, 0xb0);
  assert.deepEqual([2, 3, 4, 5].map((o) => b.io.read(S + o, 1)), [1, 1, 0xff, 0xff]);
});

test('IDENTIFY DEVICE: model, capacity, LBA48, a valid checksum, one interrupt', () => {
  const b = board();
  b.io.write(P + 6, 1, 0xa0);
  b.io.write(P + 7, 1, 0xec);
  assert.equal(b.irqs[14]!.edges, 1);
  assert.equal(status(b, P) & 0x88, 0x08);
  const id = readWords(b, P, 256);
  const word = (i: number) => id[2 * i]! | (id[2 * i + 1]! << 8);
  const str = (first: number, n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(word(first + i) >> 8, word(first + i) & 0xff)).join('').trim();
  assert.equal(str(27, 20), 'HOSTBOX HARDDISK');
  assert.equal(word(60) | (word(61) << 16), DISK_SECTORS);
  assert.equal(word(100), DISK_SECTORS);
  assert.ok(word(83) & 0x0400, 'LBA48');
  assert.equal(id.reduce((a, x) => a + x, 0) & 0xff, 0);
  assert.equal(status(b, P) & 0x88, 0, 'DRQ clear after the last word');
});

test('PIO READ SECTORS waits for the host, then hands over each sector with an interrupt', () => {
  const b = board();
  lba28(b, P, 100, 3, 0x20);
  assert.equal(status(b, P) & 0x80, 0x80, 'busy until the back end answers');
  assert.equal(b.serve(), 1);
  for (let s = 0; s < 3; s++) {
    assert.equal(status(b, P) & 0x88, 0x08);
    const data = readWords(b, P, 256);
    assert.equal(new DataView(data.buffer).getUint32(0, true), 100 + s);
  }
  assert.equal(b.irqs[14]!.edges, 3);
  assert.equal(status(b, P), 0x50);
  // The taskfile points past the last sector read.
  assert.equal(b.io.read(P + 3, 1), 103);
});

test('PIO WRITE and READ MULTIPLE with 32-bit data access, and LBA48 addressing', () => {
  const b = board();
  b.io.write(P + 2, 1, 4);
  b.io.write(P + 7, 1, 0xc6); // SET MULTIPLE MODE 4
  status(b, P);
  // WRITE SECTORS EXT at LBA 2000, 2 sectors: high bytes first (the "previous content" registers).
  b.io.write(P + 6, 1, 0x40);
  for (const [reg, hi, lo] of [[2, 0, 2], [3, 0, 2000 & 0xff], [4, 0, 2000 >> 8], [5, 0, 0]] as const) {
    b.io.write(P + reg, 1, hi);
    b.io.write(P + reg, 1, lo);
  }
  const edges = b.irqs[14]!.edges;
  b.io.write(P + 7, 1, 0x34);
  assert.equal(status(b, P) & 0x88, 0x08, 'DRQ for the first block without an interrupt');
  assert.equal(b.irqs[14]!.edges, edges);
  for (let i = 0; i < 128; i++) b.io.write(P, 4, 0xa5a5a5a5);
  assert.equal(status(b, P) & 0x80, 0x80);
  b.serve();
  for (let i = 0; i < 128; i++) b.io.write(P, 4, 0x5a5a5a5a);
  b.serve();
  assert.equal(status(b, P), 0x50);
  assert.equal(b.disk[2000 * 512], 0xa5);
  assert.equal(b.disk[2001 * 512 + 511], 0x5a);
  // READ MULTIPLE: one interrupt per 4-sector block.
  const before = b.irqs[14]!.edges;
  lba28(b, P, 0, 8, 0xc4);
  b.serve();
  let words = 0;
  while (status(b, P) & 0x08) {
    b.io.read(P, 4);
    words += 2;
  }
  assert.equal(words, 8 * 256);
  assert.equal(b.irqs[14]!.edges - before, 2);
});

test('errors: beyond the end is IDNF, a failed read is UNC, unknown commands abort, nIEN masks the line', () => {
  const b = board({ fail: (r) => r.lba === 7 });
  lba28(b, P, DISK_SECTORS - 1, 2, 0x20);
  assert.equal(status(b, P) & 0x01, 0x01);
  assert.equal(b.io.read(P + 1, 1), 0x10);
  lba28(b, P, 7, 1, 0x20);
  b.serve();
  assert.equal(status(b, P) & 0x01, 0x01);
  assert.equal(b.io.read(P + 1, 1), 0x40);
  b.io.write(P + 7, 1, 0xb0); // SMART
  assert.equal(b.io.read(P + 1, 1), 0x04);
  b.io.write(0x3f6, 1, 0x02); // nIEN
  const edges = b.irqs[14]!.edges;
  b.io.write(P + 7, 1, 0xe5);
  assert.equal(b.irqs[14]!.edges, edges);
  assert.equal(b.irqs[14]!.level, false);
});

test('software reset aborts a command in flight; its late reply changes nothing', () => {
  const b = board();
  lba28(b, P, 5, 1, 0x20);
  b.io.write(0x3f6, 1, 0x04);
  assert.equal(b.io.read(0x3f6, 1) & 0x80, 0x80);
  b.io.write(0x3f6, 1, 0x00);
  b.serve();
  assert.equal(status(b, P), 0x50);
  assert.deepEqual([2, 3, 4, 5].map((o) => b.io.read(P + o, 1)), [1, 1, 0, 0]);
});

function prd(b: Board, table: number, regions: [number, number, boolean][]): void {
  regions.forEach(([addr, len, eot], i) => {
    b.mem.write32(table + 8 * i, addr);
    b.mem.write32(table + 8 * i + 4, (len & 0xffff) | (eot ? 0x80000000 : 0));
  });
}

test('READ DMA and WRITE DMA through a PRD table; the bus master status tells the end', () => {
  const b = board();
  prd(b, 0x10000, [
    [0x20000, 512, false],
    [0x30000, 1024, true],
  ]);
  b.io.write(0xc004, 4, 0x10000);
  lba28(b, P, 40, 3, 0xc8);
  b.serve();
  b.io.write(0xc000, 1, 0x09); // start, bus master writes memory
  assert.equal(b.irqs[14]!.edges, 1);
  assert.equal(b.io.read(0xc002, 1) & 0x07, 0x04, 'interrupt, no error, table used up so not active');
  assert.equal(b.mem.read32(0x20000), 40);
  assert.equal(b.mem.read32(0x30000), 41);
  assert.equal(b.mem.read32(0x30200), 42);
  b.io.write(0xc000, 1, 0x00);
  b.io.write(0xc002, 1, 0x06); // clear interrupt and error
  assert.equal(status(b, P), 0x50);
  // WRITE DMA from memory.
  b.mem.write32(0x20000, 0xdeadbeef);
  prd(b, 0x10000, [[0x20000, 512, true]]);
  b.io.write(0xc000, 1, 0x01); // start, bus master reads memory
  lba28(b, P, 9, 1, 0xca);
  b.serve();
  assert.equal(new DataView(b.disk.buffer).getUint32(9 * 512, true), 0xdeadbeef);
  assert.equal(b.io.read(0xc002, 1) & 0x07, 0x04);
});

test('hostile PRD tables: a short table ends with the error bit; addresses outside RAM touch nothing', () => {
  const b = board();
  prd(b, 0x10000, [[0x20000, 512, true]]);
  b.io.write(0xc004, 4, 0x10000);
  b.io.write(0xc000, 1, 0x09);
  lba28(b, P, 0, 2, 0xc8);
  b.serve();
  assert.equal(b.io.read(0xc002, 1) & 0x07, 0x06, 'interrupt and error, not active');
  assert.equal(status(b, P) & 0x01, 0x01);
  // Regions far beyond RAM and wrapping at 4 GiB: the transfer "completes" into nothing.
  b.io.write(0xc000, 1, 0x00);
  b.io.write(0xc002, 1, 0x06);
  prd(b, 0x10000, [
    [0xfffffe00, 0, false],
    [0x7ffffff0, 0, true],
  ]);
  b.io.write(0xc000, 1, 0x09);
  lba28(b, P, 0, 200, 0xc8);
  b.serve();
  b.serve();
  assert.equal(b.io.read(0xc002, 1) & 0x07, 0x05, 'interrupt; still active: the table is longer than the transfer');
  // A table pointer outside RAM reads as all ones: no end-of-table bit, and the walk is bounded.
  b.io.write(0xc000, 1, 0x00);
  b.io.write(0xc002, 1, 0x06);
  b.io.write(0xc004, 4, 0xf0000000);
  b.io.write(0xc000, 1, 0x09);
  lba28(b, P, 0, 1, 0xc8);
  b.serve();
  assert.equal(b.io.read(0xc002, 1) & 0x04, 0x04);
});

function packet(b: Board, cdb: number[], byteLimit = 0xfffe, dma = false): void {
  b.io.write(S + 6, 1, 0xa0);
  b.io.write(S + 1, 1, dma ? 1 : 0);
  b.io.write(S + 4, 1, byteLimit & 0xff);
  b.io.write(S + 5, 1, byteLimit >> 8);
  b.io.write(S + 7, 1, 0xa0);
  assert.equal(b.io.read(S + 7, 1) & 0x88, 0x08, 'DRQ for the packet');
  assert.equal(b.io.read(S + 2, 1) & 3, 1, 'CoD');
  const p = [...cdb, ...new Array(12 - cdb.length).fill(0)];
  for (let i = 0; i < 12; i += 2) b.io.write(S, 2, p[i]! | (p[i + 1]! << 8));
}

function readPacketData(b: Board): Uint8Array {
  const chunks: number[] = [];
  while (b.io.read(S + 7, 1) & 0x08) {
    const n = b.io.read(S + 4, 1) | (b.io.read(S + 5, 1) << 8);
    assert.equal(b.io.read(S + 2, 1) & 3, 2, 'IO, data to the host');
    for (let i = 0; i < n; i += 2) {
      const w = b.io.read(S, 2);
      chunks.push(w & 0xff, w >> 8);
    }
  }
  return Uint8Array.from(chunks);
}

test('ATAPI: IDENTIFY PACKET DEVICE, INQUIRY, READ CAPACITY, READ(10) in byte-count-limited blocks', () => {
  const b = board({ cd: true });
  b.io.write(S + 6, 1, 0xa0);
  b.io.write(S + 7, 1, 0xec);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0x01, 'IDENTIFY DEVICE is aborted by a PACKET device');
  assert.equal(b.io.read(S + 4, 1), 0x14);
  b.io.write(S + 7, 1, 0xa1);
  const id = readWords(b, S, 256);
  assert.equal(id[1]! >> 5, 0x85 >> 5, 'word 0: ATAPI');
  assert.equal(id[1], 0x85);
  packet(b, [0x12, 0, 0, 0, 36]);
  const inq = readPacketData(b);
  assert.equal(inq[0], 0x05);
  assert.equal(String.fromCharCode(...inq.subarray(16, 22)), 'CD-ROM');
  assert.equal(b.io.read(S + 2, 1) & 3, 3, 'command complete');
  packet(b, [0x25]);
  const cap = readPacketData(b);
  assert.deepEqual([...cap], [0, 0, (CD_SECTORS - 1) >> 8, (CD_SECTORS - 1) & 0xff, 0, 0, 8, 0]);
  packet(b, [0x28, 0, 0, 0, 0, 10, 0, 0, 2], 1000);
  assert.equal(b.io.read(S + 7, 1) & 0x80, 0x80);
  b.serve();
  const data = readPacketData(b);
  assert.equal(data.length, 4096);
  const dv = new DataView(data.buffer);
  assert.equal(dv.getUint32(0, true), 0xc000000a);
  assert.equal(dv.getUint32(2048, true), 0xc000000b);
});

test('ATAPI errors: unknown opcode and out-of-range reads give CHECK CONDITION; REQUEST SENSE explains', () => {
  const b = board({ cd: true });
  packet(b, [0xff]);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0x01);
  assert.equal(b.io.read(S + 1, 1) >> 4, 0x05, 'ILLEGAL REQUEST in the error register');
  packet(b, [0x03, 0, 0, 0, 18]);
  const sense = readPacketData(b);
  assert.deepEqual([sense[0], sense[2], sense[12]], [0x70, 0x05, 0x20]);
  packet(b, [0x28, 0, 0, 0, 0x01, 0x2c, 0, 0, 1]);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0x01);
  packet(b, [0x03, 0, 0, 0, 18]);
  assert.equal(readPacketData(b)[12], 0x21);
  // READ TOC in MSF: track 1 at 00:02:00, lead-out after the last sector.
  packet(b, [0x43, 0x02, 0, 0, 0, 0, 0, 0, 20]);
  const toc = readPacketData(b);
  assert.deepEqual([...toc.subarray(8, 12)], [0, 0, 2, 0]);
  const leadOut = CD_SECTORS + 150;
  assert.deepEqual([...toc.subarray(16, 20)], [0, Math.floor(leadOut / 4500), Math.floor(leadOut / 75) % 60, leadOut % 75]);
});

test('ATAPI READ(10) by DMA', () => {
  const b = board({ cd: true });
  prd(b, 0x10000, [[0x40000, 4096, true]]);
  b.io.write(0xc00c, 4, 0x10000);
  b.io.write(0xc008, 1, 0x09);
  packet(b, [0x28, 0, 0, 0, 0, 3, 0, 0, 2], 0xfffe, true);
  b.serve();
  assert.equal(b.mem.read32(0x40000) >>> 0, 0xc0000003);
  assert.equal(b.mem.read32(0x40800) >>> 0, 0xc0000004);
  assert.equal(b.io.read(0xc00a, 1) & 0x07, 0x04);
  assert.equal(b.io.read(S + 2, 1) & 3, 3);
});

test('the bus master block follows BAR 4 and the I/O enable bit; above 64 KiB it decodes nothing', () => {
  const b = board();
  b.io.write(0xc004, 4, 0x1234);
  assert.equal(b.io.read(0xc004, 4), 0x1234);
  b.cfg(0x20, 4, 0xd000);
  assert.equal(b.io.read(0xc004, 4), 0xffffffff);
  assert.equal(b.io.read(0xd004, 4), 0x1234);
  b.cfg(0x20, 4, 0x10000000);
  assert.equal(b.io.read(0xd004, 4), 0xffffffff);
  b.cfg(0x20, 4, 0xd000);
  b.cfg(0x04, 2, 0x0000);
  assert.equal(b.io.read(0xd004, 4), 0xffffffff);
  assert.equal(b.io.read(P + 7, 1), 0xff, 'legacy ports off with I/O space');
});

test('hostile guest: random port traffic, random descriptor tables and out-of-order replies never throw', () => {
  const seed = Number(process.env.HOSTBOX_IDE_FUZZ_SEED ?? Date.now() % 0xffffffff) >>> 0 || 1;
  const rng = new Xorshift32(seed);
  const b = board({ cd: true, fail: () => rng.next() % 7 === 0 });
  const ports = [P, P + 1, P + 2, P + 3, P + 4, P + 5, P + 6, P + 7, 0x3f6, S, S + 1, S + 2, S + 3, S + 4, S + 5, S + 6, S + 7, 0x376, 0xc000, 0xc002, 0xc004, 0xc008, 0xc00a, 0xc00c];
  const commands = [0x20, 0x24, 0x30, 0x34, 0xc4, 0xc5, 0xc6, 0xc8, 0xca, 0x25, 0x35, 0xec, 0xa1, 0xa0, 0xef, 0x91, 0x90, 0x08, 0xe7, 0xf8, 0x27, 0x40];
  try {
    for (let step = 0; step < 200_000; step++) {
      const r = rng.next();
      const port = ports[r % ports.length]!;
      const size = ([1, 2, 4] as const)[(r >>> 8) % 3]!;
      switch ((r >>> 12) % 8) {
        case 0:
          b.io.write(port, size, rng.next());
          break;
        case 1:
          b.io.write((port & ~7) + 7, 1, commands[rng.next() % commands.length]!);
          break;
        case 2:
          b.mem.write32((rng.next() % 0x40000) & ~3, rng.next());
          break;
        case 3:
          if (b.queue.length) {
            // Replies out of order, sometimes twice, sometimes with the wrong amount of data.
            const i = rng.next() % b.queue.length;
            const [req] = b.queue.splice(i, 1);
            const bad = rng.next() % 5 === 0;
            b.ide.blockReply({ tag: req!.tag, ok: true, data: bad ? new Uint8Array(rng.next() % 4096) : new Uint8Array(req!.count * (req!.disk === 'hda' ? 512 : 2048)) });
            if (rng.next() % 9 === 0) b.ide.blockReply({ tag: req!.tag, ok: false });
          }
          break;
        case 4:
          b.serve();
          break;
        default:
          b.io.read(port, size);
      }
      if (step % 50_000 === 0) b.ide.reset('hard');
    }
  } catch (e) {
    throw new Error(`IDE fuzz seed ${seed} (HOSTBOX_IDE_FUZZ_SEED to replay): ${(e as Error).stack}`);
  }
});

test('ATAPI media change: empty drive says 02/3A, a new disc gives UNIT ATTENTION 06/28 once and a NewMedia event, then reads', () => {
  const b = board({ cd: true });
  const checkCondition = (): number => {
    assert.equal(b.io.read(S + 7, 1) & 0x01, 0x01, 'CHECK CONDITION');
    return b.io.read(S + 1, 1) >> 4;
  };
  const sense = (): number[] => {
    packet(b, [0x03, 0, 0, 0, 18]);
    const d = readPacketData(b);
    return [d[2]!, d[12]!, d[13]!];
  };
  const events = (): number[] => {
    packet(b, [0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8]);
    const d = readPacketData(b);
    return [d[2]!, d[4]!, d[5]!];
  };
  // Eject: the drive reports the removal once and is NOT READY, MEDIUM NOT PRESENT.
  assert.equal(b.ide.changeCdrom(0), true);
  assert.deepEqual(events(), [0x04, 0x03, 0x00], 'MediaRemoval, no medium');
  assert.deepEqual(events(), [0x04, 0x00, 0x00], 'the event was consumed');
  packet(b, [0x00]);
  assert.equal(checkCondition(), 0x02, 'TEST UNIT READY: NOT READY');
  assert.deepEqual(sense(), [0x02, 0x3a, 0x00]);
  packet(b, [0x25]);
  assert.equal(checkCondition(), 0x02, 'READ CAPACITY: NOT READY');
  // Insert a disc of another size: INQUIRY passes, the next media command is held up once.
  assert.equal(b.ide.changeCdrom(100), true);
  packet(b, [0x12, 0, 0, 0, 36]);
  assert.equal(readPacketData(b)[0], 0x05, 'INQUIRY is not held up by the unit attention');
  assert.deepEqual(events(), [0x04, 0x02, 0x02], 'NewMedia, medium present');
  packet(b, [0x00]);
  assert.equal(checkCondition(), 0x06, 'TEST UNIT READY: UNIT ATTENTION');
  assert.deepEqual(sense(), [0x06, 0x28, 0x00], 'MEDIUM MAY HAVE CHANGED');
  packet(b, [0x00]);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0, 'ready now');
  packet(b, [0x25]);
  assert.deepEqual([...readPacketData(b)], [0, 0, 0, 99, 0, 0, 8, 0], 'the new capacity');
  packet(b, [0x28, 0, 0, 0, 0, 5, 0, 0, 1]);
  b.serve();
  assert.equal(new DataView(readPacketData(b).buffer).getUint32(0, true), 0xc0000005);
  // REQUEST SENSE reports a pending unit attention itself, and clears it.
  b.ide.changeCdrom(100);
  assert.deepEqual(sense(), [0x06, 0x28, 0x00]);
  packet(b, [0x00]);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0, 'cleared by REQUEST SENSE');
});

test('ATAPI media change during a READ: the old disc\'s data is not handed over', () => {
  const b = board({ cd: true });
  packet(b, [0x28, 0, 0, 0, 0, 7, 0, 0, 1]);
  b.ide.changeCdrom(CD_SECTORS);
  b.serve();
  assert.equal(b.io.read(S + 7, 1) & 0x09, 0x01, 'CHECK CONDITION, no DRQ');
  packet(b, [0x03, 0, 0, 0, 18]);
  const d = readPacketData(b);
  assert.deepEqual([d[2], d[12]], [0x06, 0x28]);
});

test('a board without a CD drive refuses a disc change', () => {
  const b = board({});
  assert.equal(b.ide.changeCdrom(10), false);
});

test('a suspend between a disc change and the guest noticing keeps the new size and the unit attention', () => {
  const a = board({ cd: true });
  a.ide.changeCdrom(50);
  const saved = a.ide.saveState();
  const b = board({ cd: true });
  b.ide.loadState(saved, b.ide.stateVersion);
  packet(b, [0x00]);
  assert.equal(b.io.read(S + 7, 1) & 0x01, 0x01, 'UNIT ATTENTION survives');
  packet(b, [0x25]);
  assert.deepEqual([...readPacketData(b)], [0, 0, 0, 49, 0, 0, 8, 0], 'the inserted disc, not the configured one');
});

test('ATAPI: an allocation length of 0 moves no data and ends the command (SPC: not an error), no DRQ with a byte count of 0', () => {
  const b = board({ cd: true });
  for (const cdb of [
    [0x12, 0, 0, 0, 0], // INQUIRY
    [0x03, 0, 0, 0, 0], // REQUEST SENSE
    [0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0], // MODE SENSE(10)
    [0x43, 0, 0, 0, 0, 0, 0, 0, 0], // READ TOC
  ]) {
    const edges = b.irqs[15]!.edges;
    packet(b, cdb);
    assert.equal(b.io.read(S + 7, 1) & 0x89, 0, `0x${cdb[0]!.toString(16)}: no BSY, DRQ or ERR`);
    assert.equal(b.io.read(S + 2, 1) & 3, 3, 'interrupt reason: command complete');
    assert.equal(b.irqs[15]!.edges, edges + 1, 'one interrupt for the completion');
  }
});

test('ATAPI PIO: the byte count limit given with PACKET holds for the whole command, across the host reads', () => {
  const b = board({ cd: true });
  const limit = 0xfc00; // what Linux's libata asks for (63 KiB)
  packet(b, [0x28, 0, 0, 0, 0, 0, 0, 0, 128], limit);
  const blocks: number[] = [];
  const data: number[] = [];
  for (let guard = 0; guard < 1000; guard++) {
    const st = b.io.read(S + 7, 1);
    if (st & 0x80) {
      assert.ok(b.serve() > 0, 'busy with nothing asked of the host');
      continue;
    }
    if (!(st & 0x08)) break;
    const n = b.io.read(S + 4, 1) | (b.io.read(S + 5, 1) << 8);
    blocks.push(n);
    for (let i = 0; i < n; i += 2) {
      const w = b.io.read(S, 2);
      data.push(w & 0xff, w >> 8);
    }
  }
  assert.equal(data.length, 128 * 2048);
  assert.equal(new DataView(Uint8Array.from(data).buffer).getUint32(127 * 2048, true), 0xc000007f);
  assert.ok(blocks.every((n) => n <= limit), 'no block over the limit');
  assert.ok(blocks.length <= 6, `DRQ blocks of the limit's size, not smaller ones: ${blocks.join(', ')}`);
});

test('ATAPI DEVICE RESET while a READ waits for the host: the late reply starts no data phase and raises no interrupt', () => {
  const b = board({ cd: true });
  packet(b, [0x28, 0, 0, 0, 0, 7, 0, 0, 1]);
  assert.equal(b.io.read(S + 7, 1) & 0x80, 0x80);
  const edges = b.irqs[15]!.edges;
  b.io.write(S + 7, 1, 0x08); // DEVICE RESET, accepted while busy
  assert.equal(b.io.read(S + 7, 1) & 0x88, 0, 'the reset ends the command');
  assert.deepEqual([4, 5].map((o) => b.io.read(S + o, 1)), [0x14, 0xeb], 'PACKET signature');
  b.serve();
  assert.equal(b.io.read(S + 7, 1) & 0x89, 0, 'no DRQ from the abandoned READ');
  assert.equal(b.irqs[15]!.edges, edges, 'no interrupt from the abandoned READ');
  // The next command runs normally.
  packet(b, [0x12, 0, 0, 0, 36]);
  assert.equal(readPacketData(b)[0], 0x05);
});
