// The state file's container: what it stores comes back bit for bit, and every way a file can be
// wrong (truncated anywhere, a flipped byte anywhere, another format, a newer Hostbox, a changed
// disk) is refused with one line naming the reason, before anything reaches a VMM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { checkDisks, diskIdentity, parseState, readStateFile, readStateHeader, StateFileBuilder, StateFileError, STATE_FORMAT_VERSION, type StateHeader } from './state-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'hostbox-state-file-'));
const disk = join(dir, 'disk.img');
writeFileSync(disk, new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff));

function header(): StateHeader {
  return { hostbox: '0.1.0', created: '2026-12-02T00:00:00Z', memoryMiB: 16, config: { memoryMiB: 16, engine: 'interpreter', hdaPath: disk }, disks: [diskIdentity('hda', disk)] };
}

async function sample(path: string): Promise<{ sections: { id: string; version: number; data: Uint8Array }[]; runs: { firstPage: number; data: Uint8Array }[] }> {
  const sections = [
    { id: 'cpu', version: 1, data: new TextEncoder().encode('registers'.repeat(40)) },
    { id: 'vga', version: 2, data: new Uint8Array(300_000).fill(7) },
  ];
  const runs = [
    { firstPage: 0, data: new Uint8Array(8192).map((_, i) => i & 0xff) },
    { firstPage: 3000, data: new Uint8Array(4096).fill(0x55) },
  ];
  const b = new StateFileBuilder();
  for (const s of sections) b.addSection(s);
  for (const r of runs) b.addRam(r);
  await b.write(path, header());
  return { sections, runs };
}

test('what is written reads back exactly, with the header', async () => {
  const path = join(dir, 'good.state');
  const { sections, runs } = await sample(path);
  const got = readStateFile(path);
  assert.deepEqual(got.header, header());
  assert.deepEqual(got.sections.map((s) => ({ ...s, data: new Uint8Array(s.data) })), sections);
  assert.deepEqual(got.ram.map((r) => ({ firstPage: r.firstPage, data: new Uint8Array(r.data) })), runs);
  assert.ok(got.fileBytes < 10_000, `${got.fileBytes} bytes: sections and RAM are compressed`);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');
});

test('a truncated file is refused at every length, saying it is truncated', async () => {
  const path = join(dir, 'cut.state');
  await sample(path);
  const whole = new Uint8Array(readFileSync(path));
  for (let n = 0; n < whole.length; n += n < 64 ? 1 : 97) {
    assert.throws(() => parseState(whole.subarray(0, n), 'cut.state'), (e: Error) => e instanceof StateFileError && /truncated|not a Hostbox saved state/.test(e.message), `cut at ${n}`);
  }
  assert.throws(() => parseState(whole.subarray(0, whole.length - 1), 'cut.state'), /truncated/);
});

test('a flipped byte anywhere is refused with the damage named', async () => {
  const path = join(dir, 'flip.state');
  await sample(path);
  const whole = new Uint8Array(readFileSync(path));
  for (let at = 8; at < whole.length; at += at < 200 ? 1 : 53) {
    const bad = whole.slice();
    bad[at]! ^= 0x10;
    assert.throws(
      () => parseState(bad, 'flip.state'),
      (e: Error) => e instanceof StateFileError && /damaged|truncated|newer Hostbox|format|follow the trailer|counts/.test(e.message),
      `byte ${at}`,
    );
  }
  const bad = whole.slice();
  bad[whole.length - 200]! ^= 1;
  assert.throws(() => parseState(bad, 'flip.state'), /section ram is damaged \(checksum mismatch\)|damaged/);
});

test('another file type, and a file from a newer Hostbox, are refused with their reason', async () => {
  assert.throws(() => parseState(new TextEncoder().encode('#!/bin/sh\necho hello\n'), 'x'), /not a Hostbox saved state/);
  // Bytes that are not text where the magic or a section's tag belongs: the same one-line refusal, naming the file.
  const qcow2 = new Uint8Array([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => parseState(qcow2, 'disk.qcow2'), (e: Error) => e instanceof StateFileError && /^disk\.qcow2: not a Hostbox saved state/.test(e.message));
  const good = join(dir, 'tag.state');
  await sample(good);
  const tagged = new Uint8Array(readFileSync(good));
  const at = 16 + new DataView(tagged.buffer).getUint32(12, true) + 4;
  tagged[at] = 0xff;
  assert.throws(() => parseState(tagged, 'tag.state'), (e: Error) => e instanceof StateFileError && new RegExp(`^tag\\.state: damaged at byte ${at}`).test(e.message));
  const path = join(dir, 'newer.state');
  await sample(path);
  const b = new Uint8Array(readFileSync(path));
  new DataView(b.buffer).setUint32(8, STATE_FORMAT_VERSION + 1, true);
  assert.throws(() => parseState(b, 'newer.state'), /written by a newer Hostbox \(0\.1\.0\): state format 2, this Hostbox reads format 1 to 1/);
});

test('a disk that changed since the suspend is named, with what changed', async () => {
  const path = join(dir, 'disk.state');
  await sample(path);
  const h = readStateFile(path).header;
  assert.doesNotThrow(() => checkDisks(path, h.disks));
  const img = new Uint8Array(readFileSync(disk));
  img[0]! ^= 1;
  writeFileSync(disk, img);
  assert.throws(() => checkDisks(path, h.disks), /disk hda \(.*disk\.img\) changed since the suspend \(its contents differ\); resuming would corrupt it/);
  img[0]! ^= 1;
  writeFileSync(disk, img);
  const t = h.disks[0]!.mtimeMs / 1000;
  utimesSync(disk, t + 60, t + 60);
  assert.throws(() => checkDisks(path, h.disks), /its modification time differs/);
  utimesSync(disk, t, t);
  assert.doesNotThrow(() => checkDisks(path, h.disks), 'the same bytes and time: the same disk');
  writeFileSync(disk, new Uint8Array(2 << 20));
  assert.throws(() => checkDisks(path, h.disks), /its size is 2097152 bytes, was 1048576/);
});

test('a write that fails leaves the previous state in place and no temporary file', async () => {
  const path = join(dir, 'keep.state');
  await sample(path);
  const before = readFileSync(path);
  const b = new StateFileBuilder();
  b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(4) });
  await assert.rejects(() => b.write(join(dir, 'no-such-folder', 'x.state'), header()), StateFileError);
  assert.deepEqual(readFileSync(path), before);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('the whole-file checksum covers what the section checksums do not', async () => {
  const path = join(dir, 'trailer.state');
  await sample(path);
  const b = new Uint8Array(readFileSync(path));
  // Change the trailer's count and fix nothing else: only the trailer checks can see it.
  const dv = new DataView(b.buffer);
  dv.setUint32(b.length - 8, 9, true);
  assert.throws(() => parseState(b, 't'), /the trailer counts 9 sections, the file holds 4/);
  dv.setUint32(b.length - 8, 4, true);
  dv.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)) ^ 1, true);
  assert.throws(() => parseState(b, 't'), /checksum over the whole file/);
});

test('the header alone reads back, with a snapshot label; a damaged or cut header, or a bad label, is refused', async () => {
  const path = join(dir, 'label.state');
  const b = new StateFileBuilder();
  b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(10) });
  await b.write(path, { ...header(), snapshot: { name: 'mid', parent: 'first' } });
  assert.deepEqual(readStateHeader(path), { ...header(), snapshot: { name: 'mid', parent: 'first' } });
  const whole = new Uint8Array(readFileSync(path));
  const headerLen = new DataView(whole.buffer).getUint32(12, true);
  writeFileSync(join(dir, 'label-cut.state'), whole.subarray(0, 16 + headerLen));
  assert.throws(() => readStateHeader(join(dir, 'label-cut.state')), /truncated/);
  const flipped = whole.slice();
  flipped[20]! ^= 1;
  writeFileSync(join(dir, 'label-flipped.state'), flipped);
  assert.throws(() => readStateHeader(join(dir, 'label-flipped.state')), /header is damaged/);
  const bad = join(dir, 'label-bad.state');
  await new StateFileBuilder().write(bad, { ...header(), snapshot: { name: 7 } } as unknown as StateHeader);
  assert.throws(() => readStateFile(bad), /snapshot label is malformed/);
});

test('a VM of 2 GiB or more reads its RAM back; a run past the end of its RAM is still refused', async () => {
  for (const memoryMiB of [2048, 3072]) {
    const path = join(dir, `big-${memoryMiB}.state`);
    const h: StateHeader = { ...header(), memoryMiB, config: { ...header().config, memoryMiB } };
    const lastPage = memoryMiB * 256 - 1;
    const runs = [
      { firstPage: 0, data: new Uint8Array(4096).fill(1) },
      { firstPage: lastPage, data: new Uint8Array(4096).fill(2) },
    ];
    const b = new StateFileBuilder();
    for (const r of runs) b.addRam(r);
    await b.write(path, h);
    const got = readStateFile(path);
    assert.deepEqual(
      got.ram.map((r) => ({ firstPage: r.firstPage, data: new Uint8Array(r.data) })),
      runs,
      `${memoryMiB} MiB`,
    );
    const past = new StateFileBuilder();
    past.addRam({ firstPage: lastPage + 1, data: new Uint8Array(4096) });
    await past.write(path, h);
    assert.throws(() => readStateFile(path), /a RAM section lies beyond the VM's/);
  }
});

test('a state file over 2 GiB is read whole (readFileSync stops there): what is wrong with it is named, not its size', async () => {
  // A 3 GiB VM whose RAM does not compress writes a state this large. Sparse here: a good state
  // followed by zeros up to 2 GiB and a page, read as a whole and refused for what follows the trailer.
  const path = join(dir, 'big.state');
  await sample(path);
  truncateSync(path, 2 ** 31 + 4096);
  try {
    assert.throws(
      () => readStateFile(path),
      (e: Error) => e instanceof StateFileError && !/cannot read|2 GiB|too large/i.test(e.message),
    );
  } finally {
    rmSync(path);
  }
});

test('a snapshot\'s write (keep) never replaces a file that appeared at its name meanwhile; a suspend\'s does', async () => {
  const path = join(dir, 'taken.state');
  writeFileSync(path, 'another process took this name first');
  const b = new StateFileBuilder();
  b.addSection({ id: 'cpu', version: 1, data: new Uint8Array(10) });
  await assert.rejects(b.write(path, header(), { keep: true }), (e: Error) => e instanceof StateFileError && /taken\.state exists already/.test(e.message));
  assert.equal(readFileSync(path, 'utf8'), 'another process took this name first');
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');
  const fresh = join(dir, 'fresh.state');
  await b.write(fresh, header(), { keep: true });
  assert.deepEqual(readStateHeader(fresh), header());
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'nor after a write that succeeded');
  await b.write(path, header());
  assert.deepEqual(readStateHeader(path), header(), 'without keep the state replaces the file');
});
