// Snapshots of a command-line VM: where they go, which names pass, and, on the checksum guest running
// in this process, that a snapshot lets the VM run on to the same answer, that its state goes back
// to that moment on a fresh overlay over a disk left frozen, and that a snapshot that fails leaves
// the VM running on its old disk with no file behind (a disk that cannot be flushed included, whose
// writes the guest keeps, and a name another process took meanwhile, whose file stays). Needs nasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumGuest, runSlices, startGuest } from '../tests/state-guest/state-guest.ts';
import { listSnapshots, revertTarget, snapshotFolder, snapshotNameProblem, takeSnapshot } from './cli-snapshots.ts';
import { createOverlay } from './snapshot-files.ts';
import { readStateHeader, StateFileBuilder } from './state-file.ts';
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
  // Another process (a second `hostbox run` sharing the folder) takes a name after the check and
  // before the state is in place: the snapshot fails, their file stays, the VM runs on on its disk.
  const raced = join(folder, 'raced.hbstate');
  writeFileSync(raced, 'theirs');
  const before = vm.hdaPath;
  await assert.rejects(vm.snapshot(raced, (frozen) => createOverlay(folder, frozen), { name: 'raced' }), /raced\.hbstate exists already/);
  assert.equal(readFileSync(raced, 'utf8'), 'theirs');
  assert.equal(vm.hdaPath, before);
  rmSync(raced);
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

test("a snapshot or suspend whose disk cannot be flushed (a full host disk) is not taken, and the guest runs on with every write it made", async () => {
  for (const op of ['snapshot', 'suspend'] as const) {
    const image = join(scratch, `flush-${op}.qcow2`);
    await Qcow2Image.create(image, { size: 1 << 20 });
    const run = handlers();
    const vm = await VmmHost.start({ memoryMiB: 16, engine: 'interpreter', biosPath: bios, hdaPath: image }, run.h, { mode: 'inprocess' });
    try {
      await until('3 dots', () => dots(run.out()) >= 3);
      type Disk = { handle(r: object): Promise<{ ok: boolean; data?: Uint8Array }>; image: { flush(): Promise<void> } };
      const hda = (): Disk => (vm as unknown as { disks: Map<string, Disk> }).disks.get('hda')!;
      // A write the guest made: in a new cluster, which the image's metadata in memory points to until a flush.
      const data = new Uint8Array(512).fill(0x5a);
      assert.ok((await hda().handle({ tag: 1, disk: 'hda', op: 'write', lba: 1000, count: 1, data })).ok);
      const img = hda().image;
      img.flush = () => Promise.reject(new Error('ENOSPC: no space left on device, write'));
      const file = join(scratch, `flush-${op}.hbstate`);
      await assert.rejects(op === 'snapshot' ? takeSnapshot(vm, join(scratch, 'flush-snaps'), 'full') : vm.suspend(file), /no space left on device/);
      assert.equal(existsSync(op === 'snapshot' ? join(scratch, 'flush-snaps', 'full.hbstate') : file), false);
      delete (img as { flush?: unknown }).flush;
      assert.equal(vm.hdaPath, image);
      const back = await hda().handle({ tag: 2, disk: 'hda', op: 'read', lba: 1000, count: 1 });
      assert.deepEqual(back.data, data, 'the guest reads back what it wrote before the failed save');
      const at = dots(run.out());
      await until('the guest running on', () => dots(run.out()) > at);
    } finally {
      await vm.stop();
    }
    const reopened = await Qcow2Image.open(image, { writable: false });
    const got = new Uint8Array(512);
    await reopened.readAt(got, 1000 * 512);
    await reopened.close();
    assert.deepEqual(got, new Uint8Array(512).fill(0x5a), 'and it reached the image');
  }
});

test('going back to a snapshot whose frozen disk was moved says so in one line, and makes no overlay', async () => {
  const folder = join(scratch, 'moved-snaps');
  mkdirSync(folder);
  const file = join(folder, 'old.hbstate');
  const b = new StateFileBuilder();
  b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(16) });
  const gone = join(scratch, 'moved-away.img');
  await b.write(file, { hostbox: '0.1.0', created: '2026-12-02T00:00:00Z', memoryMiB: 16, config: { memoryMiB: 16, engine: 'interpreter', hdaPath: gone }, disks: [], snapshot: { name: 'old' } });
  await assert.rejects(revertTarget(file), (e: Error) => e.message === `disk image ${gone} does not exist (moved or deleted?)`);
  assert.deepEqual(readdirSync(folder), ['old.hbstate']);
});
