// "Sync to host now" while the guest runs, and the suspend that saves a folder disk: mtools plays
// the guest (mtools-guest.ts). A sync must carry exactly what the guest changed since the last one,
// move its baseline forward, never change what the guest sees, and refuse (changing nothing) a
// file system that is damaged or still mounted in the guest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FolderDisk, FolderInUse } from './folder-disk.ts';
import { FatCorruption } from './fat-reader.ts';
import { guestFiles, listing, materialize, mtools, mtoolsSkip, pattern, sectorOf, tempDir, writeBack } from './mtools-guest.ts';
import { describeSync } from './sync-summary.ts';

const skip = mtoolsSkip();
const when = (): Date => new Date(Date.UTC(2026, 0, 2, 3, 4));

function folder(): string {
  const dir = tempDir('syncnow');
  writeFileSync(join(dir, 'edit.txt'), 'first\n');
  writeFileSync(join(dir, 'rename.txt'), 'to be renamed\n');
  writeFileSync(join(dir, 'delete.txt'), 'doomed\n');
  writeFileSync(join(dir, 'keep.txt'), 'left alone\n');
  writeFileSync(join(dir, 'big.bin'), pattern(200 * 1024, 1));
  return dir;
}

test('sync now carries what the guest changed, leaves the guest its disk, and a later sync carries only what changed since', { skip }, () => {
  const dir = folder();
  const work = tempDir('work');
  const disk = new FolderDisk(dir, 'hdb', { overlayDir: work, freeBytes: 8 * 2 ** 20 });
  const img = join(work, 'disk.img');
  materialize(disk, img);
  writeFileSync(join(work, 'e'), 'first\nsecond\n');
  writeFileSync(join(work, 'n'), 'new in the guest\n');
  mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/edit.txt');
  mtools(img, disk, 'mcopy', join(work, 'n'), '::/new.txt');
  mtools(img, disk, 'mren', '::/rename.txt', '::/renamed.txt');
  mtools(img, disk, 'mdel', '::/delete.txt');
  writeBack(disk, img);
  // An in-place write of one sector in the middle of big.bin: its other clusters still come from
  // the host file, which the sync replaces; the guest must go on reading the same bytes.
  const big = pattern(200 * 1024, 1);
  const patch = Buffer.alloc(512, 0xab);
  big.set(patch, 64 * 1024);
  assert.ok(disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: sectorOf(disk, 'big.bin', 64 * 1024), count: 1, data: new Uint8Array(patch) }).ok);
  const seen = guestFiles(disk);

  const r1 = disk.syncNow({ now: when })!;
  assert.deepEqual(
    { written: r1.written.sort(), created: r1.created, moved: r1.moved, deleted: r1.deleted, conflicts: r1.conflicts, refused: r1.refused },
    { written: ['big.bin', 'edit.txt'], created: ['new.txt'], moved: ['rename.txt -> renamed.txt'], deleted: ['delete.txt'], conflicts: [], refused: [] },
  );
  const afterFirst = {
    'big.bin': big.toString('latin1'),
    'edit.txt': 'first\nsecond\n',
    'keep.txt': 'left alone\n',
    'new.txt': 'new in the guest\n',
    'renamed.txt': 'to be renamed\n',
  };
  assert.deepEqual(listing(dir), afterFirst);
  assert.deepEqual(guestFiles(disk), seen, 'the guest reads the same files after the sync');
  assert.equal(disk.pendingSectors, 0);
  const editStat = statSync(join(dir, 'edit.txt'));

  // Nothing since: nothing to do.
  assert.deepEqual(describeSync(dir, false, disk.syncNow()), [`folder ${dir} synced: the guest changed nothing`]);

  // The guest goes on: it changes the renamed file, renames the replaced one, deletes its own.
  materialize(disk, img);
  writeFileSync(join(work, 'r'), 'renamed, then changed\n');
  mtools(img, disk, 'mcopy', '-o', join(work, 'r'), '::/renamed.txt');
  mtools(img, disk, 'mren', '::/big.bin', '::/huge.bin');
  mtools(img, disk, 'mdel', '::/new.txt');
  writeBack(disk, img);
  const r2 = disk.syncNow({ now: when })!;
  assert.deepEqual(
    { written: r2.written, created: r2.created, moved: r2.moved, deleted: r2.deleted, conflicts: r2.conflicts, refused: r2.refused },
    { written: ['renamed.txt'], created: [], moved: ['big.bin -> huge.bin'], deleted: ['new.txt'], conflicts: [], refused: [] },
  );
  const afterSecond = { 'edit.txt': 'first\nsecond\n', 'huge.bin': big.toString('latin1'), 'keep.txt': 'left alone\n', 'renamed.txt': 'renamed, then changed\n' };
  assert.deepEqual(listing(dir), afterSecond);
  const again = statSync(join(dir, 'edit.txt'));
  assert.deepEqual([again.ino, again.mtimeMs], [editStat.ino, editStat.mtimeMs], 'a file synced before is not written again');
  // The renamed file's clusters now come from its new name.
  assert.equal(guestFiles(disk)['huge.bin'], big.toString('latin1'));

  // Power-off: the last changes, then nothing more may be synced.
  materialize(disk, img);
  mtools(img, disk, 'mdel', '::/keep.txt');
  writeBack(disk, img);
  const r3 = disk.sync(when)!;
  assert.deepEqual(r3.deleted, ['keep.txt']);
  assert.throws(() => disk.syncNow(), /powered off/);
  disk.close();
  for (const d of [dir, work]) rmSync(d, { recursive: true, force: true });
});

test('after a sync now, a host file changed since is still never overwritten: each guest change goes beside it', { skip }, () => {
  const dir = folder();
  const work = tempDir('work');
  const disk = new FolderDisk(dir, 'hdb', { overlayDir: work, freeBytes: 8 * 2 ** 20 });
  const img = join(work, 'disk.img');
  materialize(disk, img);
  writeFileSync(join(work, 'e'), 'guest one\n');
  mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/edit.txt');
  writeBack(disk, img);
  disk.syncNow({ now: when });
  assert.equal(readFileSync(join(dir, 'edit.txt'), 'utf8'), 'guest one\n');
  // The host edits the file the sync wrote, and one the guest never touched.
  writeFileSync(join(dir, 'edit.txt'), 'host edit\n');
  writeFileSync(join(dir, 'keep.txt'), 'host changed this\n');
  materialize(disk, img);
  writeFileSync(join(work, 'e'), 'guest two\n');
  mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/edit.txt');
  mtools(img, disk, 'mdel', '::/keep.txt');
  writeBack(disk, img);
  const r = disk.syncNow({ now: when })!;
  assert.equal(r.conflicts.length, 2, JSON.stringify(r));
  assert.equal(readFileSync(join(dir, 'edit.txt'), 'utf8'), 'host edit\n');
  assert.equal(readFileSync(join(dir, 'edit (guest conflict 2026-01-02 0304).txt'), 'utf8'), 'guest two\n');
  assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'host changed this\n', 'a delete of a file the host changed is not carried out');
  // Another guest change to the same file: beside again, the host's file still untouched.
  materialize(disk, img);
  writeFileSync(join(work, 'e'), 'guest three\n');
  mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/edit.txt');
  writeBack(disk, img);
  const r2 = disk.syncNow({ now: when })!;
  assert.equal(r2.conflicts.length, 1, JSON.stringify(r2));
  assert.equal(readFileSync(join(dir, 'edit.txt'), 'utf8'), 'host edit\n');
  assert.equal(readFileSync(join(dir, 'edit (guest conflict 2026-01-02 0304 2).txt'), 'utf8'), 'guest three\n');
  // Untouched since: no new conflict copy.
  assert.equal(disk.syncNow({ now: when })!.conflicts.length, 0);
  disk.close();
  for (const d of [dir, work]) rmSync(d, { recursive: true, force: true });
});

test('sync now refuses a file system still mounted in the guest, or damaged, with one line and changes nothing; it goes through once it is not', { skip }, () => {
  const dir = folder();
  const work = tempDir('work');
  const disk = new FolderDisk(dir, 'hdb', { overlayDir: work, freeBytes: 8 * 2 ** 20 });
  const img = join(work, 'disk.img');
  materialize(disk, img);
  writeFileSync(join(work, 'n'), 'new\n');
  mtools(img, disk, 'mcopy', join(work, 'n'), '::/new.txt');
  mtools(img, disk, 'mdel', '::/delete.txt');
  writeBack(disk, img);
  const before = listing(dir);
  const boot = disk.image!.geometry.partitionStart;
  const bs = disk.read(boot, 1);
  // Linux marks the boot sector (state byte, bit 0) while the volume is mounted read-write.
  const mounted = bs.slice();
  mounted[37]! |= 1;
  disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: boot, count: 1, data: mounted });
  assert.throws(() => disk.syncNow(), (e: Error) => e instanceof FolderInUse && /mounted .*unmount it in the guest first/.test(e.message) && !e.message.includes('\n'));
  assert.deepEqual(listing(dir), before);
  // Half-written FAT: the first FAT sector overwritten with garbage.
  const fatLba = boot + disk.image!.geometry.reservedSectors;
  const goodFat = disk.read(fatLba, 1);
  disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: boot, count: 1, data: bs });
  disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: fatLba, count: 1, data: new Uint8Array(512).fill(0x5a) });
  assert.throws(() => disk.syncNow(), (e: Error) => e instanceof FatCorruption && !e.message.includes('\n'));
  assert.deepEqual(listing(dir), before);
  // The guest finishes its update: the sync carries everything, nothing was lost by the refusals.
  disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: fatLba, count: 1, data: goodFat });
  const r = disk.syncNow()!;
  assert.deepEqual([r.created, r.deleted], [['new.txt'], ['delete.txt']]);
  // force syncs a mounted file system as it is on the disk (power-off does so: there is no later).
  disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: boot, count: 1, data: mounted });
  assert.ok(disk.syncNow({ force: true }));
  disk.close();
  for (const d of [dir, work]) rmSync(d, { recursive: true, force: true });
});

test('a folder disk saved at suspend comes back identical in a new disk, and its changes sync from there', { skip }, () => {
  const dir = folder();
  const work = tempDir('work');
  const disk = new FolderDisk(dir, 'hdb', { overlayDir: work, freeBytes: 8 * 2 ** 20 });
  const img = join(work, 'disk.img');
  materialize(disk, img);
  writeFileSync(join(work, 'n'), 'synced before the suspend\n');
  mtools(img, disk, 'mcopy', join(work, 'n'), '::/first.txt');
  mtools(img, disk, 'mren', '::/edit.txt', '::/edited.txt');
  writeBack(disk, img);
  // Synced before the suspend: a file replaced on the host whose other clusters the base still reads.
  const big = pattern(200 * 1024, 1);
  big.fill(0xcd, 128 * 1024, 128 * 1024 + 512);
  assert.ok(disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: sectorOf(disk, 'big.bin', 128 * 1024), count: 1, data: new Uint8Array(512).fill(0xcd) }).ok);
  const r0 = disk.syncNow({ now: when })!;
  assert.deepEqual([r0.created, r0.moved, r0.written], [['first.txt'], ['edit.txt -> edited.txt'], ['big.bin']]);
  materialize(disk, img);
  writeFileSync(join(work, 'n'), 'written, not synced, at the suspend\n');
  mtools(img, disk, 'mcopy', join(work, 'n'), '::/pending.txt');
  mtools(img, disk, 'mren', '::/rename.txt', '::/moved.txt');
  writeBack(disk, img);
  const saved = disk.saveState();
  const state = JSON.parse(JSON.stringify(saved.state)) as typeof saved.state;
  const sectors = [...saved.sectors].map((s) => ({ lba: s.lba, data: s.data.slice() }));
  const whole = (d: FolderDisk): Buffer => Buffer.from(d.read(0, d.info.sectors));
  const image = whole(disk);
  disk.close();

  const work2 = tempDir('work');
  const back = FolderDisk.restore(dir, 'hdb', { overlayDir: work2 }, state, sectors);
  assert.ok(whole(back).equals(image), 'the restored disk reads exactly as the saved one did');
  assert.deepEqual(back.changedSources(), []);
  assert.equal(back.pendingSectors > 0, true, 'what was written since the last sync is still to sync');
  materialize(back, img);
  mtools(img, back, 'mdel', '::/keep.txt');
  writeBack(back, img);
  const r = back.sync(when)!;
  assert.deepEqual(
    { created: r.created, moved: r.moved, deleted: r.deleted, written: r.written },
    { created: ['pending.txt'], moved: ['rename.txt -> moved.txt'], deleted: ['keep.txt'], written: [] },
  );
  assert.deepEqual(listing(dir), {
    'big.bin': big.toString('latin1'),
    'delete.txt': 'doomed\n',
    'edited.txt': 'first\n',
    'first.txt': 'synced before the suspend\n',
    'moved.txt': 'to be renamed\n',
    'pending.txt': 'written, not synced, at the suspend\n',
  });
  back.close();
  for (const d of [dir, work, work2]) rmSync(d, { recursive: true, force: true });
});
