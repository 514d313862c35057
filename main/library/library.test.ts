import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { fakeBzImage } from '../../vmm/boot/fake-bzimage.ts';
import type { VmCreateSettings } from '../api-types.ts';
import { LIBRARY_FILE, NEW_DISK_FILE, SUSPEND_FILE, VmLibrary } from './library.ts';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.ts';
import { defaultSettings } from './vm-settings.ts';
import { resolveDataDir } from './data-dir.ts';
import { macForVm } from '../backends/nat/forward-spec.ts';

const pty = { ptyUnavailable: () => null };

function scratch(): { dir: string; files: string; kernel: string; initrd: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-lib-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-files-'));
  const kernel = join(files, 'vmlinuz');
  const initrd = join(files, 'initrd.img');
  writeFileSync(kernel, fakeBzImage());
  writeFileSync(initrd, 'initrd bytes');
  return {
    dir,
    files,
    kernel,
    initrd,
    done: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    },
  };
}

function settings(s: { kernel: string; initrd: string }, over: Partial<VmCreateSettings> = {}): VmCreateSettings {
  return { ...defaultSettings(), name: 'Debian', kernelPath: s.kernel, initrdPath: s.initrd, ...over };
}

test('a VM is stored with its settings and a folder of its own, and is there after reopening', () => {
  const s = scratch();
  try {
    let lib = VmLibrary.open(s.dir);
    const r = lib.create(settings(s, { memoryMiB: 128, cmdline: 'console=ttyS0 quiet' }), pty);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.vm.power, 'off');
    assert.equal(r.vm.folder, join(s.dir, 'vms', r.vm.id));
    assert.ok(statSync(r.vm.folder).isDirectory());
    lib.close();
    lib = VmLibrary.open(s.dir);
    const [vm] = lib.list();
    assert.deepEqual(
      { name: vm!.name, memoryMiB: vm!.memoryMiB, kernelPath: vm!.kernelPath, initrdPath: vm!.initrdPath, cmdline: vm!.cmdline, boot: vm!.boot, serial: vm!.serial, engine: vm!.engine },
      { name: 'Debian', memoryMiB: 128, kernelPath: s.kernel, initrdPath: s.initrd, cmdline: 'console=ttyS0 quiet', boot: 'kernel', serial: 'console', engine: 'auto' },
    );
    assert.match(vm!.createdAt, /^\d{4}-\d\d-\d\dT/);
    lib.close();
  } finally {
    s.done();
  }
});

test('a kernel is judged by its headers and its size, not read whole: a large file is refused in one line naming it', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    const kernelError = (path: string): string | null => {
      const r = lib.create(settings(s, { name: `vm-${Math.random()}`, kernelPath: path }), pty);
      return r.ok ? null : r.errors.find((e) => e.field === 'kernelPath')?.message ?? null;
    };
    // A bzImage whose protected-mode part is 64 MiB (sparse here): its length is what says it is whole.
    const pm = 64 << 20;
    const big = join(s.files, 'big-vmlinuz');
    writeFileSync(big, fakeBzImage({ pmSize: 0x3000, syssize: Math.ceil(pm / 16) }));
    truncateSync(big, 5 * 512 + pm);
    assert.equal(kernelError(big), null);
    truncateSync(big, 5 * 512 + pm - 4096);
    assert.match(kernelError(big)!, /^Kernel file is truncated: the protected-mode kernel should be 67108864 bytes/);
    // Over what a boot can read: the file is named, in one line.
    const huge = join(s.files, 'huge.iso');
    writeFileSync(huge, '');
    truncateSync(huge, 2 ** 31 + 4096);
    const m = kernelError(huge)!;
    assert.ok(m.startsWith(`${huge} is 2.0 GiB; a kernel can be at most 2 GiB`) && !m.includes('\n'), m);
    lib.close();
  } finally {
    s.done();
  }
});

test('bad settings are reported per field and nothing is saved', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    const bad = lib.create(
      settings(s, { name: '  ', memoryMiB: 0, kernelPath: join(s.files, 'missing'), initrdPath: 'relative/initrd', cdromPath: s.initrd, engine: 'turbo' as never }),
      pty,
    );
    assert.equal(bad.ok, false);
    const byField = Object.fromEntries((bad as { errors: { field: string; message: string }[] }).errors.map((e) => [e.field, e.message]));
    assert.equal(byField.name, 'Give the VM a name.');
    assert.match(byField.memoryMiB!, /from 4 to 3072/);
    assert.match(byField.kernelPath!, /does not exist/);
    assert.match(byField.initrdPath!, /full path/);
    assert.match(byField.cdromPath!, /not a whole number of 2048-byte sectors/);
    assert.match(byField.engine!, /Choose an engine/);
    // A file that is not a bzImage is named as such.
    const notKernel = lib.create(settings(s, { kernelPath: s.initrd }), pty);
    assert.equal(notKernel.ok, false);
    assert.match((notKernel as { errors: { message: string }[] }).errors[0]!.message, /too short for a Linux setup header|not a bzImage/);
    // Memory typed as text in a form is accepted when it is a number, refused otherwise.
    assert.equal(lib.create(settings(s, { memoryMiB: 'lots' as never }), pty).ok, false);
    assert.equal(lib.list().length, 0);
    assert.deepEqual(lib.list(), []);
    // Names are unique, ignoring case.
    assert.ok(lib.create(settings(s), pty).ok);
    const dup = lib.create(settings(s, { name: 'DEBIAN' }), pty);
    assert.deepEqual(dup.ok ? null : dup.errors.map((e) => e.field), ['name']);
    // Pty serial is refused with the reason when the host cannot offer ptys.
    const noPty = lib.create(settings(s, { name: 'p', serial: 'pty' }), { ptyUnavailable: () => 'no ptys here' });
    assert.deepEqual(noPty.ok ? null : noPty.errors, [{ field: 'serial', message: 'no ptys here' }]);
    assert.equal(lib.list().length, 1);
    lib.close();
  } finally {
    s.done();
  }
});

test('a new blank disk is made sparse in the VM folder; deleting removes the folder but not files outside it', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    assert.equal(lib.create(settings(s, { newDiskMiB: 0 }), pty).ok, false);
    assert.equal(lib.create(settings(s, { newDiskMiB: 8, hdaPath: s.initrd }), pty).ok, false);
    const r = lib.create(settings(s, { newDiskMiB: 64 }), pty);
    assert.ok(r.ok, JSON.stringify(r));
    const disk = join(r.vm.folder, NEW_DISK_FILE);
    assert.equal(r.vm.hdaPath, disk);
    const st = statSync(disk);
    assert.equal(st.size, 64 * 1024 * 1024);
    assert.ok(st.blocks * 512 < 1024 * 1024, 'the new disk is sparse');
    const plan = lib.deletePlan(r.vm.id);
    assert.equal(plan.folder, r.vm.folder);
    assert.deepEqual(plan.files, [{ name: NEW_DISK_FILE, bytes: 64 * 1024 * 1024 }]);
    assert.deepEqual(plan.kept, [s.kernel, s.initrd]);
    lib.delete(r.vm.id);
    assert.equal(existsSync(r.vm.folder), false);
    assert.ok(existsSync(s.kernel) && existsSync(s.initrd));
    assert.deepEqual(lib.list(), []);
    assert.throws(() => lib.get(r.vm.id), /no VM with id/);
    lib.close();
  } finally {
    s.done();
  }
});

test('settings change only while the VM is off; a running VM cannot be deleted', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    const r = lib.create(settings(s), pty);
    assert.ok(r.ok);
    const id = r.vm.id;
    const u = lib.update(id, { ...r.vm, memoryMiB: 512, name: 'Renamed' }, pty);
    assert.ok(u.ok, JSON.stringify(u));
    assert.equal(lib.get(id).memoryMiB, 512);
    assert.equal(lib.get(id).name, 'Renamed');
    // Keeping its own name is not a clash with itself.
    assert.ok(lib.update(id, { ...lib.get(id) }, pty).ok);
    // A new disk cannot be added by an update.
    assert.equal(lib.update(id, { ...lib.get(id), newDiskMiB: 5 } as never, pty).ok, false);
    lib.setPower(id, 'running');
    const refused = lib.update(id, { ...lib.get(id), memoryMiB: 64 }, pty);
    assert.deepEqual(refused.ok ? null : refused.errors, [{ field: 'form', message: 'Power the VM off to change its settings.' }]);
    assert.equal(lib.get(id).memoryMiB, 512);
    assert.throws(() => lib.delete(id), /power Renamed off before deleting it/);
    assert.ok(lib.get(id).lastRunAt === undefined);
    lib.setPower(id, 'starting');
    assert.ok(lib.get(id).lastRunAt);
    lib.close();
  } finally {
    s.done();
  }
});

test('a VM left running when Hostbox died is marked crashed on the next start', () => {
  const s = scratch();
  try {
    let lib = VmLibrary.open(s.dir);
    const r = lib.create(settings(s), pty);
    assert.ok(r.ok);
    lib.setPower(r.vm.id, 'running');
    lib.close();
    lib = VmLibrary.open(s.dir);
    assert.equal(lib.get(r.vm.id).power, 'crashed');
    assert.match(lib.get(r.vm.id).error!, /Hostbox stopped while this VM was running/);
    lib.close();
  } finally {
    s.done();
  }
});

test('the saved state file decides suspension at the next start: a suspend cut off after its rename counts, a state deleted by hand does not', () => {
  const s = scratch();
  try {
    let lib = VmLibrary.open(s.dir);
    const a = lib.create(settings(s, { name: 'A' }), pty);
    const b = lib.create(settings(s, { name: 'B' }), pty);
    const c = lib.create(settings(s, { name: 'C' }), pty);
    assert.ok(a.ok && b.ok && c.ok);
    // A: the file was renamed into place, then Hostbox died before marking it suspended.
    lib.setPower(a.vm.id, 'suspending');
    writeFileSync(join(a.vm.folder, SUSPEND_FILE), 'state');
    // B: died while suspending, before the file was in place.
    lib.setPower(b.vm.id, 'suspending');
    // C: suspended, then its state deleted by hand.
    lib.setPower(c.vm.id, 'suspended');
    assert.equal(lib.statePath(c.vm.id), join(c.vm.folder, SUSPEND_FILE));
    lib.close();
    lib = VmLibrary.open(s.dir);
    assert.equal(lib.get(a.vm.id).power, 'suspended');
    assert.deepEqual(Object.keys(lib.get(a.vm.id).suspended ?? {}), ['at', 'bytes']);
    assert.equal(lib.get(a.vm.id).suspended!.bytes, 5);
    assert.equal(lib.get(b.vm.id).power, 'crashed');
    assert.equal(lib.get(c.vm.id).power, 'off');
    assert.match(lib.get(c.vm.id).error!, /saved state .* is gone/);
    // A suspended VM keeps its settings (the state was saved with them), and may be deleted, state and all.
    const upd = lib.update(a.vm.id, settings(s, { name: 'A', memoryMiB: 64 }), pty);
    assert.ok(!upd.ok && /suspended/.test(upd.errors[0]!.message));
    lib.delete(a.vm.id);
    assert.equal(existsSync(a.vm.folder), false);
    lib.close();
  } finally {
    s.done();
  }
});

test('a damaged library file or one from a newer Hostbox is refused by name and left untouched', () => {
  const s = scratch();
  try {
    const file = join(s.dir, LIBRARY_FILE);
    const junk = Buffer.from('this is not a database, but the user may want it back'.repeat(200));
    writeFileSync(file, junk);
    assert.throws(() => VmLibrary.open(s.dir), (e: Error) => e.message.includes(file) && /damaged or not a SQLite database/.test(e.message));
    assert.deepEqual(readFileSync(file), junk);
    rmSync(file);
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const before = readFileSync(file);
    assert.throws(() => VmLibrary.open(s.dir), new RegExp(`written by a newer Hostbox \\(schema version ${SCHEMA_VERSION + 1}; this one knows up to ${SCHEMA_VERSION}\\)`));
    assert.deepEqual(readFileSync(file), before);
  } finally {
    s.done();
  }
});

test('a library whose schema reads but whose VM table is damaged is refused by name and left untouched', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    assert.ok(lib.create(settings(s), pty).ok);
    lib.close();
    const file = join(s.dir, LIBRARY_FILE);
    const db = new Database(file);
    const root = (db.prepare(`SELECT rootpage FROM sqlite_master WHERE name = 'vms'`).get() as { rootpage: number }).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    // The header and the schema (page 1) are whole, so the version reads; the VMs' own page is garbage.
    const damaged = readFileSync(file);
    damaged.fill(0xa5, (root - 1) * pageSize, root * pageSize);
    writeFileSync(file, damaged);
    assert.throws(() => VmLibrary.open(s.dir), (e: Error) => e.message.includes(file) && /damaged or not a SQLite database/.test(e.message));
    assert.deepEqual(readFileSync(file), damaged);
    // Moved aside, an empty library starts.
    rmSync(file);
    const fresh = VmLibrary.open(s.dir);
    assert.deepEqual(fresh.list(), []);
    fresh.close();
  } finally {
    s.done();
  }
});

test('a library another program holds locked is refused by name', () => {
  const s = scratch();
  try {
    VmLibrary.open(s.dir).close();
    const file = join(s.dir, LIBRARY_FILE);
    // An sqlite3 shell (or a backup tool) in the middle of a write transaction.
    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    try {
      assert.throws(() => VmLibrary.open(s.dir), (e: Error) => e.message.includes(file) && /locked/.test(e.message));
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    VmLibrary.open(s.dir).close();
  } finally {
    s.done();
  }
});

test('every change to the library is on disk when it returns: a commit is fsynced, on every opening, not only the first', () => {
  const s = scratch();
  try {
    for (let i = 0; i < 2; i++) {
      const lib = VmLibrary.open(s.dir);
      // SQLite in WAL mode with synchronous NORMAL (this build's default for a file already in WAL
      // mode) fsyncs only at checkpoints: a power cut could undo a snapshot's row after its files changed.
      const db = (lib as unknown as { db: Database.Database }).db;
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', `opening ${i + 1}`);
      assert.equal(db.pragma('synchronous', { simple: true }), 2, `opening ${i + 1}: synchronous FULL`);
      lib.close();
    }
  } finally {
    s.done();
  }
});

test('migrations upgrade a version-1 library in place, keeping its VMs', () => {
  const s = scratch();
  try {
    const file = join(s.dir, LIBRARY_FILE);
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!.sql);
    db.pragma('user_version = 1');
    db.prepare(`INSERT INTO vms (id, name, memory_mib, engine, boot, kernel_path, created_at) VALUES (?, 'Old', 64, 'auto', 'kernel', ?, '2026-01-01T00:00:00.000Z')`).run(
      '00000000-0000-4000-8000-000000000001',
      s.kernel,
    );
    db.close();
    const lib = VmLibrary.open(s.dir);
    const [vm] = lib.list();
    assert.equal(vm!.name, 'Old');
    assert.equal(vm!.serial, 'console');
    lib.close();
    const again = new Database(file);
    assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    again.close();
  } finally {
    s.done();
  }
});

test('migration 3 rebuilds the table to allow CD booting and keeps every row and the unique names', () => {
  const s = scratch();
  try {
    const file = join(s.dir, LIBRARY_FILE);
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!.sql);
    db.exec(MIGRATIONS[1]!.sql);
    db.pragma('user_version = 2');
    db.prepare(`INSERT INTO vms (id, name, memory_mib, engine, boot, hda_path, created_at, serial, last_run_at) VALUES (?, 'Disk VM', 64, 'auto', 'disk', ?, '2026-01-01T00:00:00.000Z', 'pty', '2026-02-01T00:00:00.000Z')`).run(
      '00000000-0000-4000-8000-000000000002',
      s.initrd,
    );
    assert.throws(() => db.prepare(`UPDATE vms SET boot = 'cdrom'`).run(), /CHECK constraint/);
    db.close();
    const lib = VmLibrary.open(s.dir);
    const [vm] = lib.list();
    assert.deepEqual([vm!.name, vm!.boot, vm!.serial, vm!.lastRunAt], ['Disk VM', 'disk', 'pty', '2026-02-01T00:00:00.000Z']);
    // Names stay unique after the rebuild.
    const dup = lib.create(settings(s, { name: 'disk vm' }), pty);
    assert.equal(dup.ok, false);
    // A VM that boots from its CD needs a CD image; with one it is stored.
    const noCd = lib.create(settings(s, { name: 'Installer', boot: 'cdrom' }), pty);
    assert.deepEqual(noCd.ok ? null : noCd.errors.map((e) => e.field), ['cdromPath']);
    const iso = join(s.files, 'installer.iso');
    writeFileSync(iso, new Uint8Array(2048 * 8));
    const ok = lib.create(settings(s, { name: 'Installer', boot: 'cdrom', cdromPath: iso, newDiskMiB: 16 }), pty);
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(lib.get(ok.vm.id).boot, 'cdrom');
    lib.close();
  } finally {
    s.done();
  }
});

test('the data folder: HOSTBOX_DATA_DIR, then Electron userData, then XDG', () => {
  assert.equal(resolveDataDir({ env: { HOSTBOX_DATA_DIR: '/tmp/x' }, electronUserData: '/e' }), '/tmp/x');
  assert.equal(resolveDataDir({ env: {}, electronUserData: '/e' }), '/e');
  assert.equal(resolveDataDir({ env: { XDG_DATA_HOME: '/xdg', HOME: '/home/u' } }), '/xdg/hostbox');
  assert.equal(resolveDataDir({ env: { XDG_DATA_HOME: 'relative', HOME: '/home/u' } }), '/home/u/.local/share/hostbox');
  assert.equal(resolveDataDir({ env: { HOME: '/home/u' } }), '/home/u/.local/share/hostbox');
});

test('a version-3 library goes through migrations 4 (networking) and 5 (host folders), keeping its VMs', () => {
  const s = scratch();
  try {
    const file = join(s.dir, LIBRARY_FILE);
    const db = new Database(file);
    for (const m of MIGRATIONS.filter((m) => m.version <= 3)) db.exec(m.sql);
    db.pragma('user_version = 3');
    db.prepare(`INSERT INTO vms (id, name, memory_mib, engine, boot, kernel_path, created_at) VALUES (?, 'Version 3', 64, 'auto', 'kernel', ?, '2026-01-01T00:00:00.000Z')`).run(
      '00000000-0000-4000-8000-000000000003',
      s.kernel,
    );
    db.close();
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      [1, 2, 3, 4, 5, 6, 7],
    );
    const lib = VmLibrary.open(s.dir);
    const [old] = lib.list();
    assert.equal(old!.name, 'Version 3');
    assert.deepEqual([old!.net, old!.mac, old!.hostAccess, old!.forwards, old!.exposeForwards], ['user', macForVm('00000000-0000-4000-8000-000000000003'), false, '', false]);
    assert.deepEqual(old!.folders, []);
    // The old VM takes both new kinds of settings and keeps them.
    const folder = join(s.files, 'shared');
    mkdirSync(folder);
    const u = lib.update(old!.id, { ...old!, forwards: 'tcp:2222:22', folders: [{ path: folder, readOnly: true }] }, pty);
    assert.ok(u.ok, JSON.stringify(u));
    lib.close();
    const again = new Database(file);
    assert.equal(again.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const columns = (again.prepare('PRAGMA table_info(vms)').all() as { name: string }[]).map((c) => c.name);
    for (const c of ['net', 'mac', 'host_access', 'forwards', 'expose_forwards', 'folders', 'current_disk', 'current_snapshot']) assert.ok(columns.includes(c), c);
    // Migration 6: an empty snapshot tree, and the old VM on its own disk; 7: the frozen disks' identities.
    assert.equal((again.prepare('SELECT COUNT(*) AS n FROM snapshots').get() as { n: number }).n, 0);
    assert.ok((again.prepare('PRAGMA table_info(snapshots)').all() as { name: string }[]).some((c) => c.name === 'disk_identity'));
    again.close();
    const reopened = VmLibrary.open(s.dir);
    const vm = reopened.get(old!.id);
    assert.deepEqual([vm.forwards, vm.folders], ['tcp:127.0.0.1:2222:22', [{ path: folder, readOnly: true }]]);
    reopened.close();
  } finally {
    s.done();
  }
});

test('networking settings (migration 4): a stable MAC from the VM id, host access off by default, forwards checked and stored canonically', () => {
  const s = scratch();
  try {
    const file = join(s.dir, LIBRARY_FILE);
    const db = new Database(file);
    for (const m of MIGRATIONS.slice(0, 3)) db.exec(m.sql);
    db.pragma('user_version = 3');
    db.prepare(`INSERT INTO vms (id, name, memory_mib, engine, boot, kernel_path, created_at) VALUES (?, 'Before networking', 64, 'auto', 'kernel', ?, '2026-01-01T00:00:00.000Z')`).run(
      '00000000-0000-4000-8000-000000000004',
      s.kernel,
    );
    db.close();
    const lib = VmLibrary.open(s.dir);
    const [old] = lib.list();
    assert.deepEqual([old!.net, old!.hostAccess, old!.forwards, old!.exposeForwards], ['user', false, '', false]);
    assert.equal(old!.mac, macForVm('00000000-0000-4000-8000-000000000004'), 'an old VM gets the MAC its id gives');

    const r = lib.create(settings(s, { name: 'Web', forwards: 'tcp:8080:80\n\n udp:[::1]:5353-:53 ' }), pty);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.vm.mac, macForVm(r.vm.id));
    assert.equal(r.vm.hostAccess, false);
    assert.equal(r.vm.forwards, 'tcp:127.0.0.1:8080:80\nudp:[::1]:5353:53');
    // Saving the form again (MAC shown, host access turned on) keeps the MAC.
    const u = lib.update(r.vm.id, { ...r.vm, hostAccess: true }, pty);
    assert.ok(u.ok, JSON.stringify(u));
    assert.equal(u.vm.mac, r.vm.mac);
    assert.equal(u.vm.hostAccess, true);

    const bad = lib.create(settings(s, { name: 'Bad', mac: '01:00:5e:00:00:01', forwards: 'tcp:0.0.0.0:8080:80' }), pty);
    assert.deepEqual(bad.ok ? null : bad.errors.map((e) => e.field), ['mac', 'forwards']);
    assert.match(bad.ok ? '' : bad.errors[1]!.message, /other machines can reach/);
    const exposed = lib.create(settings(s, { name: 'Exposed', forwards: 'tcp:0.0.0.0:8080:80', exposeForwards: true }), pty);
    assert.ok(exposed.ok, 'allowed once the user says so');
    const twice = lib.create(settings(s, { name: 'Twice', forwards: 'tcp:8080:80\ntcp:127.0.0.1:8080:81' }), pty);
    assert.match(twice.ok ? '' : twice.errors[0]!.message, /forwarded twice/);
    lib.close();
  } finally {
    s.done();
  }
});

test('host folders are stored with a VM, checked per field, and bounded by the free IDE positions', () => {
  const s = scratch();
  try {
    const lib = VmLibrary.open(s.dir);
    const shared = join(s.files, 'shared');
    const other = join(s.files, 'other');
    for (const d of [shared, other]) mkdirSync(d);
    const r = lib.create(settings(s, { folders: [{ path: shared, readOnly: false }, { path: other, readOnly: true }] }), pty);
    assert.ok(r.ok, JSON.stringify(r));
    lib.close();
    const again = VmLibrary.open(s.dir);
    assert.deepEqual(again.get(r.vm.id).folders, [
      { path: shared, readOnly: false },
      { path: other, readOnly: true },
    ]);
    const bad = (folders: { path: string; readOnly: boolean }[], over: Partial<VmCreateSettings> = {}) => {
      const u = again.update(r.vm.id, settings(s, { folders, ...over }), pty);
      assert.equal(u.ok, false);
      return (u as { errors: { field: string; message: string }[] }).errors.find((e) => e.field === 'folders')?.message ?? '';
    };
    assert.match(bad([{ path: 'relative/dir', readOnly: false }]), /full path/);
    assert.match(bad([{ path: join(s.files, 'missing'), readOnly: false }]), /does not exist/);
    assert.match(bad([{ path: s.kernel, readOnly: false }]), /is not a folder/);
    const cd = join(s.files, 'cd.iso');
    writeFileSync(cd, new Uint8Array(2048));
    assert.match(bad(Array(4).fill({ path: shared, readOnly: false }), { cdromPath: cd }), /4 host folders need 4 free IDE positions, and only 3 are free/);
    assert.deepEqual(again.get(r.vm.id).folders.length, 2, 'nothing was saved');
    // Read-only is a yes or no: anything else is an error, never a folder the guest may write.
    for (const readOnly of ['true', 1, 'false']) {
      const u = again.update(r.vm.id, settings(s, { folders: [{ path: other, readOnly } as never] }), pty);
      assert.deepEqual(u.ok ? [] : u.errors.map((e) => e.field), ['folders'], `readOnly ${JSON.stringify(readOnly)}`);
    }
    assert.deepEqual(again.get(r.vm.id).folders[1], { path: other, readOnly: true }, 'nothing was saved');
    // Left out, it means writable, as before the flag existed.
    assert.ok(again.update(r.vm.id, settings(s, { folders: [{ path: other } as never] }), pty).ok);
    assert.deepEqual(again.get(r.vm.id).folders, [{ path: other, readOnly: false }]);
    again.close();
  } finally {
    s.done();
  }
});
