// The qcow2 engine against QEMU's own tool: images qemu-img makes (v2 and v3, small clusters, 8-bit
// refcounts, compressed, with internal snapshots, over backing files) read as the raw data they were
// made from; images Hostbox writes pass `qemu-img check`, compare equal to a raw file given the same
// writes, and show their backing chain in `qemu-img info --backing-chain`; a copy of the file taken
// before a flush is still a consistent image; and what Hostbox does not handle is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDeflateRaw } from 'node:zlib';
import { Qcow2Image, Qcow2Error } from './qcow2.ts';
import { skipOrFailInCi } from '../../../tests/prerequisites.ts';

const hasQemuImg = spawnSync('qemu-img', ['--version']).status === 0;
const skip = hasQemuImg ? false : skipOrFailInCi('qemu-img is not installed (apt-get install qemu-utils)');

function qemuImg(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function ok(...args: string[]): string {
  const r = qemuImg(...args);
  assert.equal(r.status, 0, `qemu-img ${args.join(' ')}: ${r.out}`);
  return r.out;
}

function scratch(): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-qcow2-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Random bytes with runs of zeros, so compression has something to do. */
function data(n: number): Uint8Array {
  const b = new Uint8Array(randomBytes(n));
  for (let i = 0; i < n; i += 8192) b.fill(0, i, i + 2048);
  return b;
}

async function readAll(img: Qcow2Image, offset: number, length: number): Promise<Uint8Array> {
  const b = new Uint8Array(length);
  await img.readAt(b, offset);
  return b;
}

/** Applies the same writes to a raw file (the reference) and to the image. */
async function writeBoth(img: Qcow2Image, raw: string, writes: [number, Uint8Array][]): Promise<void> {
  const fd = openSync(raw, 'r+');
  try {
    for (const [at, b] of writes) {
      writeSync(fd, b, 0, b.length, at);
      await img.writeAt(b, at);
    }
  } finally {
    closeSync(fd);
  }
}

const checkClean = (path: string): void => {
  const out = ok('check', path);
  assert.match(out, /No errors were found on the image/, out);
};

test('images qemu-img makes read as the raw data they were made from: v3, v2, 4 KiB clusters, 8-bit refcounts, compressed', { skip }, async () => {
  const s = scratch();
  try {
    const raw = join(s.dir, 'src.raw');
    const content = data(3 << 20);
    writeFileSync(raw, content);
    const variants: [string, string[]][] = [
      ['v3', ['-o', 'compat=1.1']],
      ['v2', ['-o', 'compat=0.10']],
      ['small-clusters', ['-o', 'cluster_size=4096']],
      ['refcount8', ['-o', 'refcount_bits=8']],
      ['compressed', ['-c']],
    ];
    for (const [name, opts] of variants) {
      const q = join(s.dir, `${name}.qcow2`);
      ok('convert', '-f', 'raw', '-O', 'qcow2', ...opts, raw, q);
      const img = await Qcow2Image.open(q, { writable: false });
      assert.equal(img.size, content.length, name);
      assert.deepEqual(await readAll(img, 0, content.length), content, name);
      // Unaligned, across clusters, and past the end (zeros).
      assert.deepEqual(await readAll(img, 65536 - 512, 4096), content.subarray(65536 - 512, 65536 + 3584), name);
      assert.deepEqual(await readAll(img, content.length - 512, 1024), Uint8Array.from([...content.subarray(content.length - 512), ...new Uint8Array(512)]), name);
      await img.close();
    }
  } finally {
    s.done();
  }
});

test('Hostbox writes qemu-img accepts: partial and spanning clusters, a second L2 table; qemu-img check is clean and compare finds the raw twin', { skip }, async () => {
  const s = scratch();
  try {
    const size = 1 << 30; // two L1 entries with 64 KiB clusters
    const q = join(s.dir, 'new.qcow2');
    const raw = join(s.dir, 'twin.raw');
    await Qcow2Image.create(q, { size });
    writeFileSync(raw, new Uint8Array(0));
    truncateSync(raw, size); // sparse
    const info = JSON.parse(ok('info', '--output=json', q)) as { format: string; 'virtual-size': number; 'format-specific': { data: { compat: string; 'refcount-bits': number } } };
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], size);
    assert.equal(info['format-specific'].data.compat, '1.1');
    checkClean(q);
    let img = await Qcow2Image.open(q, { writable: true });
    await writeBoth(img, raw, [
      [0, data(512)],
      [512 * 7, data(512 * 3)],
      [65536 - 1024, data(4096)], // spans two clusters
      [3 * 65536, data(65536)], // one whole cluster
      [(512 << 20) + 4096, data(8192)], // under the second L1 entry
      [size - 512, data(512)], // the last sector
    ]);
    // Read back before the flush: the image answers from its caches.
    const expect = new Uint8Array(4096);
    const fd = openSync(raw, 'r');
    readSync(fd, expect, 0, 4096, 65536 - 1024);
    closeSync(fd);
    assert.deepEqual(await readAll(img, 65536 - 1024, 4096), expect);
    await img.close();
    checkClean(q);
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', q, raw), /Images are identical/);
    // Written again after reopening: in place in allocated clusters, and new ones after the end.
    img = await Qcow2Image.open(q, { writable: true });
    await writeBoth(img, raw, [
      [512, data(512)],
      [20 * 65536 + 100 * 512, data(512)],
    ]);
    await img.flush();
    assert.equal(await img.refcount(0), 1);
    await img.close();
    checkClean(q);
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', q, raw), /Images are identical/);
    // A file qemu-img made is written to as well.
    const q2 = join(s.dir, 'qemu-made.qcow2');
    ok('create', '-f', 'qcow2', '-o', 'cluster_size=4096,refcount_bits=8', q2, '32M');
    const raw2 = join(s.dir, 'twin2.raw');
    writeFileSync(raw2, new Uint8Array(32 << 20));
    img = await Qcow2Image.open(q2, { writable: true });
    // Enough 4 KiB clusters to need a second refcount block (an 8-bit block covers 4096 clusters).
    const writes: [number, Uint8Array][] = [];
    for (let i = 0; i < 4200; i++) writes.push([i * 4096 + 512, data(512)]);
    await writeBoth(img, raw2, writes);
    await img.close();
    checkClean(q2);
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', q2, raw2), /Images are identical/);
    // Version 2 (no zero flag, fixed 16-bit refcounts) is written as well.
    const v2 = join(s.dir, 'v2.qcow2');
    ok('create', '-f', 'qcow2', '-o', 'compat=0.10', v2, '8M');
    const raw3 = join(s.dir, 'twin3.raw');
    writeFileSync(raw3, new Uint8Array(8 << 20));
    img = await Qcow2Image.open(v2, { writable: true });
    await writeBoth(img, raw3, [
      [0, data(1024)],
      [(4 << 20) + 512, data(65536)],
    ]);
    await img.close();
    checkClean(v2);
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', v2, raw3), /Images are identical/);
  } finally {
    s.done();
  }
});

test('an overlay over a raw base: unwritten clusters read the base, a partial write copies the rest of its cluster; qemu-img sees the chain', { skip }, async () => {
  const s = scratch();
  try {
    const base = join(s.dir, 'base.img');
    const content = data(4 << 20);
    writeFileSync(base, content);
    const top = join(s.dir, 'top.qcow2');
    await Qcow2Image.create(top, { size: content.length, backing: { name: 'base.img', format: 'raw' } });
    const twin = join(s.dir, 'twin.raw');
    copyFileSync(base, twin);
    const img = await Qcow2Image.open(top, { writable: true });
    assert.equal(img.backingPath, base);
    assert.deepEqual(await readAll(img, 0, content.length), content);
    await writeBoth(img, twin, [
      [1024, data(512)],
      [65536 * 5 + 4096, data(70000 - (70000 % 512))],
    ]);
    await img.close();
    assert.deepEqual(new Uint8Array(readFileSync(base)), content, 'the base is never written');
    checkClean(top);
    const chain = JSON.parse(ok('info', '--output=json', '--backing-chain', top)) as { filename: string; format: string; 'backing-filename'?: string; 'backing-filename-format'?: string }[];
    assert.deepEqual(
      chain.map((c) => [c.filename, c.format]),
      [
        [top, 'qcow2'],
        [base, 'raw'],
      ],
    );
    assert.equal(chain[0]!['backing-filename-format'], 'raw');
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', top, twin), /Images are identical/);
    // Overlay over that overlay, made by qemu-img: a chain of three read through.
    const third = join(s.dir, 'third.qcow2');
    ok('create', '-f', 'qcow2', '-b', top, '-F', 'qcow2', third);
    const t = await Qcow2Image.open(third, { writable: false });
    assert.deepEqual(await readAll(t, 0, content.length), new Uint8Array(readFileSync(twin)));
    await t.close();
    // And one Hostbox makes and writes over its own: qemu-img reads the chain of three the same.
    const fourth = join(s.dir, 'fourth.qcow2');
    await Qcow2Image.create(fourth, { size: content.length, backing: { name: 'top.qcow2', format: 'qcow2' } });
    const f = await Qcow2Image.open(fourth, { writable: true });
    await writeBoth(f, twin, [[65536 * 5 + 8192, data(1024)]]);
    await f.close();
    checkClean(fourth);
    assert.match(ok('compare', '-f', 'qcow2', '-F', 'raw', fourth, twin), /Images are identical/);
    assert.equal((JSON.parse(ok('info', '--output=json', '--backing-chain', fourth)) as unknown[]).length, 3);
  } finally {
    s.done();
  }
});

test('a copy of the file taken before a flush is a consistent image holding the old data', { skip }, async () => {
  const s = scratch();
  try {
    const q = join(s.dir, 'a.qcow2');
    await Qcow2Image.create(q, { size: 8 << 20 });
    const img = await Qcow2Image.open(q, { writable: true });
    const first = data(65536 * 2);
    await img.writeAt(first, 0);
    await img.flush();
    await img.writeAt(data(65536), 65536); // in place
    await img.writeAt(data(4096), 4 << 20); // a new cluster, not yet described on disk
    // What a crash now leaves: data written, metadata not.
    const crashed = join(s.dir, 'crashed.qcow2');
    copyFileSync(q, crashed);
    await img.close();
    const r = qemuImg('check', crashed);
    // 0: clean; 3: only leaked clusters (allocated after the last flush), which lose nothing.
    assert.ok(r.status === 0 || r.status === 3, r.out);
    assert.doesNotMatch(r.out, /^ERROR|corruptions/m);
    const c = await Qcow2Image.open(crashed, { writable: false });
    assert.deepEqual(await readAll(c, 0, 65536), first.subarray(0, 65536));
    assert.deepEqual(await readAll(c, 4 << 20, 4096), new Uint8Array(4096), 'the unflushed new cluster is not there');
    await c.close();
    checkClean(q);
  } finally {
    s.done();
  }
});

test('what Hostbox does not handle is refused with one line naming it', { skip }, async () => {
  const s = scratch();
  try {
    const q = join(s.dir, 'x.qcow2');
    const patched = (name: string, at: number, bytes: number[]): string => {
      const p = join(s.dir, name);
      copyFileSync(q, p);
      const fd = openSync(p, 'r+');
      writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, at);
      closeSync(fd);
      return p;
    };
    ok('create', '-f', 'qcow2', q, '4M');
    const refuse = async (path: string, writable: boolean, re: RegExp): Promise<void> => {
      await assert.rejects(Qcow2Image.open(path, { writable }), (e: Error) => e instanceof Qcow2Error && re.test(e.message) && !e.message.includes('\n'));
    };
    await refuse(patched('enc.qcow2', 32, [0, 0, 0, 1]), false, /is encrypted, which Hostbox does not support/);
    await refuse(patched('unknown.qcow2', 72 + 7, [0x40]), false, /incompatible features Hostbox does not know \(bits 0x40\)/);
    await refuse(patched('corrupt.qcow2', 72 + 7, [0x02]), false, /marked corrupt/);
    await refuse(patched('zstd.qcow2', 72 + 7, [0x08]), false, /compression type other than deflate/);
    await refuse(patched('subclusters.qcow2', 72 + 7, [0x10]), false, /extended L2 entries/);
    await refuse(patched('magic.qcow2', 0, [0x51, 0x46, 0x49, 0xfa]), false, /not a qcow2 image/);
    await refuse(patched('v4.qcow2', 4, [0, 0, 0, 4]), false, /qcow2 version 4/);
    const dirty = patched('dirty.qcow2', 72 + 7, [0x01]);
    await refuse(dirty, true, /not closed cleanly/);
    await (await Qcow2Image.open(dirty, { writable: false })).close();
    const snap = join(s.dir, 'snap.qcow2');
    copyFileSync(q, snap);
    ok('snapshot', '-c', 'one', snap);
    await refuse(snap, true, /holds 1 internal snapshots/);
    await refuse(join(s.dir, "none.qcow2"), false, /none\.qcow2 does not exist/);
    const orphan = join(s.dir, 'orphan.qcow2');
    ok('create', '-u', '-f', 'qcow2', '-b', join(s.dir, 'gone.img'), '-F', 'raw', orphan, '4M');
    await refuse(orphan, false, /its backing file .*gone\.img does not exist/);
    // A truncated header and a table pointing outside the file.
    const short = join(s.dir, 'short.qcow2');
    writeFileSync(short, readFileSync(q).subarray(0, 50));
    await refuse(short, false, /not a qcow2 image/);
    await refuse(patched('l1.qcow2', 40, [0, 0, 0, 0x10, 0, 0, 0, 0]), false, /L1 table offset .* is not a cluster inside the file/);
    // An L2 entry pointing at the image's own L1 table: the guest's write is refused, not let through.
    const evil = join(s.dir, 'evil.qcow2');
    await Qcow2Image.create(evil, { size: 4 << 20 });
    let e = await Qcow2Image.open(evil, { writable: true });
    await e.writeAt(new Uint8Array(512), 0);
    await e.close();
    const l1 = Buffer.alloc(8);
    const efd = openSync(evil, 'r+');
    readSync(efd, l1, 0, 8, 3 * 65536);
    const l2At = Number(l1.readBigUInt64BE(0) & 0x00fffffffffffe00n);
    writeSync(efd, Buffer.from([0x80, 0, 0, 0, 0, 0x03, 0, 0]), 0, 8, l2At); // COPIED, offset 0x30000: the L1 table
    closeSync(efd);
    e = await Qcow2Image.open(evil, { writable: true });
    await assert.rejects(e.writeAt(new Uint8Array(512).fill(0xee), 0), /mapped onto the image's own metadata/);
    await e.close();
    assert.equal(readFileSync(evil).readBigUInt64BE(3 * 65536), BigInt(l2At) | (1n << 63n), 'the L1 table is intact');
    // Writing into a compressed cluster fails with the reason.
    const raw = join(s.dir, 'c.raw');
    writeFileSync(raw, data(1 << 20));
    const comp = join(s.dir, 'c.qcow2');
    ok('convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, comp);
    const img = await Qcow2Image.open(comp, { writable: true });
    await assert.rejects(img.writeAt(new Uint8Array(512), 0), /is compressed, and Hostbox does not write into compressed clusters/);
    await img.close();
    assert.ok(statSync(comp).size > 0);
  } finally {
    s.done();
  }
});

test('a backing chain that comes back to an image already in it is refused by name, not followed for ever', { timeout: 60_000 }, async () => {
  const s = scratch();
  try {
    const refuse = async (path: string, re: RegExp): Promise<void> => {
      await assert.rejects(Qcow2Image.open(path, { writable: false }), (e: Error) => e instanceof Qcow2Error && re.test(e.message) && !e.message.includes('\n'));
    };
    // Its own backing file.
    const self = join(s.dir, 'self.qcow2');
    await Qcow2Image.create(self, { size: 1 << 20, clusterBits: 9, backing: { name: 'self.qcow2', format: 'qcow2' } });
    await refuse(self, /self\.qcow2: its backing chain loops back to .*self\.qcow2/);
    // a -> b -> a, and a top image over that loop; the format probed, not given.
    const a = join(s.dir, 'a.qcow2');
    const b = join(s.dir, 'b.qcow2');
    await Qcow2Image.create(a, { size: 1 << 20, clusterBits: 9, backing: { name: 'b.qcow2', format: 'qcow2' } });
    await Qcow2Image.create(b, { size: 1 << 20, clusterBits: 9, backing: { name: 'a.qcow2', format: 'qcow2' } });
    await refuse(a, /b\.qcow2: its backing chain loops back to .*a\.qcow2/);
    const top = join(s.dir, 'top.qcow2');
    await Qcow2Image.create(top, { size: 1 << 20, clusterBits: 9, backing: { name: 'b.qcow2', format: 'qcow2' } });
    await refuse(top, /loops back to .*b\.qcow2/);
    // The same base twice in separate chains is no loop.
    const base = join(s.dir, 'base.qcow2');
    await Qcow2Image.create(base, { size: 1 << 20, clusterBits: 9 });
    const o = join(s.dir, 'o.qcow2');
    await Qcow2Image.create(o, { size: 1 << 20, clusterBits: 9, backing: { name: 'base.qcow2', format: 'qcow2' } });
    const x = await Qcow2Image.open(o, { writable: false });
    const y = await Qcow2Image.open(o, { writable: false });
    await x.close();
    await y.close();
  } finally {
    s.done();
  }
});

test('a compressed cluster whose stream would inflate to 120 MiB costs about a cluster: decompression stops at one cluster (qcow2.txt)', async () => {
  const s = scratch();
  try {
    const cs = 65536;
    const q = join(s.dir, 'bomb.qcow2');
    await Qcow2Image.create(q, { size: 4 << 20 }); // header, refcount table, refcount block, L1 at 3 clusters
    // 120 MiB of one byte value, deflated a MiB at a time (about 120 KiB, under the 128 KiB a 64 KiB cluster's descriptor can name).
    const stream = await new Promise<Buffer>((resolve, reject) => {
      const z = createDeflateRaw({ level: 9 });
      const parts: Buffer[] = [];
      z.on('data', (c: Buffer) => parts.push(c));
      z.on('end', () => resolve(Buffer.concat(parts)));
      z.on('error', reject);
      const mib = new Uint8Array(1 << 20).fill(0x5a);
      for (let i = 0; i < 120; i++) z.write(mib);
      z.end();
    });
    const sectors = Math.ceil(stream.length / 512);
    assert.ok(sectors <= 256);
    const l2At = 4 * cs;
    const dataAt = 5 * cs;
    const fd = openSync(q, 'r+');
    const l1 = Buffer.alloc(8);
    l1.writeBigUInt64BE((1n << 63n) | BigInt(l2At));
    writeSync(fd, l1, 0, 8, 3 * cs);
    const l2 = Buffer.alloc(cs);
    l2.writeBigUInt64BE((1n << 62n) | (BigInt(sectors - 1) << 54n) | BigInt(dataAt)); // x = 62 - (16 - 8)
    writeSync(fd, l2, 0, cs, l2At);
    writeSync(fd, stream, 0, stream.length, dataAt);
    closeSync(fd);
    const img = await Qcow2Image.open(q, { writable: false });
    try {
      const before = process.resourceUsage().maxRSS;
      const got = await readAll(img, 0, 2 * cs);
      const grewMiB = (process.resourceUsage().maxRSS - before) / 1024;
      assert.deepEqual(got, Uint8Array.from([...new Uint8Array(cs).fill(0x5a), ...new Uint8Array(cs)]));
      assert.ok(grewMiB < 32, `reading one compressed cluster raised the peak memory by ${grewMiB.toFixed(0)} MiB`);
    } finally {
      await img.close();
    }
  } finally {
    s.done();
  }
});

test('an L1 naming thousands of L2 tables past the file end: reading under each keeps the L2 cache bounded', async () => {
  const s = scratch();
  try {
    const cs = 65536;
    const size = 2 ** 40; // 2048 L1 entries of 512 MiB each
    const q = join(s.dir, 'wide.qcow2');
    await Qcow2Image.create(q, { size });
    const l1 = Buffer.alloc(2048 * 8);
    for (let i = 0; i < 2048; i++) l1.writeBigUInt64BE((1n << 63n) | BigInt(2 ** 40 + i * cs), i * 8);
    const fd = openSync(q, 'r+');
    writeSync(fd, l1, 0, l1.length, 3 * cs);
    closeSync(fd);
    const img = await Qcow2Image.open(q, { writable: false });
    try {
      const sector = new Uint8Array(512);
      for (let i = 0; i < 2048; i++) {
        await img.readAt(sector, i * 512 * 2 ** 20 + 4096);
        assert.ok(sector.every((b) => b === 0));
      }
      assert.ok(img.l2CacheBytes <= 32 << 20, `${img.l2CacheBytes >> 20} MiB of L2 tables held`);
    } finally {
      await img.close();
    }
  } finally {
    s.done();
  }
});

test('more L2 tables than the cache holds: tables written and not yet flushed are kept, and everything reads back after reopening', async () => {
  const s = scratch();
  try {
    const q = join(s.dir, 'many.qcow2');
    const region = 512 * 2 ** 20; // what one L2 table of 64 KiB clusters maps
    await Qcow2Image.create(q, { size: 2 ** 40 });
    const n = 520; // more than the 512 tables of 64 KiB in the cache
    const fill = (i: number, round: number): Uint8Array => new Uint8Array(512).fill((i * 7 + round) & 0xff);
    let img = await Qcow2Image.open(q, { writable: true });
    for (let i = 0; i < n; i++) await img.writeAt(fill(i, 0), i * region + 1024);
    await img.close();
    // Round 2: reading every region fills the cache with clean tables and drops the oldest; writing
    // then reads those again and dirties them, dropping other clean ones, never a dirty one.
    img = await Qcow2Image.open(q, { writable: true });
    const back = new Uint8Array(512);
    for (let i = 0; i < n; i++) {
      await img.readAt(back, i * region + 1024);
      assert.deepEqual(back, fill(i, 0), `region ${i} as first written`);
    }
    // A new cluster under each table: the table changes.
    const second = 3 * 65536 + 512;
    for (let i = 0; i < n; i++) await img.writeAt(fill(i, 1), i * region + second);
    for (let i = 0; i < n; i += 37) {
      await img.readAt(back, i * region + second);
      assert.deepEqual(back, fill(i, 1), `region ${i} before the flush`);
    }
    await img.close();
    img = await Qcow2Image.open(q, { writable: false });
    for (let i = 0; i < n; i++) {
      await img.readAt(back, i * region + 1024);
      assert.deepEqual(back, fill(i, 0), `region ${i}, first cluster`);
      await img.readAt(back, i * region + second);
      assert.deepEqual(back, fill(i, 1), `region ${i}, new cluster`);
    }
    await img.close();
    if (hasQemuImg) checkClean(q);
  } finally {
    s.done();
  }
});
