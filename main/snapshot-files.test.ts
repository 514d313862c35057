// A running snapshot's host folder files, at the level of its state file: keeping what the folder
// disks saved in it read, collecting what no state reads any more, and a damaged state stopping the
// collection before anything is deleted, with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderDisk } from './backends/host-folder/folder-disk.ts';
import { folderSections } from './backends/host-folder/folder-state.ts';
import { StateFileBuilder, StateFileError, type StateHeader } from './state-file.ts';
import { collectSnapshotFolders, keepSnapshotFolders, readSavedFolders } from './snapshot-files.ts';

function header(): StateHeader {
  return { hostbox: '0.1.0', created: '2026-12-02T00:00:00Z', memoryMiB: 16, config: { memoryMiB: 16, engine: 'interpreter' }, disks: [] };
}

/** A state file holding `disk` as a snapshot of the running VM does (the VMM's own sections left out). */
async function stateWith(disk: FolderDisk, path: string): Promise<string> {
  const b = new StateFileBuilder();
  b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(16) });
  for (const s of folderSections(disk.id, disk)) b.addSection(s);
  await b.write(path, header());
  return path;
}

test("a snapshot keeps the files its folder disks read until no state reads them; a damaged state keeps everything, and says which", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-snapfiles-folder-'));
  const vm = mkdtempSync(join(tmpdir(), 'hostbox-snapfiles-vm-'));
  writeFileSync(join(dir, 'one.txt'), 'one\n');
  writeFileSync(join(dir, 'two.txt'), 'two\n');
  const store = join(vm, 'host-folder-kept');
  try {
    const disk = new FolderDisk(dir, 'hdb', { overlayDir: vm, keptDir: store, freeBytes: 4 * 2 ** 20 });
    const a = await stateWith(disk, join(vm, 'snapshot-a.hbstate'));
    disk.close();
    assert.deepEqual(keepSnapshotFolders(a, store), []);
    assert.equal(readdirSync(store).length, 2);
    assert.equal(readSavedFolders(a).get('hdb')!.state.sources.length, 2);

    // A sync replaces one.txt (a new file renamed over it): the store still holds the snapshot's.
    writeFileSync(join(dir, '.new'), 'one, synced\n');
    renameSync(join(dir, '.new'), join(dir, 'one.txt'));
    writeFileSync(join(store, 'stray'), 'left by nothing');
    assert.equal(collectSnapshotFolders(store, [a]), 1, 'only what no state reads goes');
    assert.equal(readdirSync(store).length, 2);

    // A second snapshot, taken after the change, reads the new one.txt; the host then changes two.txt before it is kept.
    const disk2 = new FolderDisk(dir, 'hdb', { overlayDir: vm, keptDir: store, freeBytes: 4 * 2 ** 20 });
    const b = await stateWith(disk2, join(vm, 'snapshot-b.hbstate'));
    disk2.close();
    writeFileSync(join(dir, 'two.txt'), 'two, edited in between\n');
    const notes = keepSnapshotFolders(b, store);
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /^folder .*: 1 file changed on the host while the snapshot was taken \(two\.txt\)/);
    // two.txt was edited in place, through the first snapshot's link too: that entry no longer is its version, and went.
    assert.equal(readdirSync(store).length, 2, "the first snapshot's one.txt, the second's one.txt");

    // A damaged state: nothing is deleted, and the error is one line naming the file.
    const damaged = join(vm, 'snapshot-c.hbstate');
    const bytes = readFileSync(a);
    bytes[bytes.length - 40] ^= 0xff;
    writeFileSync(damaged, bytes);
    const before = readdirSync(store).sort();
    assert.throws(
      () => collectSnapshotFolders(store, [b, damaged]),
      (e: Error) => e instanceof StateFileError && e.message.startsWith(damaged) && !e.message.includes('\n'),
    );
    assert.deepEqual(readdirSync(store).sort(), before);
    assert.throws(() => collectSnapshotFolders(store, [join(vm, 'gone.hbstate')]), /does not exist/);
    assert.deepEqual(readdirSync(store).sort(), before);

    // The first snapshot deleted: its one.txt goes; the second's stays until it is deleted too.
    assert.equal(collectSnapshotFolders(store, [b]), 1);
    assert.equal(collectSnapshotFolders(store, []), 1);
    assert.deepEqual(readdirSync(store), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(vm, { recursive: true, force: true });
  }
});
