// Issue 13's figure: the guest reads a 256 MiB file from a host-folder disk, and the same file from
// a raw disk image, in MB/s. The raw image is the folder disk written out sector by sector, so both
// hold the same FAT volume and the guest's read path (vfat, the page cache, the IDE driver, bus-
// master DMA) is the same: what differs is the back end, a raw file read (main/backends/disk-image.ts)
// against clusters synthesized from the host file (main/backends/host-folder/). The Debian guest
// runs on the translator; each read starts with the guest's caches dropped.

import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskImage } from '../../main/backends/disk-image.ts';
import { FolderDisk } from '../../main/backends/host-folder/folder-disk.ts';
import { HostboxRunner } from './hostbox-runner.ts';
import { median } from './measure.ts';

export interface FolderReadResult {
  mib: number;
  rawMBps: number;
  folderMBps: number;
  /** Each round's seconds, raw then folder. */
  rounds: { rawS: number; folderS: number }[];
  attachMs: number;
}

const MODULES = 'ata_piix,sd_mod,vfat,nls_cp437,nls_ascii';

export async function folderRead(
  guest: { kernel: string; initrd: string; memoryMiB: number },
  manifest: { readyMarker: string; prompt: string },
  opts: { rounds: number; timeoutMs: number; mib?: number },
): Promise<FolderReadResult> {
  const mib = opts.mib ?? 256;
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-bench-folder-'));
  const shared = join(dir, 'shared');
  mkdirSync(shared);
  const fd = openSync(join(shared, 'big.bin'), 'w');
  const chunk = new Uint8Array(1 << 20);
  for (let m = 0; m < mib; m++) {
    for (let i = 0; i < chunk.length; i++) chunk[i] = (Math.imul(i + m * chunk.length, 2654435761) >>> 24) & 0xff;
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const folder = new FolderDisk(shared, 'hdb', { overlayDir: dir, freeBytes: 16 << 20 });
  const rawPath = join(dir, 'raw.img');
  const out = openSync(rawPath, 'w');
  for (let s = 0; s < folder.info.sectors; s += 2048) {
    const b = folder.read(s, Math.min(2048, folder.info.sectors - s));
    if (b.some((x) => x !== 0)) writeSync(out, b, 0, b.length, s * 512);
  }
  ftruncateSync(out, folder.info.sectors * 512);
  closeSync(out);
  const raw = new DiskImage(rawPath, 'hda', { owner: 'npm run bench' });
  const runner = new HostboxRunner({ ...guest, cmdline: `console=ttyS0 quiet hostbox.modules=${MODULES}` }, 'bt', { hda: raw, hdb: folder });
  const rounds: { rawS: number; folderS: number }[] = [];
  let seq = 0;
  // Markers assembled by the shell (B=BENCH), so the echo of the typed line never matches them.
  const timed = async (cmd: string): Promise<number> => {
    const n = ++seq;
    runner.send(`B=BENCH; sync; echo 3 > /proc/sys/vm/drop_caches; echo $B-FS-${n}; ${cmd}; echo $B-FE-${n}\n`);
    const t0 = await runner.waitFor(`BENCH-FS-${n}`, opts.timeoutMs);
    const t1 = await runner.waitFor(`BENCH-FE-${n}`, opts.timeoutMs);
    await runner.waitFor(manifest.prompt, opts.timeoutMs);
    return (t1 - t0) / 1000;
  };
  try {
    await runner.start();
    await runner.waitFor(manifest.readyMarker, opts.timeoutMs);
    await runner.waitFor(manifest.prompt, opts.timeoutMs);
    runner.send('B=BENCH; mkdir -p /mnt/raw /mnt/folder; mount -t vfat -o ro /dev/sda1 /mnt/raw && mount -t vfat -o ro /dev/sdb1 /mnt/folder && echo $B-MOUNTED\n');
    await runner.waitFor('BENCH-MOUNTED', opts.timeoutMs);
    await runner.waitFor(manifest.prompt, opts.timeoutMs);
    for (let r = 0; r < opts.rounds; r++) {
      const rawS = await timed('dd if=/mnt/raw/big.bin of=/dev/null bs=1M 2>/dev/null');
      const folderS = await timed('dd if=/mnt/folder/big.bin of=/dev/null bs=1M 2>/dev/null');
      rounds.push({ rawS, folderS });
      process.stderr.write(`folder read round ${r + 1}: raw image ${rawS.toFixed(1)} s, folder disk ${folderS.toFixed(1)} s\n`);
    }
  } finally {
    await runner.stop();
    await raw.close();
    folder.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const mb = (mib * 1048576) / 1e6;
  return {
    mib,
    rawMBps: mb / median(rounds.map((r) => r.rawS)),
    folderMBps: mb / median(rounds.map((r) => r.folderS)),
    rounds,
    attachMs: folder.attachMs,
  };
}
