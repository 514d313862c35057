import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageLock, ImageLockedError } from './image-lock.ts';

function scratch(): { dir: string; image: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-lock-'));
  const image = join(dir, 'disk.img');
  writeFileSync(image, new Uint8Array(1024));
  return { dir, image, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A pid that certainly belonged to a process that is gone now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('a second writer is refused with the holder named; after release the image can be locked again', () => {
  const s = scratch();
  try {
    const a = ImageLock.acquire(s.image, 'VM "Alpha"', 'disk image');
    const held = JSON.parse(readFileSync(`${s.image}.lck`, 'utf8'));
    assert.equal(held.pid, process.pid);
    assert.equal(held.owner, 'VM "Alpha"');
    assert.throws(
      () => ImageLock.acquire(s.image, 'VM "Beta"', 'disk image'),
      (e: Error) => e instanceof ImageLockedError && e.message.includes(`disk image ${s.image} is in use by VM "Alpha" (pid ${process.pid})`) && e.message.includes(`${s.image}.lck`),
    );
    a.release();
    assert.equal(existsSync(`${s.image}.lck`), false);
    ImageLock.acquire(s.image, 'VM "Beta"').release();
  } finally {
    s.done();
  }
});

test('a stale lock (its process is gone, or its pid now belongs to a process started later) is taken over', () => {
  const s = scratch();
  try {
    writeFileSync(`${s.image}.lck`, JSON.stringify({ pid: deadPid(), host: hostname(), started: '1', owner: 'VM "Crashed"', since: '' }));
    const a = ImageLock.acquire(s.image, 'VM "Next"');
    assert.equal(JSON.parse(readFileSync(`${s.image}.lck`, 'utf8')).owner, 'VM "Next"');
    a.release();
    // Our own pid, but a start time that is not ours: the pid was reused after a crash.
    writeFileSync(`${s.image}.lck`, JSON.stringify({ pid: process.pid, host: hostname(), started: '0', owner: 'VM "Old"', since: '' }));
    ImageLock.acquire(s.image, 'VM "Next"').release();
    // Nothing is left beside the image but the image.
    assert.deepEqual(readdirSync(s.dir), ['disk.img']);
  } finally {
    s.done();
  }
});

test('locks that cannot be judged are never taken over: another host, a live process, an unreadable file', () => {
  const s = scratch();
  try {
    writeFileSync(`${s.image}.lck`, JSON.stringify({ pid: deadPid(), host: 'elsewhere.example', started: null, owner: 'hostbox run', since: '' }));
    assert.throws(() => ImageLock.acquire(s.image, 'VM "X"'), /in use by hostbox run \(pid \d+ on elsewhere\.example\)/);
    writeFileSync(`${s.image}.lck`, JSON.stringify({ pid: process.ppid, host: hostname(), started: null, owner: 'the parent', since: '' }));
    assert.throws(() => ImageLock.acquire(s.image, 'VM "X"'), /in use by the parent/);
    writeFileSync(`${s.image}.lck`, 'garbage');
    assert.throws(() => ImageLock.acquire(s.image, 'VM "X"'), /in use by another program \(its lock file cannot be read\)/);
    // A lock released after someone replaced it by hand leaves the new one alone.
    rmSync(`${s.image}.lck`);
    const mine = ImageLock.acquire(s.image, 'VM "Mine"');
    rmSync(`${s.image}.lck`);
    const theirs = ImageLock.acquire(s.image, 'VM "Theirs"');
    mine.release();
    assert.equal(JSON.parse(readFileSync(`${s.image}.lck`, 'utf8')).owner, 'VM "Theirs"');
    theirs.release();
  } finally {
    s.done();
  }
});
