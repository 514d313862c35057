// Snapshots in the app, through the host API, with a real VMM and the counting boot sector
// (tests/boot-sectors/mbr-counter.asm), which keeps its count on its disk: a snapshot of the running
// VM freezes the raw disk under a qcow2 overlay and saves the machine, and the guest runs on;
// reverting to it continues from that count; a snapshot taken powered off boots with the count its
// disk had; deleting the newest snapshot merges the changes down and loses none; every overlay passes
// `qemu-img check` and shows its chain in `qemu-img info --backing-chain`. Needs `npm run build`,
// nasm, SeaBIOS and qemu-img.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import type { HostEvent, VmCreateSettings } from '../main/api-types.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { bootSectorImage } from './boot-sector.ts';
import { withoutHostMarks } from './terminal-text.ts';
import { skipOrFailInCi } from './prerequisites.ts';
import { listing } from '../main/backends/host-folder/mtools-guest.ts';
import { KEPT_DIR } from '../main/backends/host-folder/kept-files.ts';

const root = new URL('..', import.meta.url).pathname;

function skipReason(): string | false {
  if (!existsSync(join(root, 'dist', 'vmm-worker.mjs'))) return skipOrFailInCi('the VMM is not built (npm run build)');
  if (!existsSync(DEFAULT_BIOS.bios)) return skipOrFailInCi('SeaBIOS is not installed (apt-get install seabios)');
  if (spawnSync('qemu-img', ['--version']).status !== 0) return skipOrFailInCi('qemu-img is not installed (apt-get install qemu-utils)');
  return false;
}

async function until(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const counts = (s: string): number[] => [...s.matchAll(/count=(\d+)\r\n/g)].map((m) => Number(m[1]));
const last = (s: string): number => counts(s).at(-1) ?? -1;
/** The count a boot starts from; `printed` is the last count seen before the power-off. The guest writes a count to its disk, then prints it, so a power cut in between leaves the disk one ahead. */
function bootedAt(text: string, printed: number): number {
  const m = /^boot at (\d+)\r\n/.exec(text);
  assert.ok(m, text);
  const n = Number(m[1]);
  assert.ok(n === printed || n === printed + 1, `booted at ${n}, the last count printed was ${printed}`);
  return n;
}

/** The count the guest last wrote to a raw image (sector 2: "CNT!" and a 32-bit count). */
function countOnDisk(path: string): number {
  const b = Buffer.alloc(8);
  const fd = openSync(path, 'r');
  readSync(fd, b, 0, 8, 512);
  closeSync(fd);
  assert.equal(b.subarray(0, 4).toString('latin1'), 'CNT!');
  return b.readUInt32LE(4);
}

function qemuImg(...args: string[]): string {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `qemu-img ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('snapshots: running and powered off, revert continues or reboots from them, deleting merges; qemu-img accepts every overlay', { skip: skipReason(), timeout: 600_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-app-snap-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-app-snap-files-'));
  const base = join(files, 'counter.img');
  writeFileSync(base, bootSectorImage('mbr-counter.asm', 1 << 20));
  const host = createHostApi({ dataDir });
  let out = '';
  /** The last count printed before a snapshot of the running VM, and where its output stood then. */
  let snapping = false;
  let atSnap = { count: -1, mark: 0 };
  host.subscribe((e: HostEvent) => {
    // The host's own marks (powered on, reset, powered off, snapshot taken) are not the guest's output.
    if (e.type === 'serial') out += withoutHostMarks(e.data);
    // The guest pauses for a running snapshot while the VM shows "suspending"; its output before the save is all in when it shows running again.
    if (e.type === 'vm' && e.vm.power === 'suspending') snapping = true;
    if (e.type === 'vm' && e.vm.power === 'running' && snapping) {
      snapping = false;
      atSnap = { count: last(out), mark: out.length };
    }
  });
  const since = (mark: number): string => out.slice(mark);
  try {
    const settings: VmCreateSettings = { ...(await host.api.defaultSettings()), name: 'Counter', memoryMiB: 16, boot: 'disk', hdaPath: base, net: 'none' };
    const r = await host.api.createVm(settings);
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;
    const folder = r.vm.folder;

    // 1. A snapshot of the running VM: its machine state is saved, its disk frozen, and it runs on.
    await host.api.powerOn(id);
    await until('count=3', () => last(out) >= 3);
    let list = await host.api.takeSnapshot(id, 'Running');
    const kSnap = atSnap.count;
    let mark = atSnap.mark;
    assert.equal(list.snapshots.length, 1);
    const running = list.snapshots[0]!;
    assert.deepEqual([running.name, running.withMemory, running.parentId, list.current], ['Running', true, null, running.id]);
    assert.ok(running.bytes > 0);
    assert.equal(host.library.get(id).power, 'running');
    await until('counts after the snapshot', () => last(since(mark)) >= kSnap + 3);
    assert.equal(counts(since(mark))[0], kSnap + 1, since(mark));
    assert.doesNotMatch(since(mark), /boot at/);
    const o1 = host.library.get(id).currentDisk!;
    assert.match(o1, /\.qcow2$/);
    await host.api.powerOff(id);
    const kOff = last(out);
    // The raw disk stopped at the snapshot (the guest may have written the next count without printing it); the overlay holds what came after.
    assert.ok([kSnap, kSnap + 1].includes(countOnDisk(base)), `${countOnDisk(base)} on the disk at the snapshot, ${kSnap} printed`);
    assert.match(qemuImg('check', o1), /No errors were found/);
    const chain = JSON.parse(qemuImg('info', '--output=json', '--backing-chain', o1)) as { filename: string; format: string }[];
    assert.deepEqual(chain.map((c) => [c.filename, c.format]), [[o1, 'qcow2'], [base, 'raw']]);

    // 2. A snapshot powered off: no machine state; the next boot reads the count from the disk.
    await assert.rejects(host.api.takeSnapshot(id, '  '), /give the snapshot a name/);
    list = await host.api.takeSnapshot(id, 'Off');
    const off = list.snapshots.find((s) => s.name === 'Off')!;
    assert.deepEqual([off.withMemory, off.parentId, list.current], [false, running.id, off.id]);
    mark = out.length;
    await host.api.powerOn(id);
    await until('the boot after the powered-off snapshot', () => last(since(mark)) >= kOff + 3);
    const diskAtOff = bootedAt(since(mark), kOff);
    await host.api.powerOff(id);

    // 3. Revert to the running snapshot: suspended, and Power on continues from its count.
    await assert.rejects(host.api.deleteSnapshot(id, running.id), /later snapshots build on Running: delete them first/);
    list = await host.api.revertSnapshot(id, running.id);
    assert.equal(list.current, running.id);
    assert.equal(host.library.get(id).power, 'suspended');
    await assert.rejects(host.api.takeSnapshot(id, 'x'), /is suspended/);
    mark = out.length;
    await host.api.powerOn(id);
    await until('counts after the revert', () => last(since(mark)) >= kSnap + 3);
    assert.equal(counts(since(mark))[0], kSnap + 1, since(mark));
    assert.doesNotMatch(since(mark), /boot at/);
    // Reverting a running VM powers it off first.
    list = await host.api.revertSnapshot(id, off.id);
    assert.equal(host.library.get(id).power, 'off');
    mark = out.length;
    await host.api.powerOn(id);
    await until('the boot after reverting to the powered-off snapshot', () => last(since(mark)) >= diskAtOff + 2);
    assert.match(since(mark), new RegExp(`^boot at ${diskAtOff}\\r\\n`), 'the disk is as it was at the powered-off snapshot');
    await until('a few counts more', () => last(since(mark)) >= diskAtOff + 4);
    await host.api.powerOff(id);
    const kBeforeDelete = last(out);
    const overlays = readdirSync(folder).filter((f) => f.endsWith('.qcow2'));
    // The running snapshot's overlay (the off snapshot's disk) and the present one; the one left by the first revert is gone.
    assert.equal(overlays.length, 2, overlays.join(' '));
    for (const f of overlays) assert.match(qemuImg('check', join(folder, f)), /No errors were found/);

    // 4. Deleting the newest snapshot (the one the VM descends from) merges its changes down: nothing lost.
    list = await host.api.deleteSnapshot(id, off.id);
    assert.deepEqual([list.snapshots.map((s) => s.name), list.current], [['Running'], running.id]);
    assert.equal(host.library.get(id).currentDisk, o1);
    assert.match(qemuImg('check', o1), /No errors were found/);
    mark = out.length;
    await host.api.powerOn(id);
    await until('the boot after the delete', () => counts(since(mark)).length > 0);
    bootedAt(since(mark), kBeforeDelete);
    await host.api.powerOff(id);
    const kEnd = last(out);
    // And the last one merges into the raw disk itself.
    list = await host.api.deleteSnapshot(id, running.id);
    assert.deepEqual([list.snapshots, list.current], [[], null]);
    assert.equal(host.library.get(id).currentDisk, undefined);
    assert.deepEqual(readdirSync(folder).filter((f) => f.endsWith('.qcow2') || f.endsWith('.hbstate')), []);
    assert.ok([kEnd, kEnd + 1].includes(countOnDisk(base)), `${countOnDisk(base)} on the disk, ${kEnd} printed last`);
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});

test('the snapshot tree powered off: a branch after a revert, a leaf the VM is not at is dropped with its files, one with later snapshots is kept', { skip: skipReason(), timeout: 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-app-snaptree-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-app-snaptree-files-'));
  const base = join(files, 'disk.img');
  writeFileSync(base, new Uint8Array(4 << 20));
  const host = createHostApi({ dataDir });
  try {
    const r = await host.api.createVm({ ...(await host.api.defaultSettings()), name: 'Tree', memoryMiB: 16, boot: 'disk', hdaPath: base, net: 'none' });
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;
    const qcow2s = (): string[] => readdirSync(r.vm.folder).filter((f) => f.endsWith('.qcow2')).sort();
    const a = (await host.api.takeSnapshot(id, 'A')).snapshots[0]!;
    let list = await host.api.takeSnapshot(id, 'B');
    const b = list.snapshots.find((s) => s.name === 'B')!;
    assert.deepEqual([a.withMemory, b.parentId, list.current], [false, a.id, b.id]);
    assert.equal(qcow2s().length, 2, 'B froze the overlay A put on the disk; the VM writes a new one');
    // Back to A, then a branch: C also builds on A.
    await host.api.revertSnapshot(id, a.id);
    list = await host.api.takeSnapshot(id, 'C');
    const c = list.snapshots.find((s) => s.name === 'C')!;
    assert.deepEqual([c.parentId, list.current], [a.id, c.id]);
    assert.equal(qcow2s().length, 3);
    // B is a leaf the VM is not at: its frozen overlay goes, and nothing else.
    const bDisk = host.library.snapshot(id, b.id).disk;
    list = await host.api.deleteSnapshot(id, b.id);
    assert.deepEqual(list.snapshots.map((s) => s.name), ['A', 'C']);
    assert.equal(existsSync(bDisk), false);
    assert.equal(qcow2s().length, 2);
    await assert.rejects(host.api.deleteSnapshot(id, a.id), /later snapshots build on A: delete them first/);
    await assert.rejects(host.api.revertSnapshot(id, 'no-such-snapshot'), /Tree has no snapshot with id no-such-snapshot/);
    // The hard disk cannot change under snapshots.
    const upd = await host.api.updateVm(id, { ...host.library.get(id), hdaPath: '' });
    assert.ok(!upd.ok && /snapshots over this hard disk/.test(upd.errors[0]!.message), JSON.stringify(upd));
    for (const f of qcow2s()) assert.match(qemuImg('check', join(r.vm.folder, f)), /No errors were found/);
    // Deleting the VM deletes its overlays and its snapshot rows; the disk outside stays.
    await host.api.deleteVm(id);
    assert.equal(existsSync(r.vm.folder), false);
    assert.ok(existsSync(base));
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});

test('a running snapshot with a host folder: its files are kept, the folder is not written, a revert undoes nothing on the host, a damaged snapshot is refused', { skip: skipReason(), timeout: 300_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-app-snapfolder-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-app-snapfolder-files-'));
  const shared = join(files, 'shared');
  const base = join(files, 'counter.img');
  writeFileSync(base, bootSectorImage('mbr-counter.asm', 1 << 20));
  const host = createHostApi({ dataDir });
  let out = '';
  host.subscribe((e: HostEvent) => {
    if (e.type === 'serial') out += e.data;
  });
  try {
    rmSync(shared, { recursive: true, force: true });
    mkdirSync(shared);
    writeFileSync(join(shared, 'report.txt'), 'as at the snapshot\n');
    writeFileSync(join(shared, 'notes.txt'), 'notes\n');
    const settings: VmCreateSettings = { ...(await host.api.defaultSettings()), name: 'Folder', memoryMiB: 16, boot: 'disk', hdaPath: base, net: 'none', folders: [{ path: shared, readOnly: false }] };
    const r = await host.api.createVm(settings);
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;
    const store = join(r.vm.folder, KEPT_DIR);

    await host.api.powerOn(id);
    await until('count=2', () => last(withoutHostMarks(out)) >= 2);
    const before = listing(shared);
    const snap = (await host.api.takeSnapshot(id, 'With folder')).snapshots[0]!;
    assert.equal(host.library.get(id).power, 'running');
    assert.deepEqual(listing(shared), before, 'taking the snapshot wrote nothing to the folder');
    // Each file the folder disk reads is kept as a hard link (the data folder is on the same file system here).
    const inodes = readdirSync(store).map((n) => statSync(join(store, n)).ino).sort();
    assert.deepEqual(inodes, ['notes.txt', 'report.txt'].map((n) => statSync(join(shared, n)).ino).sort());
    await host.api.powerOff(id);

    // The host moves on as a sync would move it: report.txt replaced by a new file, notes.txt deleted, one created.
    writeFileSync(join(shared, '.new'), 'as a later sync left it\n');
    renameSync(join(shared, '.new'), join(shared, 'report.txt'));
    rmSync(join(shared, 'notes.txt'));
    writeFileSync(join(shared, 'later.txt'), 'made after the snapshot\n');
    const hostNow = listing(shared);

    // A damaged snapshot state: one line, and the VM keeps its present state and disk.
    const state = host.library.snapshot(id, snap.id).state;
    const good = readFileSync(state);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] ^= 0xff;
    writeFileSync(state, bad);
    const disk = host.library.get(id).currentDisk;
    await assert.rejects(host.api.revertSnapshot(id, snap.id), (e: Error) => /^cannot revert to With folder: .*damaged/.test(e.message) && !e.message.includes('\n'));
    assert.deepEqual([host.library.get(id).power, host.library.get(id).currentDisk], ['off', disk]);
    writeFileSync(state, good);

    // Reverted and resumed: the folder disk reads the kept files (no warning that they changed), and the host keeps its files.
    await host.api.revertSnapshot(id, snap.id);
    assert.equal(host.library.get(id).power, 'suspended');
    const mark = out.length;
    await host.api.powerOn(id);
    const resumedAt = last(withoutHostMarks(out));
    await until('counts after the revert', () => last(withoutHostMarks(out.slice(mark))) >= resumedAt + 2);
    assert.doesNotMatch(out.slice(mark), /changed on the host/);
    assert.deepEqual(listing(shared), hostNow, 'the revert changed nothing on the host');
    await host.api.powerOff(id);

    // Deleted, the snapshot's kept files go with it.
    await host.api.deleteSnapshot(id, snap.id);
    assert.deepEqual(readdirSync(store), []);
    assert.deepEqual(listing(shared), hostNow);
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});
