// Test support for the host-folder disk: mtools plays the guest. The disk is written out as an
// image file (materialize), mtools changes that file, and every sector that then differs is sent
// back through the disk's block interface as the IDE model would send a guest's write (writeBack).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FolderDisk } from './folder-disk.ts';
import { PARTITION_START } from './fat-layout.ts';
import { readFatVolume, readFileRange, type FatDir, type FatFile } from './fat-reader.ts';

/** The tests' skip reason when mtools is missing; with CI set, a missing mtools fails the run. */
export function mtoolsSkip(): string | false {
  if (spawnSync('mcopy', ['-V']).error === undefined) return false;
  if (process.env.CI === 'true') throw new Error('mtools is needed: apt-get install mtools');
  return 'mtools not installed (apt-get install mtools)';
}

/** The disk sector holding byte `offset` (a multiple of 512) of the root file `name`, as the guest addresses it. */
export function sectorOf(disk: FolderDisk, name: string, offset: number): number {
  const read = (l: number, c: number): Uint8Array => disk.read(l, c);
  const vol = readFatVolume(read, disk.info.sectors);
  const f = vol.root.children.find((c) => c.name === name) as FatFile;
  const cb = vol.clusterBytes;
  return vol.clusterLba(f.chain[Math.floor(offset / cb)]!) + (offset % cb) / 512;
}

/** Every file of the guest's file system with its bytes, as the guest would read them now. */
export function guestFiles(disk: FolderDisk): Record<string, string> {
  const read = (l: number, c: number): Uint8Array => disk.read(l, c);
  const vol = readFatVolume(read, disk.info.sectors);
  const out: Record<string, string> = {};
  const walk = (d: FatDir, rel: string): void => {
    for (const c of d.children) {
      const r = rel ? `${rel}/${c.name}` : c.name;
      if (c.kind === 'dir') walk(c, r);
      else out[r] = Buffer.from(readFileRange(vol, read, c as FatFile, 0, c.size)).toString('latin1');
    }
  };
  walk(vol.root, '');
  return out;
}

/** `n` bytes of a pattern that differs by seed. */
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7919 + seed * 31) & 0xff;
  return b;
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `hostbox-${tag}-`));
}

/** Writes the disk as the guest sees it to a sparse file. */
export function materialize(disk: FolderDisk, path: string): void {
  const fd = openSync(path, 'w');
  for (let s = 0; s < disk.info.sectors; s += 2048) {
    const b = disk.read(s, Math.min(2048, disk.info.sectors - s));
    if (b.some((x) => x !== 0)) writeSync(fd, b, 0, b.length, s * 512);
  }
  ftruncateSync(fd, disk.info.sectors * 512);
  closeSync(fd);
}

/** Sends every sector that differs between the file and the disk to the disk as a guest write. */
export function writeBack(disk: FolderDisk, path: string): number {
  const fd = openSync(path, 'r');
  let n = 0;
  for (let s = 0; s < disk.info.sectors; s += 2048) {
    const count = Math.min(2048, disk.info.sectors - s);
    const mine = new Uint8Array(count * 512);
    readSync(fd, mine, 0, mine.length, s * 512);
    const theirs = disk.read(s, count);
    for (let k = 0; k < count; k++) {
      const a = mine.subarray(k * 512, (k + 1) * 512);
      const b = theirs.subarray(k * 512, (k + 1) * 512);
      if (Buffer.compare(a, b) !== 0) {
        const r = disk.handle({ tag: 1, disk: disk.id, op: 'write', lba: s + k, count: 1, data: a.slice() });
        assert.ok(r.ok, r.error);
        n++;
      }
    }
  }
  closeSync(fd);
  return n;
}

export function mtools(img: string, disk: FolderDisk, cmd: string, ...args: string[]): string {
  const at = `${img}@@${PARTITION_START * 512}`;
  return execFileSync(cmd, ['-i', at, ...args], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '' } });
}

/** fsck.fat -n on the partition alone (it takes no offset). */
export function fsck(disk: FolderDisk, img: string): { code: number; out: string } {
  const part = img + '.part';
  const g = disk.image!.geometry;
  execFileSync('dd', [`if=${img}`, `of=${part}`, 'bs=512', `skip=${g.partitionStart}`, `count=${g.totalSectors}`, 'status=none', 'conv=sparse']);
  const r = spawnSync('fsck.fat', ['-n', '-V', part], { encoding: 'utf8' });
  rmSync(part);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

export function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) out[r] = '<dangling>';
      else if (st.isDirectory()) {
        out[r + '/'] = '';
        walk(p, r);
      } else out[r] = readFileSync(p).toString('latin1');
    }
  };
  walk(root, '');
  return out;
}
