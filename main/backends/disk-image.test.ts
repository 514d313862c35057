import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskImage } from './disk-image.ts';
import { imageRefusal } from './image-policy.ts';

function scratch(): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-disk-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('requests on one disk complete in the order they were issued, a read seeing the write before it', async () => {
  const s = scratch();
  try {
    const path = join(s.dir, 'disk.img');
    writeFileSync(path, new Uint8Array(512 * 64));
    const d = new DiskImage(path, 'hda', { owner: 'test' });
    assert.deepEqual(d.info, { id: 'hda', sectors: 64, sectorSize: 512, readOnly: false });
    const order: number[] = [];
    const replies = await Promise.all(
      [
        d.handle({ tag: 1, disk: 'hda', op: 'write', lba: 3, count: 2, data: new Uint8Array(1024).fill(0xab) }),
        d.handle({ tag: 2, disk: 'hda', op: 'read', lba: 2, count: 4 }),
        d.handle({ tag: 3, disk: 'hda', op: 'flush', lba: 0, count: 0 }),
        d.handle({ tag: 4, disk: 'hda', op: 'read', lba: 63, count: 2 }),
        d.handle({ tag: 5, disk: 'hda', op: 'write', lba: 0, count: 1, data: new Uint8Array(3) }),
        d.handle({ tag: 6, disk: 'hda', op: 'read', lba: -1, count: 1 }),
      ].map((p) => p.then((r) => (order.push(r.tag), r))),
    );
    assert.deepEqual(order, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(replies.map((r) => r.ok), [true, true, true, false, false, false]);
    const read = replies[1]!.data!;
    assert.deepEqual([read[0], read[511], read[512], read[1535], read[1536]], [0, 0, 0xab, 0xab, 0]);
    assert.match(replies[3]!.error!, /outside the image \(64 sectors\)/);
    assert.match(replies[4]!.error!, /does not match the sector count/);
    await d.close();
    assert.equal(readFileSync(path)[512 * 3], 0xab);
    assert.equal(existsSync(`${path}.lck`), false, 'the lock goes with the close');
  } finally {
    s.done();
  }
});

test('a writable image is locked: a second opener is refused by name; a CD image is read-only and not locked', async () => {
  const s = scratch();
  try {
    const path = join(s.dir, 'disk.img');
    writeFileSync(path, new Uint8Array(512 * 8));
    const a = new DiskImage(path, 'hda', { owner: 'VM "A" in the Hostbox app' });
    assert.throws(() => new DiskImage(path, 'hda', { owner: 'VM "B"' }), /disk image .*disk\.img is in use by VM "A" in the Hostbox app \(pid \d+\)/);
    await a.close();
    const b = new DiskImage(path, 'hda', { owner: 'VM "B"' });
    await b.close();
    const iso = join(s.dir, 'cd.iso');
    writeFileSync(iso, new Uint8Array(2048 * 4));
    const c1 = new DiskImage(iso, 'cdrom');
    const c2 = new DiskImage(iso, 'cdrom');
    assert.equal(existsSync(`${iso}.lck`), false);
    assert.deepEqual(await c1.handle({ tag: 1, disk: 'cdrom', op: 'write', lba: 0, count: 1, data: new Uint8Array(2048) }), { tag: 1, ok: false, error: 'the image is read-only' });
    assert.equal((await c2.handle({ tag: 2, disk: 'cdrom', op: 'read', lba: 3, count: 1 })).data!.length, 2048);
    await Promise.all([c1.close(), c2.close()]);
  } finally {
    s.done();
  }
});

test("Hostbox's own files, special files and files that are something else are refused as disks", () => {
  const s = scratch();
  try {
    const data = join(s.dir, 'data');
    const own = join(data, 'vms', 'vm1');
    const other = join(data, 'vms', 'vm2');
    mkdirSync(own, { recursive: true });
    mkdirSync(other, { recursive: true });
    const lib = join(data, 'library.sqlite3');
    writeFileSync(lib, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4096 - 16)]));
    writeFileSync(join(own, 'disk.img'), new Uint8Array(512));
    writeFileSync(join(other, 'disk.img'), new Uint8Array(512));
    const outside = join(s.dir, 'raw.img');
    writeFileSync(outside, new Uint8Array(512));
    const app = { dataDir: data, ownFolder: own };
    assert.match(imageRefusal(lib, true, app)!, /library\.sqlite3 is one of Hostbox's own files/);
    assert.match(imageRefusal(lib, false, app)!, /one of Hostbox's own files/);
    assert.match(imageRefusal(join(other, 'disk.img'), true, app)!, /not a disk of this VM/);
    assert.equal(imageRefusal(join(own, 'disk.img'), true, app), null);
    assert.equal(imageRefusal(outside, true, app), null);
    // A VM being created has no folder yet: nothing in the data folder is its own.
    assert.match(imageRefusal(join(own, 'disk.img'), true, { dataDir: data, ownFolder: null })!, /Hostbox's own files/);
    // The command line may run any VM's disk (the lock keeps the app off it), never the library.
    assert.equal(imageRefusal(join(other, 'disk.img'), true, { dataDir: data }), null);
    assert.match(imageRefusal(lib, true, { dataDir: data })!, /Hostbox's own files/);
    // A symbolic link from outside into the data folder is judged by where it leads.
    const link = join(s.dir, 'innocent.img');
    symlinkSync(lib, link);
    assert.match(imageRefusal(link, true, app)!, /Hostbox's own files/);
    // A hard link outside the data folder is still the library.
    const hard = join(s.dir, 'hard.img');
    linkSync(lib, hard);
    assert.match(imageRefusal(hard, false, app)!, /hard\.img is Hostbox's library database \(library\.sqlite3\)/);
    // Not regular files.
    assert.match(imageRefusal(s.dir, true, {})!, /is not a regular file/);
    assert.match(imageRefusal('/dev/null', false, {})!, /is not a regular file/);
    const fifo = join(s.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => new DiskImage(fifo, 'hda'), /fifo is not a regular file/);
    // Sizes no disk has, each named for what it is.
    const empty = join(s.dir, 'empty.img');
    writeFileSync(empty, new Uint8Array(0));
    assert.throws(() => new DiskImage(empty, 'hda'), /empty\.img is empty \(0 bytes\)/);
    const odd = join(s.dir, 'odd.img');
    writeFileSync(odd, new Uint8Array(1000));
    assert.throws(() => new DiskImage(odd, 'hda'), /has 1000 bytes, which is not a whole number of 512-byte sectors/);
    // Something else by its first bytes: refused as a writable disk, and so is a lock file.
    const elf = join(s.dir, 'prog.img');
    writeFileSync(elf, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(508)]));
    assert.match(imageRefusal(elf, true, {})!, /is a program \(ELF\), not a disk image Hostbox can write/);
    assert.equal(imageRefusal(elf, false, {}), null);
    const vmdk = join(s.dir, 'vm.vmdk');
    writeFileSync(vmdk, Buffer.concat([Buffer.from([0x4b, 0x44, 0x4d, 0x56]), Buffer.alloc(508)]));
    assert.match(imageRefusal(vmdk, true, {})!, /VMDK image \(Hostbox opens raw and qcow2 images\)/);
    // qcow2 is read and written (backends/qcow2), so it passes the policy.
    const qcow = join(s.dir, 'vm.qcow2');
    writeFileSync(qcow, Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), Buffer.alloc(508)]));
    assert.equal(imageRefusal(qcow, true, {}), null);
    writeFileSync(join(s.dir, 'x.img.lck'), new Uint8Array(512));
    assert.match(imageRefusal(join(s.dir, 'x.img.lck'), true, {})!, /lock file/);
    assert.throws(() => new DiskImage(lib, 'hda', { scope: app }), /^Error: hda: .*library\.sqlite3 is one of Hostbox's own files/);
  } finally {
    s.done();
  }
});
