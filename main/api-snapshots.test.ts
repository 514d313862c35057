// Snapshot operations through the host API when they are cut off or handed the wrong files: a kill
// between any two of a revert's library writes, a kill while a VM shows as suspending, a frozen disk
// changed or moved outside Hostbox, host files that cannot be kept, a merge into (or a freeze of) an
// image someone else uses, names that would write control sequences into the console, and a sync to
// the host still pending when a revert stops the VM (that one on a real VmmHost). The "VMM" is a stand-in
// that writes real state files and qcow2 overlays (as VmmHost.suspend and VmmHost.snapshot do), so
// every check is on the files and the library a next start would find.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';
import { createHostApi, type VmmLauncher } from './api.ts';
import type { VmCreateSettings } from './api-types.ts';
import { fakeVmmLauncher } from './fake-vmm-launcher.ts';
import { VmLibrary } from './library/library.ts';
import { Qcow2Image, isQcow2 } from './backends/qcow2/qcow2.ts';
import { ImageLock } from './backends/image-lock.ts';
import { FolderDisk } from './backends/host-folder/folder-disk.ts';
import { folderSections } from './backends/host-folder/folder-state.ts';
import { KEPT_DIR } from './backends/host-folder/kept-files.ts';
import { readFatVolume } from './backends/host-folder/fat-reader.ts';
import { checkDisks, diskIdentity, readStateHeader, StateFileBuilder } from './state-file.ts';
import { VmmHost, type SnapshotResult } from './vmm-host.ts';

function scratch(): { dataDir: string; files: string; kernel: string; hda: string; done(): void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-apisnap-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-apisnap-files-'));
  const kernel = join(files, 'vmlinuz');
  writeFileSync(kernel, fakeBzImage());
  const hda = join(files, 'disk.img');
  writeFileSync(hda, new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff));
  return {
    dataDir,
    files,
    kernel,
    hda,
    done: () => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    },
  };
}

/**
 * The stand-in VMM with what the API needs of a real one for snapshots: suspend writes a state
 * naming the disk it ran on; a snapshot writes its state, then has the overlay made and runs on it
 * (on failure: the state goes, and it runs on its old disk). `hang` makes the next suspend or
 * snapshot never finish, as when the host is killed in the middle of one.
 */
function statefulLauncher(): VmmLauncher & { disk(): string | undefined; guestWrites(byte: number): Promise<void>; hang: { suspend: boolean; snapshot: boolean } } {
  const echo = fakeVmmLauncher();
  let current: string | undefined;
  const hang = { suspend: false, snapshot: false };
  const writeState = async (path: string, spec: Parameters<VmmLauncher>[0], folders: { slot: string; disk: FolderDisk }[]): Promise<number> => {
    const b = new StateFileBuilder();
    b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(16) });
    for (const f of folders) for (const s of folderSections(f.slot, f.disk)) b.addSection(s);
    const disks = current ? [diskIdentity('hda', current)] : [];
    return b.write(path, { hostbox: '0.1.0', created: new Date().toISOString(), memoryMiB: spec.memoryMiB, config: { ...spec, hdaPath: current }, disks });
  };
  const launch: VmmLauncher = async (spec, handlers, resume) => {
    const vmm = await echo(spec, handlers, resume);
    current = resume?.hda ?? spec.hdaPath;
    const folders = (spec.folders ?? []).map((f, i) => ({
      slot: ['hdb', 'hdd'][i]!,
      disk: new FolderDisk(f.path, ['hdb', 'hdd'][i]!, { readOnly: f.readOnly, overlayDir: spec.folderOverlayDir, keptDir: spec.folderOverlayDir && join(spec.folderOverlayDir, KEPT_DIR), freeBytes: 4 << 20 }),
    }));
    const never = new Promise<never>(() => {});
    return {
      ...vmm,
      async stop() {
        for (const f of folders) f.disk.close();
        await vmm.stop();
      },
      async suspend(path: string) {
        if (hang.suspend) return never;
        const bytes = await writeState(path, spec, folders);
        for (const f of folders) f.disk.close();
        return { file: path, bytes, ms: 1 };
      },
      async snapshot(path: string, make: (frozen: string) => Promise<string>): Promise<SnapshotResult> {
        if (hang.snapshot) return never;
        const bytes = await writeState(path, spec, folders);
        const frozen = current;
        if (!frozen) return { file: path, bytes, ms: 1 };
        try {
          current = await make(frozen);
        } catch (e) {
          rmSync(path, { force: true });
          throw new Error(`the snapshot was not taken: ${(e as Error).message}`);
        }
        return { file: path, bytes, ms: 1, frozenDisk: frozen, hdaPath: current };
      },
    };
  };
  return Object.assign(launch, {
    hang,
    disk: () => current,
    /** What the guest writes to its hard disk: a sector of `byte` at 64 KiB. */
    async guestWrites(byte: number): Promise<void> {
      const data = new Uint8Array(512).fill(byte);
      if (await isQcow2(current!)) {
        const img = await Qcow2Image.open(current!, { writable: true });
        await img.writeAt(data, 65536);
        await img.close();
      } else {
        const fd = openSync(current!, 'r+');
        writeSync(fd, data, 0, data.length, 65536);
        closeSync(fd);
      }
    },
  });
}

type Scratch = ReturnType<typeof scratch>;
type HostApi = ReturnType<typeof createHostApi>;
type Launcher = ReturnType<typeof statefulLauncher>;

/** Runs `body` against a host on fresh scratch files and the stand-in VMM; closes and removes them after, whatever happens. */
async function withHost(body: (s: Scratch, host: HostApi, launcher: Launcher) => Promise<void>): Promise<void> {
  const s = scratch();
  const launcher = statefulLauncher();
  const host = createHostApi({ dataDir: s.dataDir, launcher });
  try {
    await body(s, host, launcher);
  } finally {
    await host.close().catch(() => {});
    s.done();
  }
}

async function settings(host: HostApi, kernel: string, over: Partial<VmCreateSettings> = {}): Promise<VmCreateSettings> {
  return { ...(await host.api.defaultSettings()), name: 'Guest', kernelPath: kernel, ...over };
}

/** The library writes a snapshot operation makes, each of which a kill may come just before. */
const LIBRARY_WRITES = ['setPower', 'setCurrent', 'addSnapshot', 'removeSnapshot'] as const;

/** Makes the `n`th library write from now on throw before it happens, as a kill there would leave things. */
function killAt(library: VmLibrary, n: number): { reached(): boolean } {
  let count = 0;
  let hit = false;
  for (const m of LIBRARY_WRITES) {
    const orig = (library[m] as (...a: unknown[]) => unknown).bind(library);
    (library as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      if (++count === n) {
        hit = true;
        throw new Error(`killed before library write ${n} (${m})`);
      }
      return orig(...a);
    };
  }
  return { reached: () => hit };
}

/**
 * What the next start finds is sound: a VM shown suspended has a state that fits the disk the
 * library names (the state's own disk, or a fresh overlay over the disk the snapshot froze), the
 * current disk exists, and every snapshot's files exist and are unchanged.
 */
async function assertSound(dataDir: string, id: string, why: string): Promise<void> {
  const lib = VmLibrary.open(dataDir);
  try {
    const vm = lib.get(id);
    const disk = vm.currentDisk || vm.hdaPath;
    if (disk) assert.ok(existsSync(disk), `${why}: the library names ${disk} as the current disk, which does not exist`);
    for (const r of lib.snapshots(id)) {
      if (r.disk) assert.ok(existsSync(r.disk), `${why}: snapshot ${r.name}'s disk ${r.disk} is gone`);
      if (r.state) {
        assert.ok(existsSync(r.state), `${why}: snapshot ${r.name}'s state ${r.state} is gone`);
        checkDisks(r.state, readStateHeader(r.state).disks);
      }
    }
    if (vm.power !== 'suspended') return;
    const h = readStateHeader(lib.statePath(id));
    checkDisks(lib.statePath(id), h.disks);
    if (h.config.hdaPath === disk) return;
    const img = await Qcow2Image.open(disk, { writable: false });
    try {
      assert.equal(img.backingPath, h.config.hdaPath, `${why}: the VM would resume a state of ${h.config.hdaPath} on ${disk}, which is not over it`);
      assert.deepEqual(await img.allocatedRanges(), [], `${why}: the VM would resume the snapshot's state on ${disk}, which holds writes made after the snapshot`);
    } finally {
      await img.close();
    }
  } finally {
    lib.close();
  }
}

test('a revert cut off before any of its library writes leaves a VM that resumes only a state fitting its disk', async () => {
  for (const before of ['suspended', 'off', 'running'] as const) {
    for (let n = 1; ; n++) {
      let done = false;
      await withHost(async (s, host, launcher) => {
        const r = await host.api.createVm(await settings(host, s.kernel, { hdaPath: s.hda }));
        assert.ok(r.ok);
        const id = r.vm.id;
        await host.api.powerOn(id);
        await launcher.guestWrites(1);
        await host.api.takeSnapshot(id, 'one');
        const snap = host.library.snapshots(id)[0]!;
        // The guest goes on writing after the snapshot: the present disk is not the snapshot's.
        await launcher.guestWrites(2);
        if (before === 'suspended') await host.api.suspendVm(id);
        else if (before === 'off') await host.api.powerOff(id);
        const kill = killAt(host.library, n);
        await host.api.revertSnapshot(id, snap.id).catch((e: Error) => assert.match(e.message, /killed before library write/));
        done = !kill.reached();
        await assertSound(s.dataDir, id, `${before}, killed before library write ${n}`);
      });
      if (done) break;
    }
  }
});

test('a host cut off while a VM shows as suspending never finds an older state file and resumes it', async () => {
  for (const op of ['suspend', 'snapshot'] as const) {
    await withHost(async (s, host, launcher) => {
      const r = await host.api.createVm(await settings(host, s.kernel, { hdaPath: s.hda }));
      assert.ok(r.ok);
      const id = r.vm.id;
      await host.api.powerOn(id);
      await host.api.takeSnapshot(id, 'one');
      await host.api.powerOff(id);
      // A state left where the suspended state goes, from another moment: a revert cut off after it
      // put the snapshot's state there, or a resume whose state could not be deleted.
      copyFileSync(host.library.snapshots(id)[0]!.state, host.library.statePath(id));
      await host.api.powerOn(id);
      await launcher.guestWrites(3);
      launcher.hang[op] = true;
      // The host is killed while the suspend or snapshot is under way.
      void (op === 'suspend' ? host.api.suspendVm(id) : host.api.takeSnapshot(id, 'two')).catch(() => {});
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(host.library.get(id).power, 'suspending');
      const again = VmLibrary.open(s.dataDir);
      try {
        assert.notEqual(again.get(id).power, 'suspended', `after a kill during a ${op}, the VM shows as suspended in a state from before`);
      } finally {
        again.close();
      }
    });
  }
});

test('a revert to a snapshot whose disk was changed or moved since is refused by name, before the running VM is stopped', async () => {
  for (const how of ['changed, off', 'changed, running', 'moved, off', 'moved, running'] as const) {
    await withHost(async (s, host, launcher) => {
      const r = await host.api.createVm(await settings(host, s.kernel, { hdaPath: s.hda }));
      assert.ok(r.ok);
      const id = r.vm.id;
      if (how.endsWith('running')) await host.api.powerOn(id);
      await host.api.takeSnapshot(id, 'one');
      const snap = host.library.snapshots(id)[0]!;
      assert.equal(snap.disk, s.hda);
      if (!how.endsWith('running')) await host.api.powerOn(id);
      await launcher.guestWrites(4);
      // The frozen image is changed, or moved, outside Hostbox (another program, `hostbox run --hda` on it).
      if (how.startsWith('changed')) {
        const fd = openSync(s.hda, 'r+');
        writeSync(fd, new Uint8Array(512).fill(0xee), 0, 512, 4096);
        closeSync(fd);
      } else renameSync(s.hda, `${s.hda}.moved`);
      const before = host.library.get(id);
      await assert.rejects(host.api.revertSnapshot(id, snap.id), (e: Error) => {
        assert.match(e.message, /^cannot revert to one: /);
        assert.ok(e.message.includes(s.hda), e.message);
        assert.match(e.message, how.startsWith('changed') ? /changed/ : /gone|does not exist/);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      const after = host.library.get(id);
      assert.equal(after.power, 'running', 'the present was not given up for a snapshot that cannot be had');
      assert.equal(after.currentDisk, before.currentDisk);
      assert.equal(launcher.disk(), before.currentDisk);
      assert.ok(existsSync(before.currentDisk!));
    });
  }
});

test('a running snapshot whose host files cannot be kept is kept, says so, and the library names the disk the VM runs on', async () => {
  await withHost(async (s, host, launcher) => {
    const shared = join(s.files, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'a.txt'), 'a\n');
    const r = await host.api.createVm(await settings(host, s.kernel, { hdaPath: s.hda, folders: [{ path: shared, readOnly: false }] }));
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;
    await host.api.powerOn(id);
    // The store cannot be made (a file stands where it goes; a full disk or a read-only folder fails the same way).
    writeFileSync(join(r.vm.folder, KEPT_DIR), 'in the way');
    const list = await host.api.takeSnapshot(id, 'one');
    const vm = host.library.get(id);
    assert.equal(vm.currentDisk || vm.hdaPath, launcher.disk(), 'the library names the disk the VM runs on');
    assert.equal(list.snapshots.length, 1);
    assert.ok(existsSync(host.library.snapshots(id)[0]!.state));
    assert.equal(vm.power, 'running');
    assert.match((await host.api.serialLog(id)).text, /the host folder files snapshot one reads could not be kept \(.*\): reverting to it, the guest reads them as the host has them then/);
  });
});

test('deleting the snapshot a VM descends from does not merge into an image another VM or program uses', async () => {
  await withHost(async (s, host, launcher) => {
    const a = await host.api.createVm(await settings(host, s.kernel, { name: 'Alpha', hdaPath: s.hda }));
    const b = await host.api.createVm(await settings(host, s.kernel, { name: 'Beta', hdaPath: s.hda }));
    assert.ok(a.ok && b.ok);
    await host.api.takeSnapshot(a.vm.id, 'one');
    await host.api.powerOn(a.vm.id);
    await launcher.guestWrites(5);
    await host.api.powerOff(a.vm.id);
    const snap = host.library.snapshots(a.vm.id)[0]!;
    const image = readFileSync(s.hda);

    // `hostbox run --hda` (or anything else holding its lock) runs on the image.
    const lock = ImageLock.acquire(s.hda, 'hostbox run (pid 1)', 'disk image');
    try {
      await assert.rejects(host.api.deleteSnapshot(a.vm.id, snap.id), /disk\.img is in use by hostbox run/);
    } finally {
      lock.release();
    }
    assert.ok(readFileSync(s.hda).equals(image), 'nothing was written into an image in use');

    // Beta's snapshots build on the same image: merging Alpha's changes into it would change Beta's.
    await host.api.takeSnapshot(b.vm.id, 'beta-one');
    await assert.rejects(host.api.deleteSnapshot(a.vm.id, snap.id), /Beta/);
    assert.ok(readFileSync(s.hda).equals(image), "nothing was written under Beta's snapshots");
    assert.equal(host.library.snapshots(a.vm.id).length, 1);
    assert.ok(existsSync(host.library.get(a.vm.id).currentDisk!));

    // Beta cannot merge into it either, for Alpha's sake; once Beta is gone, Alpha's merge goes ahead.
    await assert.rejects(host.api.deleteSnapshot(b.vm.id, host.library.snapshots(b.vm.id)[0]!.id), /Alpha/);
    await host.api.deleteVm(b.vm.id);
    await host.api.deleteSnapshot(a.vm.id, snap.id);
    assert.equal(readFileSync(s.hda)[65536], 5);
  });
});

test('a snapshot does not freeze an image another VM runs on, and a VM does not run on an image another VM froze', async () => {
  await withHost(async (s, host) => {
    const a = await host.api.createVm(await settings(host, s.kernel, { name: 'Alpha', hdaPath: s.hda }));
    const b = await host.api.createVm(await settings(host, s.kernel, { name: 'Beta', hdaPath: s.hda }));
    assert.ok(a.ok && b.ok);
    // Beta running on the image holds its lock (the stand-in VMM takes none, so the test takes it for Beta).
    const lock = ImageLock.acquire(s.hda, 'VM "Beta" in the Hostbox app', 'disk image');
    try {
      await assert.rejects(host.api.takeSnapshot(a.vm.id, 'one'), /the snapshot was not taken: disk image .*disk\.img is in use by VM "Beta"/);
    } finally {
      lock.release();
    }
    assert.deepEqual(host.library.snapshots(a.vm.id), []);
    await host.api.takeSnapshot(a.vm.id, 'one');
    const image = readFileSync(s.hda);
    await assert.rejects(host.api.powerOn(b.vm.id), (e: Error) => /Beta's hard disk .*disk\.img is frozen under the snapshots of VM "Alpha"/.test(e.message) && !e.message.includes('\n'));
    assert.equal(host.library.get(b.vm.id).power, 'off');
    assert.ok(readFileSync(s.hda).equals(image));
    // Alpha runs on its overlay, which only reads the image.
    await host.api.powerOn(a.vm.id);
    await host.api.powerOff(a.vm.id);
  });
});

test('snapshot names that would write control sequences into the console are refused with one line', async () => {
  await withHost(async (s, host) => {
    const r = await host.api.createVm(await settings(host, s.kernel, { hdaPath: s.hda }));
    assert.ok(r.ok);
    await host.api.powerOn(r.vm.id);
    for (const bad of ['a\x1b]0;owned\x07', 'two\nlines', 'bell\x07', 'c1\u009b31m', 'rtl\u202eexe.txt'])
      await assert.rejects(host.api.takeSnapshot(r.vm.id, bad), (e: Error) => /snapshot name/.test(e.message) && !e.message.includes('\n'));
    assert.deepEqual(host.library.snapshots(r.vm.id), []);
    await host.api.takeSnapshot(r.vm.id, 'before upgrade (ok)');
    assert.equal(host.library.snapshots(r.vm.id)[0]!.name, 'before upgrade (ok)');
  });
});

test('a sync to the host pending when the VM is stopped (a revert, a power-off) writes nothing from the closed folder disk', async () => {
  const s = scratch();
  const shared = join(s.files, 'shared');
  mkdirSync(shared);
  for (const n of ['a.txt', 'b.txt']) writeFileSync(join(shared, n), `${n}\n`);
  const vm = await VmmHost.start(
    { memoryMiB: 16, engine: 'interpreter', kernelPath: s.kernel, folders: [{ path: shared, readOnly: false }], folderOverlayDir: s.files },
    { serial: () => {}, screen: () => {}, state: () => {} },
    { mode: 'inprocess', fake: 'echo' },
  );
  try {
    const disk = vm.folders[0]!.disk;
    const read = (l: number, c: number): Uint8Array => disk.read(l, c);
    const vol = readFatVolume(read, disk.info.sectors);
    assert.equal(vol.root.children.length, 2);
    // The guest rewrites its root directory as it was (a timestamp update would do the same): the sector is in the overlay, to be synced.
    const rootLba = rootDirLba(read, vol);
    assert.ok(disk.handle({ tag: 1, disk: 'hdb', op: 'write', lba: rootLba, count: 1, data: read(rootLba, 1) }).ok);
    const sync = vm.syncFoldersNow();
    await vm.stop();
    // The host opens a file at once (another VM's disk, the revert's new overlay): it takes the lowest free descriptor.
    const zeros = join(s.files, 'zeros');
    writeFileSync(zeros, '');
    truncateSync(zeros, disk.info.sectors * 512);
    const fd = openSync(zeros, 'r');
    try {
      const result = await sync.then(
        (r) => r.map((x) => x.error?.message ?? 'synced').join('; '),
        (e: Error) => e.message,
      );
      assert.deepEqual(readdirSync(shared).sort(), ['a.txt', 'b.txt'], `the folder lost files to a sync of a closed disk (${result})`);
      assert.match(result, /stopped|powered off/, 'the sync says it did not happen');
    } finally {
      closeSync(fd);
    }
  } finally {
    await vm.stop();
    s.done();
  }
});

/** The first sector of a FAT volume's root directory. */
function rootDirLba(read: (l: number, c: number) => Uint8Array, vol: ReturnType<typeof readFatVolume>): number {
  if (vol.fatType === 32) return vol.clusterLba(vol.root.cluster);
  const bs = read(vol.partitionStart, 1);
  const dv = new DataView(bs.buffer, bs.byteOffset);
  return vol.partitionStart + dv.getUint16(14, true) + bs[16]! * dv.getUint16(22, true);
}
