// The command line as a user meets it, through the real process split (VMM in a worker thread),
// with a stand-in machine so these run in seconds. Needs `npm run build` (npm test builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin', 'hostbox.js');
const scratch = mkdtempSync(join(tmpdir(), 'hostbox-cli-'));
const kernel = join(scratch, 'kernel.bin');
writeFileSync(kernel, new Uint8Array(4096));

function hostbox(args: string[], opts: { env?: Record<string, string>; input?: string } = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...opts.env }, input: opts.input ?? '', timeout: 30_000 });
}

test('--help and --version', () => {
  const h = hostbox(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /hostbox run/);
  assert.match(h.stdout, /Ctrl-A X/);
  const v = hostbox(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^hostbox \d+\.\d+\.\d+/);
});

test('bad input gets one clear line and a non-zero exit, never a stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['run', '--frobnicate'], /unknown option --frobnicate/],
    [['run', '--memory'], /--memory needs a value/],
    [['run', '--memory', 'lots', '--kernel', kernel], /not a whole number/],
    [['run', '--memory', '0', '--kernel', kernel], /memory 0 MiB is not possible/],
    [['run', '--memory', '99999', '--kernel', kernel], /memory 99999 MiB is not possible/],
    [['run', '--kernel', join(scratch, 'missing')], /kernel .*missing does not exist/],
    [['run', '--kernel', kernel, '--initrd', join(scratch, 'nope')], /initrd .*nope does not exist/],
    [['run', '--kernel', kernel, '--hda', join(scratch, 'nodisk')], /hda image .*nodisk does not exist/],
    [['run', '--kernel', kernel, '--engine', 'warp'], /engine "warp" is unknown/],
    [['run', '--bios', join(scratch, 'no-bios.bin')], /BIOS .*no-bios\.bin does not exist/],
    [['run', '--bios', kernel], /a BIOS image must be 64 KiB to 2 MiB/],
    [['run', '--boot', 'floppy'], /--boot floppy is not a boot device: use disk or cdrom/],
    [['frob'], /unknown command "frob"/],
    [['run', '--config', join(scratch, 'none.json')], /config file .* does not exist/],
    [['run', '--kernel', kernel, '--folder', join(scratch, 'no-such-folder')], /host folder .*no-such-folder does not exist/],
    [['run', '--kernel', kernel, '--folder', kernel], /host folder .*kernel\.bin is not a directory/],
    [['run', '--kernel', kernel, '--folder', ',readonly'], /--folder ,readonly: give a directory/],
    [['run', '--kernel', kernel, '--folder', `${scratch},rw`], /the only option after a comma is readonly/],
    [['run', '--kernel', kernel, '--hda', kernel, '--folder', scratch, '--folder', scratch, '--folder', scratch, '--folder', scratch], /4 host folders need 4 free IDE positions, and only 3 are free \(hdb, hdc, hdd\)/],
  ];
  for (const [args, re] of cases) {
    const r = hostbox(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('a kernel that is not a bzImage is refused by name', () => {
  const r = hostbox(['run', '--kernel', kernel]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bzImage|boot sector|HdrS/i);
});

test('serial port 0 is the terminal; the guest powering off ends the command with 0', async () => {
  const child = spawn(process.execPath, [bin, 'run', '--kernel', kernel], { env: { ...process.env, HOSTBOX_FAKE_MACHINE: 'echo' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.write('hello guest\n');
  // EOF on stdin must not stop the VM: it keeps running until the guest powers off.
  setTimeout(() => child.stdin.end('poweroff\n'), 300);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.match(out, /hello guest/);
});

test('a VMM that dies is reported with its error and a non-zero exit', () => {
  const r = hostbox(['run', '--kernel', kernel], { env: { HOSTBOX_FAKE_MACHINE: 'echo' }, input: 'crash\n' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the VM crashed: .*crashing as asked/);
  const s = hostbox(['run', '--kernel', kernel], { env: { HOSTBOX_FAKE_MACHINE: 'crash' } });
  assert.equal(s.status, 2);
  assert.match(s.stderr, /failing on start as asked/);
});

test('a guest halted with interrupts off is said in one line and ends the command with 3', () => {
  const r = hostbox(['run', '--kernel', kernel], { env: { HOSTBOX_FAKE_MACHINE: 'echo' }, input: 'halt\n' });
  assert.equal(r.status, 3);
  assert.match(r.stderr, /^hostbox: the guest halted with interrupts off at 0060:c1234567$/m);
});

test('settings from a config file, overridden by flags', () => {
  const cfg = join(scratch, 'vm.json');
  writeFileSync(cfg, JSON.stringify({ memory: 64, kernel, append: 'console=ttyS0' }));
  const r = hostbox(['run', '--config', cfg, '--memory', '32'], { env: { HOSTBOX_FAKE_MACHINE: 'echo' }, input: 'poweroff\n' });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(cfg, JSON.stringify({ memroy: 64 }));
  const bad = hostbox(['run', '--config', cfg]);
  assert.match(bad.stderr, /unknown setting "memroy"/);
});

test('--folder attaches each folder on the next free IDE position, says which, and syncs at power-off', () => {
  const a = join(scratch, 'folder-a');
  const b = join(scratch, 'folder-b');
  mkdirSync(a, { recursive: true });
  mkdirSync(b, { recursive: true });
  writeFileSync(join(a, 'hello.txt'), 'hi');
  const r = hostbox(['run', '--kernel', kernel, '--folder', a, '--folder', `${b},readonly`], { env: { HOSTBOX_FAKE_MACHINE: 'echo' }, input: 'poweroff\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /folder .*folder-a is IDE primary master \(hda\): FAT16, 1 files, 0 directories/);
  assert.match(r.stderr, /folder .*folder-b \(read-only\) is IDE primary slave \(hdb\)/);
  assert.match(r.stderr, /folder .*folder-a synced: the guest changed nothing/);
  assert.match(r.stderr, /folder .*folder-b is attached read-only: the guest's changes were dropped/);
  assert.deepEqual(readdirSync(a), ['hello.txt']);
});
