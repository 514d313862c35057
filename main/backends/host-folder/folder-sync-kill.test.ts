// A sync killed at any moment (SIGKILL, as a crash or a power cut of the host would stop it) leaves
// every file of the folder wholly old or wholly new, and loses none: a file being renamed is at its
// old name, its new name, or set aside whole under a "-moved-" temporary name. The sync runs in a
// child process (this file, re-run with HOSTBOX_SYNC_CHILD set) so it can be killed for real.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FolderDisk } from './folder-disk.ts';

const FILES = 10;
const SIZE = 1 << 20;
const content = (name: string, version: 'old' | 'new'): Buffer => {
  const b = Buffer.alloc(SIZE, `${version}:${name}|`);
  return b;
};

/** In the child: the guest (mtools) changes every file, creates, deletes and renames; then sync. */
function child(folder: string, work: string): void {
  const disk = new FolderDisk(folder, 'hdb', { overlayDir: work, freeBytes: 32 * 2 ** 20 });
  const img = join(work, 'disk.img');
  const fd = openSync(img, 'w');
  for (let s = 0; s < disk.info.sectors; s += 2048) {
    const b = disk.read(s, Math.min(2048, disk.info.sectors - s));
    if (b.some((x) => x !== 0)) writeSync(fd, b, 0, b.length, s * 512);
  }
  ftruncateSync(fd, disk.info.sectors * 512);
  closeSync(fd);
  const at = `${img}@@${disk.image!.geometry.partitionStart * 512}`;
  const m = (cmd: string, ...args: string[]): void => void execFileSync(cmd, ['-i', at, ...args], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  for (let i = 0; i < FILES; i++) {
    const f = join(work, `n${i}`);
    writeFileSync(f, content(`file${i}.bin`, 'new'));
    m('mcopy', '-o', f, `::/file${i}.bin`);
  }
  writeFileSync(join(work, 'c'), content('created.bin', 'new'));
  m('mcopy', join(work, 'c'), '::/created.bin');
  m('mdel', '::/gone.bin');
  m('mren', '::/moving.bin', '::/moved.bin');
  const rd = openSync(img, 'r');
  for (let s = 0; s < disk.info.sectors; s += 2048) {
    const count = Math.min(2048, disk.info.sectors - s);
    const mine = new Uint8Array(count * 512);
    readSync(rd, mine, 0, mine.length, s * 512);
    const theirs = disk.read(s, count);
    for (let k = 0; k < count; k++) {
      const a = mine.subarray(k * 512, (k + 1) * 512);
      if (Buffer.compare(a, theirs.subarray(k * 512, (k + 1) * 512)) !== 0) disk.handle({ tag: 0, disk: 'hdb', op: 'write', lba: s + k, count: 1, data: a.slice() });
    }
  }
  closeSync(rd);
  process.stdout.write('SYNC\n');
  disk.sync();
  process.stdout.write('DONE\n');
}

if (process.env.HOSTBOX_SYNC_CHILD) {
  const [folder, work] = process.env.HOSTBOX_SYNC_CHILD.split('\n') as [string, string];
  child(folder, work);
  process.exit(0);
}

const CI = process.env.CI === 'true';
const haveMtools = spawnSync('mcopy', ['-V']).error === undefined;
if (!haveMtools && CI) throw new Error('mtools is needed: apt-get install mtools');

function prepare(): { folder: string; work: string } {
  const folder = mkdtempSync(join(tmpdir(), 'hostbox-kill-'));
  const work = mkdtempSync(join(tmpdir(), 'hostbox-kill-work-'));
  for (let i = 0; i < FILES; i++) writeFileSync(join(folder, `file${i}.bin`), content(`file${i}.bin`, 'old'));
  writeFileSync(join(folder, 'gone.bin'), content('gone.bin', 'old'));
  writeFileSync(join(folder, 'moving.bin'), content('moving.bin', 'old'));
  return { folder, work };
}

/** Runs the child and kills it `delayMs` after it starts syncing (Infinity: let it finish). */
async function runChild(folder: string, work: string, delayMs: number): Promise<boolean> {
  const self = fileURLToPath(import.meta.url);
  const c = spawn(process.execPath, ['--import', 'tsx', self], { env: { ...process.env, HOSTBOX_SYNC_CHILD: `${folder}\n${work}` }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let finished = false;
  await new Promise<void>((resolve) => {
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('DONE')) finished = true;
      if (out.includes('SYNC') && Number.isFinite(delayMs) && !c.killed) setTimeout(() => c.kill('SIGKILL'), delayMs);
    });
    c.on('exit', () => resolve());
  });
  return finished;
}

function check(folder: string, finished: boolean): void {
  const names = readdirSync(folder).sort();
  const whole = (b: Buffer, name: string, versions: ('old' | 'new')[]): boolean => versions.some((v) => b.equals(content(name, v)));
  for (let i = 0; i < FILES; i++) {
    const n = `file${i}.bin`;
    assert.ok(names.includes(n), `${n} is never missing`);
    assert.ok(whole(readFileSync(join(folder, n)), n, ['old', 'new']), `${n} is wholly old or wholly new`);
  }
  if (names.includes('created.bin')) assert.ok(whole(readFileSync(join(folder, 'created.bin')), 'created.bin', ['new']));
  if (names.includes('gone.bin')) assert.ok(whole(readFileSync(join(folder, 'gone.bin')), 'gone.bin', ['old']));
  const moving = content('moving.bin', 'old');
  const holders = names.filter((n) => n === 'moving.bin' || n === 'moved.bin' || n.includes('-moved-')).filter((n) => readFileSync(join(folder, n)).equals(moving));
  assert.equal(holders.length, 1, `the renamed file is in exactly one place: ${names.join(', ')}`);
  for (const n of names.filter((x) => x.includes('-moved-'))) assert.ok(readFileSync(join(folder, n)).equals(moving), `${n} is a whole host file`);
  const unexpected = names.filter((n) => !/^file\d+\.bin$|^created\.bin$|^gone\.bin$|^moving\.bin$|^moved\.bin$|^\.hostbox-sync-\d+-(new|moved)-\d+$/.test(n));
  assert.deepEqual(unexpected, []);
  if (finished) {
    assert.deepEqual(names, [...Array.from({ length: FILES }, (_, i) => `file${i}.bin`), 'created.bin', 'moved.bin'].sort());
    for (let i = 0; i < FILES; i++) assert.ok(readFileSync(join(folder, `file${i}.bin`)).equals(content(`file${i}.bin`, 'new')));
  }
}

test('a sync killed at any moment leaves each file wholly old or wholly new, and loses none', { skip: haveMtools ? false : 'mtools not installed', timeout: 10 * 60_000 }, async () => {
  let killedMidway = 0;
  for (const delay of [0, 10, 40, Infinity]) {
    const { folder, work } = prepare();
    try {
      const finished = await runChild(folder, work, delay);
      if (!finished) killedMidway++;
      check(folder, finished);
      if (delay === Infinity) assert.ok(finished, 'a sync left alone finishes');
    } finally {
      rmSync(folder, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  }
  assert.ok(killedMidway >= 1, 'at least one run was killed before the sync finished');
});
