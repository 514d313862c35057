// scripts/prerequisites.sh, the first step of `npm start` and `npm test`, run in a copy of the
// repository with stand-ins for dpkg, apt-get, sudo, id and the guest builder on PATH that record
// how they were called: nothing is installed on this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

interface Machine {
  /** Debian packages dpkg reports installed ('*' for all). */
  installed: string[] | '*';
  i386: boolean;
  uid: number;
  sudo: boolean;
  guests: string[];
  /** Guests whose manifest was written by another build script (or other guest tools). */
  staleGuests?: string[];
  /** The userland guest: built by the present script and work list, by another, or not at all. */
  userland?: 'built' | 'stale';
}

function run(mode: string, m: Machine): { status: number | null; stderr: string; calls: string[] } {
  const repo = mkdtempSync(join(tmpdir(), 'hostbox-prereq-'));
  try {
    mkdirSync(join(repo, 'scripts'));
    mkdirSync(join(repo, 'bin'));
    copyFileSync(join(root, 'scripts', 'prerequisites.sh'), join(repo, 'scripts', 'prerequisites.sh'));
    copyFileSync(join(root, 'scripts', 'guest-packages.txt'), join(repo, 'scripts', 'guest-packages.txt'));
    cpSync(join(root, 'scripts', 'guest-tools'), join(repo, 'scripts', 'guest-tools'), { recursive: true });
    const calls = join(repo, 'calls');
    writeFileSync(calls, '');
    writeFileSync(join(repo, 'scripts', 'build-guest.sh'), `echo "build-guest $*" >> "${calls}"\n`);
    writeFileSync(join(repo, 'scripts', 'build-userland.sh'), `echo "build-userland $*" >> "${calls}"\n`);
    mkdirSync(join(repo, 'tests', 'userland'), { recursive: true });
    copyFileSync(join(root, 'tests', 'userland', 'work.sh'), join(repo, 'tests', 'userland', 'work.sh'));
    if (m.userland) {
      const by = createHash('sha256');
      by.update(readFileSync(join(repo, 'scripts', 'build-userland.sh')));
      by.update(readFileSync(join(repo, 'tests', 'userland', 'work.sh')));
      const d = join(repo, '.cache', 'userland');
      mkdirSync(d, { recursive: true });
      for (const f of ['initrd.img', 'data.bin']) writeFileSync(join(d, f), '');
      writeFileSync(join(d, 'manifest.json'), `{\n  "cacheKey": "${m.userland === 'stale' ? '0'.repeat(64) : by.digest('hex')} libc6=1",\n}\n`);
    }
    // A built guest's manifest begins its cache key with the hash of the script and tools that built it.
    const builtBy = createHash('sha256');
    builtBy.update(readFileSync(join(repo, 'scripts', 'build-guest.sh')));
    for (const f of readdirSync(join(repo, 'scripts', 'guest-tools')).sort()) builtBy.update(readFileSync(join(repo, 'scripts', 'guest-tools', f)));
    const sha = builtBy.digest('hex');
    for (const g of m.guests) {
      const d = join(repo, '.cache', g === '686' ? 'guest' : `guest-${g}`);
      mkdirSync(d, { recursive: true });
      for (const f of ['vmlinuz', 'initrd.img']) writeFileSync(join(d, f), '');
      const key = m.staleGuests?.includes(g) ? '0'.repeat(64) : sha;
      writeFileSync(join(d, 'manifest.json'), `{\n  "cacheKey": "${key} ${g} linux-image-${g}=1 busybox-static:i386=1",\n}\n`);
    }
    const shim = (name: string, body: string): void => {
      writeFileSync(join(repo, 'bin', name), `#!/bin/bash\necho "${name} $*" >> "${calls}"\n${body}\n`);
      chmodSync(join(repo, 'bin', name), 0o755);
    };
    const installed = m.installed === '*' ? '*' : m.installed.join(' ');
    // dpkg-query -W -f=... PKG...: one line per known package; unknown ones go to stderr.
    shim('dpkg-query', `for p in "\${@:3}"; do if [ "${installed}" = "*" ] || [[ " ${installed} " == *" $p "* ]]; then echo "$p ii "; else echo "dpkg-query: no packages found matching $p" >&2; fi; done`);
    shim('dpkg', m.i386 ? 'echo i386' : 'true');
    shim('id', `echo ${m.uid}`);
    shim('sudo', m.sudo ? '[ "$1" = -n ] && exit 0; "$@"' : 'exit 1');
    shim('apt-get', 'true');
    const r = spawnSync('bash', [join(repo, 'scripts', 'prerequisites.sh'), mode], { encoding: 'utf8', env: { ...process.env, PATH: `${join(repo, 'bin')}:${process.env.PATH}` } });
    return { status: r.status, stderr: r.stderr, calls: readFileSync(calls, 'utf8').trim().split('\n').filter((l) => l && !/^(id|dpkg-query|dpkg --print|sudo -n true)/.test(l)) };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

const everything: Machine = { installed: '*', i386: true, uid: 1000, sudo: false, guests: ['686', '686-pae'], userland: 'built' };

test('with everything present it only asks dpkg: no apt-get, no sudo, no guest build', () => {
  for (const mode of ['start', 'test']) {
    const r = run(mode, everything);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, []);
    assert.equal(r.stderr, '');
  }
});

test('not root: one list of what is missing with the commands to run; test stops, start goes on', () => {
  const m: Machine = { ...everything, installed: ['seabios', 'cpio', 'gzip', 'xz-utils', 'kmod', 'dpkg', 'apt', 'coreutils', 'findutils', 'nasm', 'build-essential', 'python3', 'gcc-multilib', 'xorriso', 'isolinux', 'syslinux-common', 'dosfstools', 'mtools', 'qemu-utils', 'memtest86+', 'ipxe', 'bochsbios', 'vgabios', 'openssl', 'bzip2', 'zstd', 'bc', 'gawk'], i386: false, guests: [] };
  const t = run('test', m);
  assert.equal(t.status, 1);
  assert.match(t.stderr, /npm test needs what this machine lacks; run as root:\n {2}dpkg --add-architecture i386 && apt-get update\n {2}apt-get install --no-install-recommends chromium\n {2}then, as yourself: npm run guest +\(the Debian test guest: 686 686-pae\)/);
  assert.deepEqual(t.calls, [], 'nothing installed or built');
  // start needs only the BIOS and the guest's tools, all present: it builds the guest it lacks.
  const s = run('start', { ...m, i386: true });
  assert.equal(s.status, 0, s.stderr);
  assert.deepEqual(s.calls, ['build-guest']);
  const s2 = run('start', { ...m, installed: ['cpio'] });
  assert.equal(s2.status, 0);
  assert.match(s2.stderr, /apt-get install --no-install-recommends seabios gzip xz-utils kmod dpkg apt coreutils findutils nasm\n/);
  assert.match(s2.stderr, /starting without the sample VM/);
});

test('as root: what is missing is installed with apt-get, then the missing guests are built', () => {
  const r = run('test', { installed: ['seabios', 'cpio', 'gzip', 'xz-utils', 'kmod', 'dpkg', 'apt', 'coreutils', 'findutils'], i386: false, uid: 0, sudo: false, guests: ['686'] });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls, [
    'dpkg --add-architecture i386',
    'apt-get update -qq',
    'apt-get install -y -qq --no-install-recommends nasm build-essential python3 gcc-multilib chromium xorriso isolinux syslinux-common dosfstools mtools qemu-utils memtest86+ ipxe bochsbios vgabios openssl bzip2 zstd bc gawk',
    'build-guest 686-pae',
    'build-userland',
  ]);
  // Not root, but sudo without a password: the same through sudo.
  const s = run('start', { installed: [], i386: true, uid: 1000, sudo: true, guests: ['686'] });
  assert.equal(s.status, 0, s.stderr);
  assert.ok(s.calls.includes('sudo apt-get install -y -qq --no-install-recommends seabios cpio gzip xz-utils kmod dpkg apt coreutils findutils nasm'), s.calls.join('\n'));
});

test('a guest built by an older build script or older guest tools is built again', () => {
  const r = run('test', { ...everything, staleGuests: ['686'] });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.calls, ['build-guest']);
});

test('the userland guest is built for npm test only, and again when its script or work list changed', () => {
  const none = run('test', { ...everything, userland: undefined });
  assert.equal(none.status, 0, none.stderr);
  assert.deepEqual(none.calls, ['build-userland']);
  const stale = run('test', { ...everything, userland: 'stale' });
  assert.equal(stale.status, 0, stale.stderr);
  assert.deepEqual(stale.calls, ['build-userland']);
  const start = run('start', { ...everything, userland: undefined });
  assert.equal(start.status, 0, start.stderr);
  assert.deepEqual(start.calls, [], 'npm start has no use for it');
});
