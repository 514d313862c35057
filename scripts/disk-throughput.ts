// Disk back-end throughput as the IDE drives it: sequential 64 KiB requests, one at a time, through
// main/backends/disk-image.ts, then a flush; reports MB/s and the worst event-loop delay meanwhile
// (what the web server and the other VMs would wait). The image is a fresh file in the temp folder.
// Each request waits for a turn of the event loop first, as one arriving from the VMM as a message
// would; the delay is measured by a 1 ms timer, so a blocking call shows as the gap it leaves.
// Usage: node --import tsx scripts/disk-throughput.ts [MiB=256] [folder=the temp folder]
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskImage } from '../main/backends/disk-image.ts';

const mib = Number(process.argv[2] ?? 256);
const dir = mkdtempSync(join(process.argv[3] ?? tmpdir(), 'hostbox-disk-bench-'));
const path = join(dir, 'disk.img');
writeFileSync(path, new Uint8Array(0));
// Sparse: the size without writing it.
truncateSync(path, mib * 1024 * 1024);
const disk = new DiskImage(path, 'hda', { owner: 'disk-throughput' });
const per = 128; // sectors: 64 KiB, the largest request the PIIX3's bus-master DMA makes of one PRD here
const data = new Uint8Array(per * 512).fill(0x5a);
const sectors = disk.info.sectors;

async function phase(name: string, op: (lba: number) => Promise<unknown>, tail?: () => Promise<unknown>): Promise<Record<string, number | string>> {
  let last = performance.now();
  let worst = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  for (let lba = 0; lba + per <= sectors; lba += per) {
    await new Promise((r) => setImmediate(r));
    await op(lba);
  }
  if (tail) {
    await new Promise((r) => setImmediate(r));
    await tail();
  }
  const s = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(probe);
  return { phase: name, MBps: +((sectors * 512) / 1e6 / s).toFixed(1), seconds: +s.toFixed(2), maxEventLoopDelayMs: +worst.toFixed(1) };
}

const check = (r: { ok: boolean; error?: string }): void => {
  if (!r.ok) throw new Error(r.error);
};
const write = async (lba: number): Promise<void> => check(await disk.handle({ tag: lba, disk: 'hda', op: 'write', lba, count: per, data }));
const flush = async (): Promise<void> => check(await disk.handle({ tag: -1, disk: 'hda', op: 'flush', lba: 0, count: 0 }));
const read = async (lba: number): Promise<void> => check(await disk.handle({ tag: lba, disk: 'hda', op: 'read', lba, count: per }));
console.log(JSON.stringify(await phase('write + flush', write, flush)));
console.log(JSON.stringify(await phase('read', read)));
await disk.close();
rmSync(dir, { recursive: true, force: true });
