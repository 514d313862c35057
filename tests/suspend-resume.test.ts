// Suspend and resume through the command line, as a user or a script meets them: the checksum guest
// (tests/state-guest) is suspended through the --monitor socket at several points of its run and
// continued with `hostbox resume` in a new process, and the answer is the one an uninterrupted run
// prints. Damaged, truncated, foreign and newer files and a changed disk are refused with one line
// and left as they are; a kill -9 in the middle of a suspend leaves the previous state loadable;
// the committed state of format version 1 still loads and runs on. Needs `npm run build` and nasm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumGuest } from './state-guest/state-guest.ts';
import { readStateFile } from '../main/state-file.ts';
import { monitor } from './monitor-client.ts';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin', 'hostbox.js');
const scratch = mkdtempSync(join(tmpdir(), 'hostbox-suspend-'));
const guest = join(scratch, 'checksum.bin');
writeFileSync(guest, checksumGuest({ ROUNDS: 240 }));
const disk = join(scratch, 'disk.img');
writeFileSync(disk, new Uint8Array(1 << 20));
const baseArgs = ['run', '--memory', '16', '--bios', guest, '--hda', disk];

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dots = (s: string): number => s.split('.').length - 1;

/** Runs until `atDots` dots are out, suspends to `file` through the monitor; returns what it printed. */
async function runAndSuspend(args: string[], file: string, atDots: number): Promise<string> {
  const sock = join(scratch, `m${Math.random().toString(36).slice(2)}.sock`);
  const vm = start([...args, '--monitor', sock]);
  await until('the monitor socket', () => existsSync(sock));
  await until(`${atDots} dots`, () => dots(vm.out()) >= atDots || vm.child.exitCode !== null);
  const [answer] = await monitor(sock, [JSON.stringify({ cmd: 'suspend', file })]);
  assert.deepEqual(answer, { ok: true, file }, vm.err());
  assert.equal(await vm.exit, 0, vm.err());
  assert.match(vm.err(), new RegExp(`suspended to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  return vm.out();
}

async function resumeToEnd(file: string): Promise<string> {
  const vm = start(['resume', file]);
  vm.child.stdin!.end();
  assert.equal(await vm.exit, 0, vm.err());
  return vm.out();
}

let reference = '';

test('an uninterrupted run of the checksum guest', async () => {
  const vm = start(baseArgs);
  vm.child.stdin!.end();
  assert.equal(await vm.exit, 0, vm.err());
  reference = vm.out();
  assert.match(reference, /sum=[0-9a-f]{8} fpu=[0-9a-f]{8}\r\n$/);
});

test('suspended at several points through the monitor and resumed in a new process, the answer is the same', async () => {
  for (const at of [1, 90, 200]) {
    const file = join(scratch, `at${at}.state`);
    const before = await runAndSuspend(baseArgs, file, at);
    assert.ok(statSync(file).mode % 0o1000 === 0o600, 'the state file is private to its user');
    const after = await resumeToEnd(file);
    assert.equal(before + after, reference, `suspended after ${dots(before)} dots`);
  }
});

test('a resumed VM suspends again to the same file and resumes again', async () => {
  const file = join(scratch, 'chain.state');
  const a = await runAndSuspend(baseArgs, file, 30);
  const b = await runAndSuspend(['resume', file], file, dots(a) + 60);
  const c = await resumeToEnd(file);
  assert.equal(a + b + c, reference);
});

test('the monitor answers status, presses the power button, refuses what it does not know, and its socket is private', async () => {
  const sock = join(scratch, 'status.sock');
  const vm = start([...baseArgs, '--monitor', sock]);
  await until('the monitor socket', () => existsSync(sock));
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  await until('the guest running', () => dots(vm.out()) > 0);
  const answers = await monitor(sock, ['{"cmd":"status"}', '{"cmd":"reboot-the-moon"}', 'not json', '[1]', '{"cmd":"suspend"}', '{"cmd":"power-button"}']);
  assert.deepEqual(answers[0], { ok: true, state: 'running' });
  assert.equal(answers[1]!.ok, false);
  assert.match(String(answers[1]!.error), /unknown command "reboot-the-moon"/);
  assert.match(String(answers[1]!.error), /power-button/);
  assert.deepEqual(answers.slice(2, 5).map((a) => a.ok), [false, false, false]);
  assert.match(String(answers[4]!.error), /say where/);
  assert.deepEqual(answers[5], { ok: true });
  // This guest has no ACPI driver: the press changes nothing, as on a PC; it runs on until quit.
  const before = dots(vm.out());
  await until('the guest running on', () => dots(vm.out()) > before);
  assert.equal(vm.child.exitCode, null);
  assert.deepEqual(await monitor(sock, ['{"cmd":"status"}', '{"cmd":"quit"}']), [{ ok: true, state: 'running' }, { ok: true }]);
  assert.equal(await vm.exit, 0);
});

test('a snapshot through the monitor: the VM runs on to the same answer, and resuming the snapshot goes back to it, as often as wanted', async () => {
  const sock = join(scratch, 'snap.sock');
  const diskBytes = readFileSync(disk);
  const vm = start([...baseArgs, '--monitor', sock]);
  await until('the monitor socket', () => existsSync(sock));
  await until('30 dots', () => dots(vm.out()) >= 30);
  const answers = await monitor(sock, [
    '{"cmd":"snapshot","name":"../escape"}',
    '{"cmd":"snapshot"}',
    '{"cmd":"snapshot","name":"first"}',
    '{"cmd":"snapshot","name":"first"}',
    '{"cmd":"status"}',
    '{"cmd":"snapshot","name":"second"}',
    '{"cmd":"snapshots"}',
  ]);
  assert.equal(answers[0]!.ok, false);
  assert.match(String(answers[0]!.error), /snapshot name "..\/escape" is not allowed/);
  assert.equal(answers[1]!.ok, false);
  const first = answers[2]!;
  // By default the snapshots go beside the hard disk.
  const folder = `${disk}.snapshots`;
  assert.equal(first.ok, true, JSON.stringify(first));
  assert.equal(first.file, join(folder, 'first.hbstate'));
  assert.equal(first.frozen, disk);
  assert.match(String(first.disk), /\/disk-[0-9a-f]{12}\.qcow2$/);
  assert.match(String(answers[3]!.error), /a snapshot named first exists already/);
  assert.deepEqual(answers[4], { ok: true, state: 'running' });
  const second = answers[5]!;
  assert.equal(second.ok, true);
  // The second froze the first's overlay and put a new one over it.
  assert.equal(second.frozen, first.disk);
  const list = answers[6]! as { ok: boolean; folder: string; current: string; snapshots: { name: string; parent?: string; file: string }[] };
  assert.equal(list.folder, folder);
  assert.equal(list.current, 'second');
  assert.deepEqual(list.snapshots.map((x) => [x.name, x.parent]), [['first', undefined], ['second', 'first']]);
  // The VM ran on through both: the answer is the uninterrupted one.
  vm.child.stdin!.end();
  assert.equal(await vm.exit, 0, vm.err());
  assert.equal(vm.out(), reference);
  assert.match(vm.err(), /snapshot first taken .*; go back to it with: hostbox resume .*first\.hbstate/);
  assert.match(vm.err(), new RegExp(`the disk's changes since snapshot second are in ${String(second.disk).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  // The user's disk was frozen, never written; qemu-img accepts the overlays (when it is installed: CI has it).
  assert.deepEqual(readFileSync(disk), diskBytes);
  if (spawnSync('qemu-img', ['--version']).status === 0 || process.env.CI)
    for (const o of [first.disk, second.disk]) assert.match(spawnSync('qemu-img', ['check', String(o)], { encoding: 'utf8' }).stdout, /No errors were found/);
  // Going back to the first snapshot, twice: the same rest of the run each time, and the snapshot's files stay as they were.
  const firstState = readFileSync(String(first.file));
  const overlays = new Set(readdirSync(folder));
  const again1 = await resumeToEnd(String(first.file));
  const again2 = await resumeToEnd(String(first.file));
  assert.ok(again1.length > 0 && reference.endsWith(again1), `resumed: ${JSON.stringify(again1.slice(-60))}`);
  assert.ok(dots(again1) < dots(reference) - 25, 'it went back to the snapshot, not to the end');
  assert.equal(again2, again1);
  assert.deepEqual(readFileSync(String(first.file)), firstState);
  // Each went back on a fresh overlay of its own.
  assert.equal(readdirSync(folder).filter((f) => !overlays.has(f)).length, 2);
});

test('bad state files and a changed disk are refused with one line, and the file stays as it was', async () => {
  const good = join(scratch, 'good.state');
  await runAndSuspend(baseArgs, good, 5);
  const bytes = new Uint8Array(readFileSync(good));
  const variants: [string, Uint8Array | null, RegExp][] = [
    ['truncated', bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated/],
    ['flipped', (() => { const b = bytes.slice(); b[Math.floor(b.length * 0.6)]! ^= 0x40; return b; })(), /damaged/],
    ['newer', (() => { const b = bytes.slice(); new DataView(b.buffer).setUint32(8, 2, true); return b; })(), /written by a newer Hostbox .*state format 2/],
    ['foreign', new TextEncoder().encode('GIF89a....'), /not a Hostbox saved state/],
    ['missing', null, /does not exist/],
  ];
  for (const [name, content, re] of variants) {
    const f = join(scratch, `${name}.state`);
    if (content) writeFileSync(f, content);
    const r = spawnSync(process.execPath, [bin, 'resume', f], { encoding: 'utf8', input: '', timeout: 60_000 });
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, re, name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line, not a stack trace: ${r.stderr}`);
    if (content) assert.deepEqual(new Uint8Array(readFileSync(f)), content, `${name}: left untouched`);
  }
  // The disk the state was suspended with is written to behind its back.
  const img = new Uint8Array(readFileSync(disk));
  img[0] = 0x42;
  writeFileSync(disk, img);
  const r = spawnSync(process.execPath, [bin, 'resume', good], { encoding: 'utf8', input: '', timeout: 60_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /disk hda \(.*disk\.img\) changed since the suspend/);
  assert.deepEqual(new Uint8Array(readFileSync(good)), bytes);
  img[0] = 0;
  writeFileSync(disk, img);
});

test('kill -9 during a suspend leaves the previous state loadable', async () => {
  const file = join(scratch, 'killed.state');
  await runAndSuspend(baseArgs, file, 5);
  const first = readFileSync(file);
  for (const delay of [0, 5, 20, 60, 150]) {
    const sock = join(scratch, `k${delay}.sock`);
    const vm = start([...baseArgs, '--monitor', sock]);
    await until('the monitor socket', () => existsSync(sock));
    await until('the guest running', () => dots(vm.out()) >= 3);
    const s = createConnection(sock);
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.write(JSON.stringify({ cmd: 'suspend', file }) + '\n');
    s.on('error', () => {});
    await new Promise((r) => setTimeout(r, delay));
    vm.child.kill('SIGKILL');
    await vm.exit;
    // Either the old state or the new one, whole: never a half file.
    assert.doesNotThrow(() => readStateFile(file), `killed ${delay} ms into the suspend`);
  }
  const last = readStateFile(file);
  assert.ok(last.sections.length > 10);
  assert.ok(first.length > 0);
  // The leftovers of killed writers are hidden temporary files, never the state itself.
  for (const f of readdirSync(scratch)) if (f.startsWith('.killed.state.')) assert.match(f, /\.tmp$/);
});

test('the committed state of format version 1 still loads and runs on to the right answer', async () => {
  const dir = join(root, 'tests', 'state-guest', 'format-1');
  const copy = mkdtempSync(join(scratch, 'format-1-'));
  // A copy, as a user's old file would be: resuming never writes to the committed one.
  for (const f of ['checksum.bin', 'checksum.state']) copyFileSync(join(dir, f), join(copy, f));
  const after = await resumeToEnd(join(copy, 'checksum.state'));
  const whole = spawnSync(process.execPath, [bin, 'run', '--memory', '16', '--bios', join(copy, 'checksum.bin')], { encoding: 'latin1', input: '', timeout: 120_000 });
  assert.equal(whole.status, 0, whole.stderr);
  const answer = /sum=[0-9a-f]{8} fpu=[0-9a-f]{8}/.exec(whole.stdout)?.[0];
  assert.ok(answer, whole.stdout);
  assert.ok(after.endsWith(`${answer}\r\n`), `resumed: ${JSON.stringify(after.slice(-60))}, whole run: ${answer}`);
  assert.ok(whole.stdout.endsWith(after), 'the resumed run prints the rest of the uninterrupted one');
});

test('Ctrl-A S at the terminal suspends to the --state file, says where, and exits 0', async (t) => {
  let pty: typeof import('node-pty');
  try {
    pty = await import('node-pty');
  } catch (e) {
    // node-pty is an optional dependency (it needs a native build); CI installs it.
    if (process.env.CI) throw new Error(`node-pty is needed for the terminal test: ${(e as Error).message}`);
    t.skip('node-pty is not installed');
    return;
  }
  const file = join(scratch, 'ctrl-a-s.state');
  const term = pty.spawn(process.execPath, [bin, ...baseArgs, '--state', file], { cols: 120, rows: 30, env: process.env as Record<string, string> });
  let text = '';
  term.onData((d) => (text += d));
  const exit = new Promise<number>((r) => term.onExit((e) => r(e.exitCode)));
  await until('the guest running', () => dots(text) >= 5);
  term.write('\x01s');
  assert.equal(await exit, 0, text);
  assert.match(text, new RegExp(`suspended to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.* MiB in .* s\\)`));
  const after = await resumeToEnd(file);
  // The resumed run prints exactly the rest of an uninterrupted one (the terminal's copy of the
  // first part has its line endings translated, so the rest is what is compared).
  assert.match(after, /sum=[0-9a-f]{8} fpu=[0-9a-f]{8}\r\n$/);
  assert.ok(reference.endsWith(after) && after.length < reference.length, `resumed: ${JSON.stringify(after.slice(-60))}`);
  // Without --state, Ctrl-A S says why it cannot, and the VM runs on.
  const plain = pty.spawn(process.execPath, [bin, ...baseArgs], { cols: 120, rows: 30, env: process.env as Record<string, string> });
  let out = '';
  plain.onData((d) => (out += d));
  const plainExit = new Promise<number>((r) => plain.onExit((e) => r(e.exitCode)));
  await until('the guest running', () => dots(out) >= 2);
  plain.write('\x01s');
  await until('the refusal', () => /nowhere to suspend to: start with --state FILE/.test(out));
  assert.equal(await plainExit, 0, 'the guest ran on to its end');
  assert.match(out, /sum=[0-9a-f]{8}/);
});

test('a VM with a host folder syncs it on the monitor, suspends with its folder disk, and resumes in a new process to the same answer', async () => {
  const folder = mkdtempSync(join(scratch, 'folder-'));
  writeFileSync(join(folder, 'note.txt'), 'hello\n');
  const sock = join(scratch, 'folder.sock');
  const file = join(scratch, 'folder.state');
  const vm = start([...baseArgs, '--folder', folder, '--monitor', sock]);
  await until('the monitor socket', () => existsSync(sock));
  await until('the guest running', () => dots(vm.out()) > 0);
  const answers = await monitor(sock, ['{"cmd":"sync","force":"yes"}', '{"cmd":"sync"}', JSON.stringify({ cmd: 'suspend', file })]);
  assert.deepEqual(answers[0], { ok: false, error: '"force" must be true or false' });
  assert.deepEqual(answers[1], { ok: true, lines: [`folder ${folder} synced: the guest changed nothing`] });
  assert.deepEqual(answers[2], { ok: true, file }, vm.err());
  assert.equal(await vm.exit, 0, vm.err());
  const saved = readStateFile(file);
  assert.ok(saved.sections.some((x) => x.id === 'host-folder/hdb'), 'the folder disk is in the state');
  assert.deepEqual(saved.header.disks.map((d) => d.slot), ['hda'], 'only image files are checked as disks');
  // The host edits a file the guest's disk reads from while the VM is suspended: resumed, with a warning.
  writeFileSync(join(folder, 'note.txt'), 'edited on the host\n');
  const resumed = start(['resume', file]);
  resumed.child.stdin!.end();
  assert.equal(await resumed.exit, 0, resumed.err());
  assert.match(resumed.err(), /1 file the guest reads changed on the host while the VM was suspended \(note\.txt\)/);
  assert.ok(reference.endsWith(resumed.out()) && resumed.out().length < reference.length, `resumed: ${JSON.stringify(resumed.out().slice(-60))}`);
  assert.deepEqual(readdirSync(folder), ['note.txt'], 'the folder holds what it held');
  assert.equal(readFileSync(join(folder, 'note.txt'), 'utf8'), 'edited on the host\n');
});
