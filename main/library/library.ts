// The VM library (VMApp's inventory): one SQLite database in the data folder with a row per VM,
// and a folder per VM (vms/<id>/) for the disks made for it, overlays and saved states.
//
//   <data>/library.sqlite3    the VMs and their settings (schema: migrations.ts)
//   <data>/vms/<id>/          one VM's own files; deleting the VM deletes this folder and nothing else
//
// A damaged or newer database is refused with a message naming the file and left untouched.

import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { DeletePlan, FieldError, SaveResult, VmCreateSettings, VmInfo, VmPower, VmSettings } from '../api-types.ts';
import { formatForward, macForVm, parseForward } from '../backends/nat/forward-spec.ts';
import { migrate } from './migrations.ts';
import { forwardLines, normalizeSettings, validateSettings, type SettingsContext } from './vm-settings.ts';

export const LIBRARY_FILE = 'library.sqlite3';
/** The file name of a blank disk made with a new VM. */
export const NEW_DISK_FILE = 'disk.img';
/** A suspended VM's saved state (docs/state-format.md), in its folder. */
export const SUSPEND_FILE = 'suspended.hbstate';

/** Powers in which a VMM runs for the VM: settings and deletion wait. */
const ACTIVE: readonly VmPower[] = ['starting', 'running', 'halted', 'suspending'];

interface Row {
  id: string;
  name: string;
  memory_mib: number;
  engine: string;
  boot: string;
  kernel_path: string;
  initrd_path: string;
  cmdline: string;
  hda_path: string;
  cdrom_path: string;
  serial: string;
  net: string;
  mac: string;
  host_access: number;
  forwards: string;
  expose_forwards: number;
  folders: string;
  power: string;
  last_error: string | null;
  created_at: string;
  last_run_at: string | null;
  current_disk: string;
  current_snapshot: string | null;
}

export interface SnapshotRow {
  id: string;
  vm_id: string;
  parent_id: string | null;
  name: string;
  created_at: string;
  /** The hard disk image frozen at the snapshot ('' without a hard disk). */
  disk: string;
  /** The machine state saved with it ('' when taken powered off). */
  state: string;
  /** `disk`'s identity when it was frozen (snapshot-files.ts, frozenIdentity); '' when not recorded. */
  disk_identity?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MiB = 1024 * 1024;

export class VmLibrary {
  private constructor(
    readonly dataDir: string,
    readonly file: string,
    private readonly db: Database.Database,
  ) {}

  /** Opens (creating if needed) the library in `dataDir`; throws an Error naming the problem. */
  static open(dataDir: string): VmLibrary {
    try {
      mkdirSync(join(dataDir, 'vms'), { recursive: true });
    } catch (e) {
      throw new Error(`cannot create the Hostbox data folder ${dataDir}: ${(e as Error).message}`);
    }
    const file = join(dataDir, LIBRARY_FILE);
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      // Reading the schema version is the first access to the file: a damaged or newer file is
      // refused here, before anything (even the journal mode) is written to it.
      migrate(db, file);
      db.pragma('journal_mode = WAL');
      // Every commit fsynced before it returns: this build of SQLite defaults a WAL database to
      // NORMAL, which syncs only at checkpoints, and a power cut could then undo a row (a snapshot,
      // a VM's current disk) after the files it names were changed. The library is written rarely.
      db.pragma('synchronous = FULL');
      const lib = new VmLibrary(dataDir, file, db);
      // The first reads of the VMs and the first write: a damaged table, a lock another program
      // holds or a read-only file shows here, and is reported like the faults above.
      lib.reconcileSuspended();
      // A VM still marked running was cut off when Hostbox last stopped (a crash or a kill).
      db.prepare(`UPDATE vms SET power = 'crashed', last_error = ? WHERE power IN ('starting', 'running', 'halted', 'suspending')`).run('Hostbox stopped while this VM was running.');
      return lib;
    } catch (e) {
      db?.close();
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
        throw new Error(`the VM library ${file} is damaged or not a SQLite database (${(e as Error).message}); Hostbox left it as it is: move it aside to start an empty library`);
      if (/newer Hostbox/.test((e as Error).message)) throw e;
      throw new Error(`cannot open the VM library ${file}: ${(e as Error).message}`);
    }
  }

  /**
   * The saved state is the truth about suspension: a file is renamed into place whole, and the
   * power column is written after it. So a VM cut off while suspending whose file is in place is
   * suspended, and a VM marked suspended whose file is gone (deleted by hand) is off.
   */
  private reconcileSuspended(): void {
    for (const r of this.db.prepare(`SELECT id, power FROM vms WHERE power IN ('suspending', 'suspended')`).all() as { id: string; power: string }[]) {
      const has = existsSync(this.statePath(r.id));
      if (has && r.power === 'suspending') this.setPower(r.id, 'suspended');
      else if (!has && r.power === 'suspended') this.setPower(r.id, 'off', `The saved state ${this.statePath(r.id)} is gone, so the VM starts afresh.`);
    }
  }

  /** Where the VM's saved state is while it is suspended. */
  statePath(id: string): string {
    return join(this.folderOf(id), SUSPEND_FILE);
  }

  folderOf(id: string): string {
    if (!UUID.test(id)) throw new Error(`no VM with id ${id}`);
    return join(this.dataDir, 'vms', id);
  }

  private toInfo(r: Row): VmInfo {
    let suspended: VmInfo['suspended'];
    if (r.power === 'suspended') {
      try {
        const st = statSync(this.statePath(r.id));
        suspended = { at: st.mtime.toISOString(), bytes: st.size };
      } catch {
        suspended = undefined;
      }
    }
    return {
      id: r.id,
      name: r.name,
      memoryMiB: r.memory_mib,
      engine: r.engine as VmInfo['engine'],
      boot: r.boot as VmInfo['boot'],
      kernelPath: r.kernel_path,
      initrdPath: r.initrd_path,
      cmdline: r.cmdline,
      hdaPath: r.hda_path,
      cdromPath: r.cdrom_path,
      serial: r.serial as VmInfo['serial'],
      net: r.net as VmInfo['net'],
      mac: r.mac || macForVm(r.id),
      hostAccess: r.host_access === 1,
      forwards: r.forwards,
      exposeForwards: r.expose_forwards === 1,
      folders: parseFolders(r.folders),
      power: r.power as VmPower,
      ...(r.last_error ? { error: r.last_error } : {}),
      createdAt: r.created_at,
      ...(r.last_run_at ? { lastRunAt: r.last_run_at } : {}),
      ...(suspended ? { suspended } : {}),
      ...(r.current_disk ? { currentDisk: r.current_disk } : {}),
      ...(r.current_snapshot ? { currentSnapshot: r.current_snapshot } : {}),
      folder: this.folderOf(r.id),
    };
  }

  list(): VmInfo[] {
    return (this.db.prepare('SELECT * FROM vms ORDER BY created_at, name').all() as Row[]).map((r) => this.toInfo(r));
  }

  get(id: string): VmInfo {
    const r = this.db.prepare('SELECT * FROM vms WHERE id = ?').get(id) as Row | undefined;
    if (!r) throw new Error(`no VM with id ${String(id)}`);
    return this.toInfo(r);
  }

  private context(exceptId: string | null, creating: boolean, ptyUnavailable: () => string | null): SettingsContext {
    const byName = this.db.prepare('SELECT id FROM vms WHERE name = ? COLLATE NOCASE');
    return {
      nameTaken: (name) => (byName.all(name) as { id: string }[]).some((r) => r.id !== exceptId),
      ptyUnavailable,
      creating,
      imageScope: { dataDir: this.dataDir, ownFolder: exceptId === null ? null : this.folderOf(exceptId) },
    };
  }

  /** Validates and stores a new VM, making its folder (and its blank disk if one is asked for). */
  create(input: unknown, opts: { ptyUnavailable: () => string | null }): SaveResult {
    const { settings, errors } = normalizeSettings(input);
    const all: FieldError[] = [...errors, ...validateSettings(settings, this.context(null, true, opts.ptyUnavailable))];
    if (all.length) return { ok: false, errors: all };
    const id = randomUUID();
    const folder = this.folderOf(id);
    const s: VmCreateSettings = { ...settings };
    try {
      mkdirSync(folder);
      if (s.newDiskMiB !== undefined) {
        s.hdaPath = join(folder, NEW_DISK_FILE);
        // Sparse: the host's disk fills only as the guest writes.
        const fd = openSync(s.hdaPath, 'wx');
        try {
          ftruncateSync(fd, s.newDiskMiB * MiB);
        } finally {
          closeSync(fd);
        }
      }
      this.db
        .prepare(
          `INSERT INTO vms (id, name, memory_mib, engine, boot, kernel_path, initrd_path, cmdline, hda_path, cdrom_path, serial, net, mac, host_access, forwards, expose_forwards, folders, power, created_at)
           VALUES (@id, @name, @memoryMiB, @engine, @boot, @kernelPath, @initrdPath, @cmdline, @hdaPath, @cdromPath, @serial, @net, @mac, @hostAccess, @forwards, @exposeForwards, @folders, 'off', @createdAt)`,
        )
        // Each VM keeps one MAC for life: made from its id unless the user gave one.
        .run({ ...pick({ ...s, mac: s.mac || macForVm(id) }), id, createdAt: new Date().toISOString() });
    } catch (e) {
      rmSync(folder, { recursive: true, force: true });
      return { ok: false, errors: [{ field: s.newDiskMiB !== undefined ? 'newDiskMiB' : 'form', message: `Could not create the VM: ${(e as Error).message}` }] };
    }
    return { ok: true, vm: this.get(id) };
  }

  /** Validates and stores new settings for a VM that is not running. */
  update(id: string, input: unknown, opts: { ptyUnavailable: () => string | null }): SaveResult {
    const vm = this.get(id);
    if (ACTIVE.includes(vm.power)) return { ok: false, errors: [{ field: 'form', message: 'Power the VM off to change its settings.' }] };
    // The saved state holds the machine as it was set up; changed settings would not fit it.
    if (vm.power === 'suspended') return { ok: false, errors: [{ field: 'form', message: 'The VM is suspended: power it on and off, or discard its saved state, to change its settings.' }] };
    const { settings, errors } = normalizeSettings(input);
    if (vm.currentDisk !== undefined && settings.hdaPath !== vm.hdaPath)
      return { ok: false, errors: [{ field: 'hdaPath', message: 'The VM has snapshots over this hard disk: delete them to change the disk.' }] };
    const all: FieldError[] = [...errors, ...validateSettings(settings, this.context(id, false, opts.ptyUnavailable))];
    if (all.length) return { ok: false, errors: all };
    this.db
      .prepare(
        `UPDATE vms SET name = @name, memory_mib = @memoryMiB, engine = @engine, boot = @boot, kernel_path = @kernelPath, initrd_path = @initrdPath,
           cmdline = @cmdline, hda_path = @hdaPath, cdrom_path = @cdromPath, serial = @serial, net = @net, mac = @mac, host_access = @hostAccess,
           forwards = @forwards, expose_forwards = @exposeForwards, folders = @folders WHERE id = @id`,
      )
      .run({ ...pick({ ...settings, mac: settings.mac || vm.mac }), id });
    return { ok: true, vm: this.get(id) };
  }

  /** The disc in the CD drive, changed while the VM runs (the host checked the image as it opened it). */
  setCdrom(id: string, path: string): VmInfo {
    this.get(id);
    this.db.prepare(`UPDATE vms SET cdrom_path = ? WHERE id = ?`).run(path, id);
    return this.get(id);
  }

  setPower(id: string, power: VmPower, error?: string): VmInfo {
    if (power === 'starting') this.db.prepare(`UPDATE vms SET power = ?, last_error = NULL, last_run_at = ? WHERE id = ?`).run(power, new Date().toISOString(), id);
    else this.db.prepare(`UPDATE vms SET power = ?, last_error = ? WHERE id = ?`).run(power, error ?? null, id);
    return this.get(id);
  }

  deletePlan(id: string): DeletePlan {
    const vm = this.get(id);
    const folder = vm.folder;
    const files: DeletePlan['files'] = [];
    const walk = (dir: string): void => {
      if (!existsSync(dir)) return;
      for (const ent of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, ent.name);
        if (ent.isDirectory()) walk(p);
        else files.push({ name: relative(folder, p), bytes: ent.isFile() ? statSync(p).size : 0 });
      }
    };
    walk(folder);
    const inside = (p: string): boolean => p.startsWith(folder + sep);
    const kept = [vm.kernelPath, vm.initrdPath, vm.hdaPath, vm.cdromPath].filter((p) => p && !inside(p));
    return { name: vm.name, folder, files, kept };
  }

  /** Deletes the VM's folder, then its row: a failure part-way leaves it listed, so it can be retried. */
  delete(id: string): void {
    const vm = this.get(id);
    if (ACTIVE.includes(vm.power)) throw new Error(`power ${vm.name} off before deleting it`);
    rmSync(vm.folder, { recursive: true, force: true });
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM snapshots WHERE vm_id = ?').run(id);
      this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
    })();
  }

  /** A VM's snapshots, oldest first. */
  snapshots(vmId: string): SnapshotRow[] {
    return this.db.prepare('SELECT * FROM snapshots WHERE vm_id = ? ORDER BY created_at, rowid').all(vmId) as SnapshotRow[];
  }

  snapshot(vmId: string, id: string): SnapshotRow {
    const r = this.db.prepare('SELECT * FROM snapshots WHERE vm_id = ? AND id = ?').get(vmId, id) as SnapshotRow | undefined;
    if (!r) throw new Error(`${this.get(vmId).name} has no snapshot with id ${String(id)}`);
    return r;
  }

  /** Records a snapshot and the VM's new current disk (the overlay over the frozen one), together. */
  addSnapshot(row: SnapshotRow, currentDisk: string): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO snapshots (id, vm_id, parent_id, name, created_at, disk, state, disk_identity) VALUES (@id, @vm_id, @parent_id, @name, @created_at, @disk, @state, @disk_identity)')
        .run({ ...row, disk_identity: row.disk_identity ?? '' });
      this.setCurrent(row.vm_id, currentDisk, row.id);
    })();
  }

  /**
   * Moves the VM to `disk` descending from `snapshotId`; with `power`, sets that too in the same
   * write (a revert: the saved state in place and the disk it fits are recorded together).
   */
  setCurrent(vmId: string, disk: string, snapshotId: string | null, power?: VmPower): void {
    if (power) this.db.prepare('UPDATE vms SET current_disk = ?, current_snapshot = ?, power = ?, last_error = NULL WHERE id = ?').run(disk, snapshotId, power, vmId);
    else this.db.prepare('UPDATE vms SET current_disk = ?, current_snapshot = ? WHERE id = ?').run(disk, snapshotId, vmId);
  }

  /** Forgets a snapshot and, in the same transaction, moves the VM to `current`. */
  removeSnapshot(vmId: string, id: string, current?: { disk: string; snapshotId: string | null }): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM snapshots WHERE vm_id = ? AND id = ?').run(vmId, id);
      if (current) this.setCurrent(vmId, current.disk, current.snapshotId);
    })();
  }

  close(): void {
    this.db.close();
  }
}

/** The stored list; a value this version cannot read shows as no folders rather than failing the library. */
function parseFolders(json: string): VmSettings['folders'] {
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) ? v.filter((f) => f && typeof f.path === 'string').map((f) => ({ path: String(f.path), readOnly: f.readOnly === true })) : [];
  } catch {
    return [];
  }
}

function pick(s: VmSettings): Record<keyof VmSettings, string | number> {
  const forwards = forwardLines(s.forwards)
    .map((l) => formatForward(parseForward(l)))
    .join('\n');
  return {
    name: s.name,
    memoryMiB: s.memoryMiB,
    engine: s.engine,
    boot: s.boot,
    kernelPath: s.kernelPath,
    initrdPath: s.initrdPath,
    cmdline: s.cmdline,
    hdaPath: s.hdaPath,
    cdromPath: s.cdromPath,
    serial: s.serial,
    net: s.net,
    mac: s.mac,
    hostAccess: s.hostAccess ? 1 : 0,
    forwards,
    exposeForwards: s.exposeForwards ? 1 : 0,
    folders: JSON.stringify(s.folders.map((f) => ({ path: f.path, readOnly: f.readOnly }))),
  };
}
