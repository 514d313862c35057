// A snapshot of a running VM's folder disk, as the app takes one: the disk saved in the state's
// sections (overlay, metadata, baseline, sources) and the host files it reads kept in the VM's store.
// mtools plays the guest (mtools-guest.ts). After the snapshot the guest changes files and syncs
// (the host's files are replaced, renamed and deleted); restored from the snapshot, the guest must
// read exactly what it saw then, the host folder must not change, and a sync from the restored view
// must not undo the earlier one (the host's files win; the guest's versions go beside them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FolderDisk } from './folder-disk.ts';
import { folderSections, splitFolderSections, type SavedFolder } from './folder-state.ts';
import { collectKept, keepHostFiles, keptName, keptNames, openKept } from './kept-files.ts';
import { guestFiles, listing, materialize, mtools, mtoolsSkip, pattern, tempDir, writeBack } from './mtools-guest.ts';

const skip = mtoolsSkip();
const when = (): Date => new Date(Date.UTC(2026, 0, 2, 3, 4));

/** What the app's snapshot records of a running folder disk: its state sections, read back as a resume reads them. */
function snapshot(disk: FolderDisk): SavedFolder {
  return splitFolderSections(folderSections(disk.id, disk)).folders.get(disk.id)!;
}

function guestDoes(disk: FolderDisk, work: string, f: (img: string) => void): void {
  const img = join(work, 'disk.img');
  materialize(disk, img);
  f(img);
  writeBack(disk, img);
}

test('restoring a snapshot shows the guest exactly its view, after syncs replaced, renamed and deleted what it read; the host keeps every sync', { skip }, () => {
  const dir = tempDir('snapfolder');
  writeFileSync(join(dir, 'edit.txt'), 'as the host had it\n');
  writeFileSync(join(dir, 'rename.txt'), 'to be renamed\n');
  writeFileSync(join(dir, 'delete.txt'), 'doomed\n');
  writeFileSync(join(dir, 'big.bin'), pattern(200 * 1024, 1));
  const vmFolder = tempDir('snapvm');
  const store = join(vmFolder, 'kept');
  const disk = new FolderDisk(dir, 'hdb', { overlayDir: vmFolder, keptDir: store, freeBytes: 8 * 2 ** 20 });
  const work = tempDir('snapwork');
  writeFileSync(join(work, 'u'), 'written before the snapshot, not yet synced\n');
  guestDoes(disk, work, (img) => mtools(img, disk, 'mcopy', join(work, 'u'), '::/unsynced.txt'));

  // The snapshot: the disk in the state's sections, and the host files it reads kept.
  const snap = snapshot(disk);
  const kept = keepHostFiles(snap.state.root, snap.state.sources, store);
  assert.deepEqual({ linked: kept.linked, copied: kept.copied, missing: kept.missing }, { linked: 4, copied: 0, missing: [] });
  const view = guestFiles(disk);
  assert.equal(view['unsynced.txt'], 'written before the snapshot, not yet synced\n');

  // The guest goes on and syncs: every host file the snapshot reads is replaced, renamed or deleted.
  writeFileSync(join(work, 'e'), 'changed after the snapshot\n');
  guestDoes(disk, work, (img) => {
    mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/edit.txt');
    mtools(img, disk, 'mren', '::/rename.txt', '::/renamed.txt');
    mtools(img, disk, 'mdel', '::/delete.txt');
    mtools(img, disk, 'mcopy', '-o', join(work, 'e'), '::/big.bin');
  });
  const r = disk.syncNow({ now: when })!;
  assert.deepEqual(
    { written: r.written.sort(), created: r.created, moved: r.moved, deleted: r.deleted, conflicts: r.conflicts },
    { written: ['big.bin', 'edit.txt'], created: ['unsynced.txt'], moved: ['rename.txt -> renamed.txt'], deleted: ['delete.txt'], conflicts: [] },
  );
  disk.close();
  const synced = listing(dir);

  // Restored: the guest reads what it saw at the snapshot, and the host folder is as the sync left it.
  const vmFolder2 = tempDir('snapvm2');
  const back = FolderDisk.restore(dir, 'hdb', { overlayDir: vmFolder2, keptDir: store }, snap.state, snap.sectors);
  assert.deepEqual(guestFiles(back), view, "the restored disk is the snapshot's view");
  assert.deepEqual(back.changedSources(), [], 'every file it reads was kept, so none reads differently');
  assert.deepEqual(listing(dir), synced, 'restoring wrote nothing to the host folder');
  assert.equal(back.pendingSectors, snap.state.dirty.reduce((n, [, c]) => n + c, 0), 'the writes not synced at the snapshot are still to be synced');

  // The restored guest changes edit.txt again and syncs: the host's edit.txt (the earlier sync's) is
  // not overwritten, the files the earlier sync renamed and deleted stay so, and unsynced.txt, which
  // that sync already created with the same bytes, is found there and left as it is.
  writeFileSync(join(work, 'e2'), 'changed after the restore\n');
  guestDoes(back, work, (img) => mtools(img, back, 'mcopy', '-o', join(work, 'e2'), '::/edit.txt'));
  const r2 = back.syncNow({ now: when })!;
  assert.deepEqual(
    { written: r2.written, created: r2.created, deleted: r2.deleted, moved: r2.moved, alreadyThere: r2.alreadyThere },
    { written: [], created: [], deleted: [], moved: [], alreadyThere: ['unsynced.txt'] },
  );
  assert.deepEqual(r2.conflicts, ["edit.txt: changed on the host since the guest was shown it; the guest's version is edit (guest conflict 2026-01-02 0304).txt"]);
  assert.deepEqual(listing(dir), { ...synced, 'edit (guest conflict 2026-01-02 0304).txt': 'changed after the restore\n' });
  assert.deepEqual(guestFiles(back), { ...view, 'edit.txt': 'changed after the restore\n' });
  back.close();

  // The store is what made the view come back: without the kept files, the replaced ones cannot be read.
  assert.equal(collectKept(store, keptNames(snap.state.sources)), 0);
  assert.equal(collectKept(store, new Set()), 4);
  const bare = FolderDisk.restore(dir, 'hdb', { overlayDir: tempDir('snapvm3'), keptDir: store }, snap.state, snap.sectors);
  assert.throws(() => guestFiles(bare), /edit\.txt|big\.bin|rename\.txt|delete\.txt/);
  assert.deepEqual(bare.changedSources().sort(), ['big.bin', 'delete.txt', 'edit.txt', 'rename.txt']);
  bare.close();
  for (const d of [dir, vmFolder, vmFolder2, work]) rmSync(d, { recursive: true, force: true });
});

test('kept versions: a file changed since is not kept, an entry edited in place through its link is passed over, another file system gets a copy', () => {
  const dir = tempDir('keptfiles');
  writeFileSync(join(dir, 'a.txt'), 'alpha\n');
  writeFileSync(join(dir, 'b.txt'), 'bravo\n');
  const stampOf = (rel: string): { dev: number; ino: number; size: number; mtimeMs: number } => {
    const st = statSync(join(dir, rel));
    return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  };
  const a = stampOf('a.txt');
  const b = stampOf('b.txt');
  const sources = [
    { first: 2, count: 1, rel: 'a.txt', stamp: a, offset: 0 },
    { first: 3, count: 1, rel: 'b.txt', stamp: b, offset: 0 },
  ];
  // b.txt changes between the disk's recording and the keeping: that version is gone.
  writeFileSync(join(dir, 'b.txt'), 'bravo, longer now\n');
  const store = join(tempDir('keptstore'), 'kept');
  const r = keepHostFiles(dir, sources, store);
  assert.deepEqual({ kept: r.kept, linked: r.linked, missing: r.missing }, { kept: 1, linked: 1, missing: ['b.txt'] });
  assert.deepEqual(readdirSync(store), [keptName(a)]);
  // Keeping again finds it there.
  assert.deepEqual(keepHostFiles(dir, sources.slice(0, 1), store).kept, 1);
  const fd = openKept(store, a);
  assert.notEqual(fd, null);
  closeSync(fd!);
  // Edited in place (through the host's name, the same inode): no longer the snapshot's bytes.
  appendFileSync(join(dir, 'a.txt'), 'more\n');
  assert.equal(openKept(store, a), null);

  // A store on another file system (tmpfs) cannot link: the file is copied, and the copy serves its version.
  if (existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(dir).dev) {
    const other = mkdtempSync('/dev/shm/hostbox-kept-');
    writeFileSync(join(dir, 'c.txt'), 'charlie\n');
    const c = stampOf('c.txt');
    const rc = keepHostFiles(dir, [{ first: 2, count: 1, rel: 'c.txt', stamp: c, offset: 0 }], join(other, 'kept'));
    assert.deepEqual({ linked: rc.linked, copied: rc.copied, missing: rc.missing }, { linked: 0, copied: 1, missing: [] });
    rmSync(join(dir, 'c.txt'));
    const cfd = openKept(join(other, 'kept'), c);
    assert.notEqual(cfd, null, 'the copy serves the version after the host file is gone');
    closeSync(cfd!);
    assert.deepEqual(readdirSync(join(other, 'kept')), [keptName(c)], 'no temporary file is left');
    rmSync(other, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
});
