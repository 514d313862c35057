// Real programs nobody here wrote, as Debian compiled them for i686: the userland guest
// (scripts/build-userland.sh) runs tests/userland/work.sh under the translator, and each line it
// prints (OpenSSL's digests and ciphers, xz, bzip2, gzip and zstd both ways, bc's and gawk's MPFR
// big numbers, gawk's and perl's floating point on the x87, coreutils) must equal what the host's
// own builds of the same programs print for the same input. A translator or interpreter that gets
// one flag, one MMX lane or one x87 rounding wrong shows as a line that differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuestSession, guestDir, guestSkipReason, root } from './guest-session.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const dir = join(root, '.cache', 'userland');
const work = join(root, 'tests', 'userland', 'work.sh');
const hostTools = ['openssl', 'xz', 'bzip2', 'gzip', 'zstd', 'bc', 'gawk', 'perl', 'bash'];

function missing(): string | false {
  const guest = guestSkipReason(guestDir);
  if (guest) return guest;
  if (!existsSync(join(dir, 'manifest.json'))) return `no userland guest in ${dir} (bash scripts/build-userland.sh)`;
  for (const t of hostTools) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `${t} is not installed on the host (the reference the guest's output is compared with)`;
    }
  }
  return false;
}
const skip = skipOrFailInCi(missing());

/** "name rest" lines, by name (kernel messages on the console have other forms and are left out). */
function results(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const m = /^([a-z][a-z0-9-]*) (.*)$/.exec(raw.trimEnd());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** A Debian version without its binary-only rebuild suffix (+b1): the same source, the same output. */
const source = (v: string): string => v.replace(/\+b\d+$/, '');

function hostVersion(pkg: string): string | null {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' });
  } catch {
    return null;
  }
}

test('Debian i686 programs (OpenSSL, xz, bzip2, gzip, zstd, bc, gawk, perl, coreutils) print what the host builds print', { skip, timeout: 30 * 60_000 }, async () => {
  const data = join(dir, 'data.bin');
  const expected = results(execFileSync('bash', [work, data], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, maxBuffer: 1 << 24 }));
  assert.ok(expected.size >= 50, `the host printed ${expected.size} results`);

  // A compressor's output depends on its version: compared only where the guest's package is the
  // host's (the round trip, decompressed, is compared always).
  const packages = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { packages: Record<string, string> }).packages;
  const sameVersion = (pkg: string): boolean => {
    const host = hostVersion(pkg);
    return host !== null && packages[pkg] !== undefined && source(host) === source(packages[pkg]!);
  };
  const compressors: Record<string, string> = { xz: 'xz-utils', bzip2: 'bzip2', gzip: 'gzip', zstd: 'zstd' };

  const g = new GuestSession(['--memory', '512', '--engine', 'bt', '--kernel', join(guestDir, 'vmlinuz'), '--initrd', join(dir, 'initrd.img'), '--append', 'console=ttyS0 quiet']);
  try {
    const begin = await g.waitFor(/HOSTBOX-USERLAND-BEGIN\r?\n/, 5 * 60_000);
    const end = await g.waitFor(/HOSTBOX-USERLAND-END\r?\n/, 25 * 60_000);
    const got = results(g.out.slice(begin.at, end.at));
    const differ: string[] = [];
    for (const [name, want] of expected) {
      let have = got.get(name);
      let ref = want;
      const pkg = compressors[name];
      if (pkg && !sameVersion(pkg)) {
        // "COMPRESSED-HASH ROUNDTRIP-HASH": the round trip only.
        ref = want.split(' ')[1]!;
        have = have?.split(' ')[1];
      }
      if (have !== ref) differ.push(`${name}: guest ${have === undefined ? '(nothing)' : JSON.stringify(have)}, host ${JSON.stringify(ref)}`);
    }
    assert.deepEqual(differ, [], `the guest's programs disagree with the host's:\n${differ.join('\n')}\nguest output:\n${g.out.slice(begin.at, end.at)}`);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([g.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
    clearTimeout(timer);
    assert.equal(exit, 0, 'the guest powers off and hostbox exits 0');
  } finally {
    g.kill();
  }
});
