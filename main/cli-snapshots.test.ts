// Snapshots of a command-line VM: where they go, which names pass, and, on the checksum guest running
// in this process, that a snapshot lets the VM run on to the same answer, that its state goes back
// to that moment on a fresh overlay over a disk left frozen, and that a snapshot that fails leaves
// the VM running on its old disk with no file behind. Needs nasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumGuest, runSlices, startGuest } from '../tests/state-guest/state-guest.ts';
import { listSnapshots, revertTarget, snapshotFolder, snapshotNameProblem, takeSnapshot } from './cli-snapshots.ts';
import { readStateHeader } from './state-file.ts';
import { Qcow2Image } from './backends/qcow2/qcow2.ts';
import { VmmHost, type VmHandlers } from './vmm-host.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hostbox-cli-snapshots-'));
const bios = join(scratch, 'checksum.bin');
writeFileSync(bios, checksumGuest({ ROUNDS: 60 }));
const disk = join(scratch, 'disk.img');
writeFileSync(disk, new Uint8Array(1 << 20).map((_, i) => (i * 13) & 0xff));

const answerOf = (s: string): string | undefined => /sum=[0-9a-f]{8} fpu=[0-9a-f]{8}/.exec(s)?.[0];

/** The checksum guest in this process; `out` is its COM1 output, `off` resolves at power-off. */
function handlers(): { h: VmHandlers; out: () => string; off: Promise<void> } {
  let text = '';
  let done: () => void = () => {};
  const off = new Promise<void>((r) => (done = r));
  const h: VmHandlers = {
    serial: (port, d) => {
      if (port === 0) text += Buffer.from(d).toString('latin1');
    },
    screen: () => {},
    state: (s) => {
      if (s === 'poweroff') done();
    },
  };
  return { h, out: () => text, off };
}

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const dots = (s: string): number => s.split('.').length - 1;

test('snapshot folders: --snapshots, the folder of an overlay already made, beside the disk, or the current folder', () => {
  assert.equal(snapshotFolder('/x/snaps', '/d/disk.img'), '/x/snaps');
  assert.equal(snapshotFolder(undefined, '/d/disk.img.snapshots/disk-0123456789ab.qcow2'), '/d/disk.img.snapshots');
  assert.equal(snapshotFolder(undefined, '/d/disk.img'), '/d/disk.img.snapshots');
  assert.equal(snapshotFolder(undefined, undefined, '/home/u'), '/home/u/hostbox-snapshots');
});

test('snapshot names are plain file names', () => {
  for (const ok of ['a', 'before-upgrade', 'v1.2_rc', 'X'.repeat(64)]) assert.equal(snapshotNameProblem(ok), null, ok);
  for (const bad of ['', '.hidden', '../x', 'a/b', 'sp ace', 'X'.repeat(65), '-flag', 7, null]) assert.ok(snapshotNameProblem(bad), String(bad));
});

test('a running VM snapshots and runs on to the same answer; its state goes back to that moment, on a fresh overlay, as often as wanted', async () => {
  const ref = startGuest(new Uint8Array(readFileSync(bios)));
  assert.ok(runSlices(ref));
  const answer = answerOf(ref.output());
  assert.ok(answer);

  const folder = join(scratch, 'snaps');
  const run = handlers();
  const vm = await VmmHost.start({ memoryMiB: 16, engine: 'interpreter', biosPath: bios, hdaPath: disk }, run.h, { mode: 'inprocess' });
  await until('10 dots', () => dots(run.out()) >= 10);
  const r = await takeSnapshot(vm, folder, 'mid');
  assert.equal(r.file, join(folder, 'mid.hbstate'));
  assert.equal(r.frozenDisk, disk);
  assert.equal(vm.hdaPath, r.hdaPath);
  const overlay = await Qcow2Image.open(r.hdaPath!, { writable: false });
  assert.equal(overlay.size, 1 << 20);
  await overlay.close();
  await assert.rejects(takeSnapshot(vm, folder, 'mid'), /exists already/);
  const second = await takeSnapshot(vm, folder, 'later', 'mid');
  assert.equal(second.frozenDisk, r.hdaPath, 'the second freezes the first overlay');
  await run.off;
  assert.equal(answerOf(run.out()), answer, 'the VM ran on through its snapshots to the answer');
  assert.equal(dots(run.out()), 60);

  const header = readStateHeader(r.file);
  assert.deepEqual(header.snapshot, { name: 'mid' });
  assert.equal(header.config.hdaPath, disk);
  assert.deepEqual(
    listSnapshots(folder).map((s) => [s.name, s.parent ?? null]),
    [
      ['mid', null],
      ['later', 'mid'],
    ],
  );

  for (let i = 0; i < 2; i++) {
    const back = await revertTarget(r.file);
    assert.ok(back?.hdaPath && back.hdaPath !== r.hdaPath && existsSync(back.hdaPath), 'a fresh overlay each time');
    const again = handlers();
    const resumed = await VmmHost.resume(r.file, again.h, { mode: 'inprocess', hdaPath: back.hdaPath });
    assert.equal(resumed.hdaPath, back.hdaPath);
    await again.off;
    assert.equal(answerOf(again.out()), answer);
    assert.ok(dots(again.out()) <= 50, `went back to the snapshot: ${dots(again.out())} dots after it`);
  }
});

test('a snapshot whose state or overlay cannot be written is not taken: no file, and the VM runs on on its old disk', async () => {
  const run = handlers();
  const vm = await VmmHost.start({ memoryMiB: 16, engine: 'interpreter', biosPath: bios, hdaPath: disk }, run.h, { mode: 'inprocess' });
  await until('5 dots', () => dots(run.out()) >= 5);
  const failures: [string, () => Promise<string>, RegExp][] = [
    [join(scratch, 'no-such-folder', 'x.hbstate'), async () => 'unused', /cannot write the state next to/],
    [
      join(scratch, 'x.hbstate'),
      async () => {
        throw new Error('no space left on device');
      },
      /the snapshot was not taken: no space left on device/,
    ],
  ];
  for (const [file, overlay, why] of failures) {
    await assert.rejects(vm.snapshot(file, overlay), why);
    assert.equal(existsSync(file), false);
    assert.equal(vm.hdaPath, disk);
    const at = dots(run.out());
    await until('the guest running on', () => dots(run.out()) > at);
  }
  // Its disk is open again: a suspend records it (and so needs it).
  const r = await vm.suspend(join(scratch, 'after-failure.hbstate'));
  assert.equal(readStateHeader(r.file).disks[0]!.path, disk);
});
