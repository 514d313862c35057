import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
    // Only the lock is left beside the image (its draft is gone), and it is complete.
    assert.deepEqual(readdirSync(s.dir).sort(), ['disk.img', 'disk.img.lck']);
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
    rmSync(mine.inodeLockPath!);
    const theirs = ImageLock.acquire(s.image, 'VM "Theirs"');
    mine.release();
    assert.equal(JSON.parse(readFileSync(`${s.image}.lck`, 'utf8')).owner, 'VM "Theirs"');
    assert.match(JSON.parse(readFileSync(theirs.inodeLockPath!, 'utf8')).owner, /^VM "Theirs"/);
    theirs.release();
  } finally {
    s.done();
  }
});

test('one image under two names (a symbolic link to it, or to its folder) is one image: the second writer is refused', () => {
  const s = scratch();
  try {
    const alias = join(s.dir, 'alias.img');
    symlinkSync(s.image, alias);
    const linkedDir = join(s.dir, 'vms');
    symlinkSync(s.dir, linkedDir);
    const viaDir = join(linkedDir, 'disk.img');
    for (const [first, second] of [
      [s.image, alias],
      [alias, s.image],
      [viaDir, alias],
    ] as const) {
      const a = ImageLock.acquire(first, 'VM "Alpha"', 'disk image');
      assert.throws(
        () => ImageLock.acquire(second, 'VM "Beta"', 'disk image'),
        (e: Error) => e instanceof ImageLockedError && e.message.includes(`disk image ${second} is in use by VM "Alpha"`),
        `${first} then ${second}`,
      );
      a.release();
    }
    // The lock lies beside the file itself, and goes with the release.
    assert.deepEqual(readdirSync(s.dir).sort(), ['alias.img', 'disk.img', 'vms']);
    // A library lock is taken before its file exists: its folder is resolved all the same.
    mkdirSync(join(s.dir, 'data'));
    const lib = ImageLock.acquire(join(s.dir, 'data', 'library.sqlite3'), 'the app', 'the VM library');
    assert.throws(() => ImageLock.acquire(join(linkedDir, 'data', 'library.sqlite3'), 'hostbox list', 'the VM library'), ImageLockedError);
    lib.release();
    assert.equal(existsSync(join(s.dir, 'data', 'library.sqlite3.lck')), false);
  } finally {
    s.done();
  }
});

test('one image under two hard links, in two folders, is one image: the second writer is refused, naming the first name', () => {
  const s = scratch();
  const other = mkdtempSync(join(tmpdir(), 'hostbox-lock-other-'));
  try {
    const twin = join(other, 'twin.img');
    linkSync(s.image, twin);
    for (const [first, second] of [
      [s.image, twin],
      [twin, s.image],
    ] as const) {
      const a = ImageLock.acquire(first, 'VM "Alpha"', 'disk image');
      assert.ok(a.inodeLockPath && existsSync(a.inodeLockPath), 'a lock on the file itself is taken');
      assert.throws(
        () => ImageLock.acquire(second, 'VM "Beta"', 'disk image'),
        (e: Error) => e instanceof ImageLockedError && e.message.includes(`disk image ${second} is in use by VM "Alpha" as ${realpathSync(first)} (pid ${process.pid})`),
        `${first} then ${second}`,
      );
      // The refusal took nothing: the second name is free of locks, and the first is still held.
      assert.equal(existsSync(`${second}.lck`), false);
      assert.ok(existsSync(`${first}.lck`));
      a.release();
      assert.equal(existsSync(a.inodeLockPath), false, 'the lock on the file goes with the release');
    }
    ImageLock.acquire(twin, 'VM "Beta"', 'disk image').release();
    // A stale lock on the file (its process gone) is taken over, as the one beside the image is.
    const probe = ImageLock.acquire(s.image, 'probe');
    const inodeLock = probe.inodeLockPath!;
    probe.release();
    writeFileSync(inodeLock, JSON.stringify({ pid: deadPid(), host: hostname(), started: '1', owner: 'VM "Crashed"', since: '' }));
    ImageLock.acquire(twin, 'VM "Next"').release();
    assert.equal(existsSync(inodeLock), false);
    // A live holder whose file is gone (its inode number now another file's, as here): its lock on the
    // number is stale; one whose file is still that inode is not.
    writeFileSync(inodeLock, JSON.stringify({ pid: process.ppid, host: hostname(), started: null, owner: 'VM "Elsewhere"', since: '', file: join(other, 'deleted.img') }));
    ImageLock.acquire(twin, 'VM "Next"').release();
    writeFileSync(inodeLock, JSON.stringify({ pid: process.ppid, host: hostname(), started: null, owner: 'VM "Elsewhere"', since: '', file: s.image }));
    assert.throws(() => ImageLock.acquire(twin, 'VM "Next"'), /in use by VM "Elsewhere"/);
    rmSync(inodeLock);
  } finally {
    s.done();
    rmSync(other, { recursive: true, force: true });
  }
});

test('a lock folder others could write to is not used: the lock beside the image still holds alone', () => {
  const s = scratch();
  const runtime = mkdtempSync(join(tmpdir(), 'hostbox-lock-runtime-'));
  const was = process.env.XDG_RUNTIME_DIR;
  try {
    process.env.XDG_RUNTIME_DIR = runtime;
    const shared = join(runtime, `hostbox-locks-${process.getuid?.() ?? 0}`);
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const a = ImageLock.acquire(s.image, 'VM "Alpha"', 'disk image');
    assert.equal(a.inodeLockPath, null);
    assert.deepEqual(readdirSync(shared), [], 'nothing was put in the shared folder');
    assert.throws(() => ImageLock.acquire(s.image, 'VM "Beta"', 'disk image'), /in use by VM "Alpha"/);
    a.release();
    assert.equal(existsSync(`${s.image}.lck`), false);
    // Its own folder, made private, is used.
    rmSync(shared, { recursive: true });
    const b = ImageLock.acquire(s.image, 'VM "Beta"', 'disk image');
    assert.ok(b.inodeLockPath?.startsWith(shared));
    b.release();
  } finally {
    if (was === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = was;
    s.done();
    rmSync(runtime, { recursive: true, force: true });
  }
});

test('a lock file that is a FIFO or leads to a device is never read: the image is refused, holder unknown, and the host does not hang', () => {
  const s = scratch();
  try {
    // Planted by another user of a shared folder, or left by a damaged disk. A blocking open of a
    // FIFO never returns, and /dev/zero never ends: so in a child, whose timeout is the failure.
    const fifoImage = join(s.dir, 'fifo.img');
    writeFileSync(fifoImage, new Uint8Array(512));
    execFileSync('mkfifo', [`${fifoImage}.lck`]);
    const zeroImage = join(s.dir, 'zero.img');
    writeFileSync(zeroImage, new Uint8Array(512));
    symlinkSync('/dev/zero', `${zeroImage}.lck`);
    const script = `import { ImageLock } from ${JSON.stringify(new URL('./image-lock.ts', import.meta.url).href)};
      for (const image of process.argv.slice(1)) {
        try { ImageLock.acquire(image, 'VM "X"', 'disk image').release(); console.log('locked'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }
      }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, fifoImage, zeroImage], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.error, undefined, `the child did not finish (${String(r.error)})`);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      `ImageLockedError: disk image ${fifoImage} is in use by another program (its lock file cannot be read); if nothing uses it any more, delete ${fifoImage}.lck`,
      `ImageLockedError: disk image ${zeroImage} is in use by another program (its lock file cannot be read); if nothing uses it any more, delete ${zeroImage}.lck`,
    ]);
  } finally {
    s.done();
  }
});
