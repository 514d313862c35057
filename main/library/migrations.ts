// The VM library's schema, one migration per version. SQLite's user_version holds the version a
// database is at; opening runs the missing steps in order, each in its own transaction, so an
// interrupted upgrade leaves the database at the last whole version. A database from a newer Hostbox
// is refused rather than guessed at. Released migrations are never edited: add a new one.

import type { Database } from 'better-sqlite3';

export const MIGRATIONS: readonly { version: number; why: string; sql: string }[] = [
  {
    version: 1,
    why: 'the VM table',
    sql: `
      CREATE TABLE vms (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        memory_mib  INTEGER NOT NULL,
        engine      TEXT NOT NULL,
        boot        TEXT NOT NULL CHECK (boot IN ('kernel', 'disk')),
        kernel_path TEXT NOT NULL DEFAULT '',
        initrd_path TEXT NOT NULL DEFAULT '',
        cmdline     TEXT NOT NULL DEFAULT '',
        hda_path    TEXT NOT NULL DEFAULT '',
        cdrom_path  TEXT NOT NULL DEFAULT '',
        power       TEXT NOT NULL DEFAULT 'off',
        last_error  TEXT,
        created_at  TEXT NOT NULL,
        last_run_at TEXT
      );
      CREATE UNIQUE INDEX vms_name ON vms (name COLLATE NOCASE);
    `,
  },
  {
    version: 2,
    why: 'serial port routing (the in-app console, or a host pty as well)',
    sql: `ALTER TABLE vms ADD COLUMN serial TEXT NOT NULL DEFAULT 'console' CHECK (serial IN ('console', 'pty'));`,
  },
  {
    version: 3,
    why: "booting the CD before the hard disk: 'cdrom' joins the boot sources (SQLite changes a CHECK only by rebuilding the table)",
    sql: `
      CREATE TABLE vms_v3 (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        memory_mib  INTEGER NOT NULL,
        engine      TEXT NOT NULL,
        boot        TEXT NOT NULL CHECK (boot IN ('kernel', 'disk', 'cdrom')),
        kernel_path TEXT NOT NULL DEFAULT '',
        initrd_path TEXT NOT NULL DEFAULT '',
        cmdline     TEXT NOT NULL DEFAULT '',
        hda_path    TEXT NOT NULL DEFAULT '',
        cdrom_path  TEXT NOT NULL DEFAULT '',
        power       TEXT NOT NULL DEFAULT 'off',
        last_error  TEXT,
        created_at  TEXT NOT NULL,
        last_run_at TEXT,
        serial      TEXT NOT NULL DEFAULT 'console' CHECK (serial IN ('console', 'pty'))
      );
      INSERT INTO vms_v3 (id, name, memory_mib, engine, boot, kernel_path, initrd_path, cmdline, hda_path, cdrom_path, power, last_error, created_at, last_run_at, serial)
        SELECT id, name, memory_mib, engine, boot, kernel_path, initrd_path, cmdline, hda_path, cdrom_path, power, last_error, created_at, last_run_at, serial FROM vms;
      DROP TABLE vms;
      ALTER TABLE vms_v3 RENAME TO vms;
      CREATE UNIQUE INDEX vms_name ON vms (name COLLATE NOCASE);
    `,
  },
  {
    version: 4,
    why: 'networking: the NIC on user-mode NAT or none, its MAC (filled from the VM id when empty), host access, port forwards (one per line) and whether they may bind non-loopback addresses',
    sql: `
      ALTER TABLE vms ADD COLUMN net TEXT NOT NULL DEFAULT 'user' CHECK (net IN ('user', 'none'));
      ALTER TABLE vms ADD COLUMN mac TEXT NOT NULL DEFAULT '';
      ALTER TABLE vms ADD COLUMN host_access INTEGER NOT NULL DEFAULT 0 CHECK (host_access IN (0, 1));
      ALTER TABLE vms ADD COLUMN forwards TEXT NOT NULL DEFAULT '';
      ALTER TABLE vms ADD COLUMN expose_forwards INTEGER NOT NULL DEFAULT 0 CHECK (expose_forwards IN (0, 1));
    `,
  },
  {
    version: 5,
    why: 'host folders attached as FAT disks: a JSON list of {path, readOnly}',
    sql: `ALTER TABLE vms ADD COLUMN folders TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    version: 6,
    why: "snapshots: a tree per VM, each with the disk image frozen at it and, for a running VM, its machine state; the VM's current disk (the qcow2 overlay it writes, '' = its hard disk) and the snapshot it descends from",
    sql: `
      CREATE TABLE snapshots (
        id         TEXT PRIMARY KEY,
        vm_id      TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
        parent_id  TEXT,
        name       TEXT NOT NULL,
        created_at TEXT NOT NULL,
        disk       TEXT NOT NULL DEFAULT '',
        state      TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX snapshots_vm ON snapshots (vm_id);
      ALTER TABLE vms ADD COLUMN current_disk TEXT NOT NULL DEFAULT '';
      ALTER TABLE vms ADD COLUMN current_snapshot TEXT;
    `,
  },
  {
    version: 7,
    why: "the identity of each snapshot's frozen disk (size, modification time, a hash of sampled blocks, as JSON; '' for snapshots taken before), so a revert onto a disk changed or replaced outside Hostbox is refused by name",
    sql: `ALTER TABLE snapshots ADD COLUMN disk_identity TEXT NOT NULL DEFAULT '';`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings `db` to SCHEMA_VERSION; returns the version it was at. */
export function migrate(db: Database, file: string, migrations = MIGRATIONS): number {
  const from = db.pragma('user_version', { simple: true }) as number;
  const target = migrations[migrations.length - 1]!.version;
  if (from > target)
    throw new Error(`the VM library ${file} was written by a newer Hostbox (schema version ${from}; this one knows up to ${target}): update Hostbox to open it`);
  for (const m of migrations) {
    if (m.version <= from) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return from;
}
