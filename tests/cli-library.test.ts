// The library commands (hostbox list, create, start, stop, reset, shutdown, delete) as a user meets
// them: with no app open, through the real web-mode app (dist/main/start.js) on a temporary data
// folder, and through the app they start in the background. VMs run the test build's stand-in
// machine (HOSTBOX_FAKE_MACHINE=echo), so no guest boots. Needs `npm run build`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin', 'hostbox.js');
const startJs = join(root, 'dist', 'main', 'start.js');
const skip = skipOrFailInCi(existsSync(startJs) && existsSync(join(root, 'dist', 'main', 'cli.js')) ? false : 'the built app and command line (npm run build)');
const files = mkdtempSync(join(tmpdir(), 'hostbox-cli-lib-files-'));
const kernel = join(files, 'vmlinuz');
writeFileSync(kernel, fakeBzImage());

function scratch(): { env: Record<string, string>; dataDir: string; done(): void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-cli-lib-'));
  return { dataDir, env: { HOSTBOX_DATA_DIR: dataDir, HOSTBOX_FAKE_MACHINE: 'echo' }, done: () => rmSync(dataDir, { recursive: true, force: true }) };
}

function hostbox(env: Record<string, string>, args: string[], input = '') {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, input, timeout: 60_000 });
}

/** A failure: the status, and exactly one line on stderr matching `re`, no stack trace. */
function fails(r: ReturnType<typeof hostbox>, status: number, re: RegExp): void {
  assert.equal(r.status, status, `status for: ${r.stderr}`);
  assert.match(r.stderr.trim(), re);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

function listed(env: Record<string, string>): { name: string; state: string }[] {
  const r = hostbox(env, ['list', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { name: string; state: string }[];
}

const until = async (f: () => boolean, what: string, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

async function startApp(env: Record<string, string>): Promise<{ child: ChildProcess; out: () => string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [startJs, '--web', '--port', '0'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => /Open: http/.test(out) || child.exitCode !== null, 'the app to print its URL', 30_000);
  assert.equal(child.exitCode, null, out);
  return {
    child,
    out: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    },
  };
}

/** Ends a background app a test left behind (by the pid it published). */
function killPublished(dataDir: string): void {
  try {
    process.kill((JSON.parse(readFileSync(join(dataDir, 'app.json'), 'utf8')) as { pid: number }).pid, 'SIGTERM');
  } catch {
    // None left.
  }
}

test('without the app: create, list (text and JSON), delete; bad input and unknown VMs get one line', { skip }, () => {
  const s = scratch();
  try {
    assert.deepEqual(listed(s.env), []);
    const c = hostbox(s.env, ['create', 'Alpha', '--kernel', kernel, '--memory', '64', '--append', 'console=ttyS0 quiet']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /Created "Alpha" \(64 MiB, boots kernel .*vmlinuz\)/);
    fails(hostbox(s.env, ['create', 'alpha', '--kernel', kernel]), 2, /^hostbox: create: NAME: A VM named "alpha" already exists\.$/);
    fails(hostbox(s.env, ['create', 'Beta', '--kernel', join(files, 'missing')]), 2, /--kernel: .*missing does not exist/);
    fails(hostbox(s.env, ['create', 'Beta', '--kernel', kernel, '--bios', kernel]), 2, /--bios is not kept in the library/);
    fails(hostbox(s.env, ['create', 'Beta', '--frob']), 2, /unknown option --frob/);
    fails(hostbox(s.env, ['create', '--kernel', kernel]), 2, /takes the new VM's name first/);
    fails(hostbox(s.env, ['list', '--frob']), 2, /hostbox list: unknown argument --frob/);
    fails(hostbox(s.env, ['start']), 2, /hostbox start takes one VM name/);
    fails(hostbox(s.env, ['stop', 'Alpha', '--hard']), 2, /hostbox stop: unknown option --hard/);
    fails(hostbox(s.env, ['start', 'Gamma']), 1, /no VM named "Gamma" in the library .* \(hostbox list shows them\)/);
    // Nothing runs without the app: stop, reset and shutdown say so; the failed start started no app.
    for (const cmd of ['stop', 'reset', 'shutdown']) fails(hostbox(s.env, [cmd, 'Alpha']), 1, /^hostbox: "Alpha" is not running$/);
    assert.ok(!existsSync(join(s.dataDir, 'app.json')));
    const text = hostbox(s.env, ['list']);
    assert.match(text.stdout, /^NAME +STATE +MEMORY +BOOTS\nAlpha +off +64 MiB +kernel /);
    const json = listed(s.env);
    assert.equal(json.length, 1);
    assert.deepEqual({ name: json[0]!.name, state: json[0]!.state }, { name: 'Alpha', state: 'off' });
    const d = hostbox(s.env, ['delete', 'ALPHA']);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /Deleted "Alpha" and its folder .*; left in place: .*vmlinuz/);
    assert.deepEqual(listed(s.env), []);
    fails(hostbox(s.env, ['delete', 'Alpha']), 1, /no VM named "Alpha"/);
  } finally {
    s.done();
  }
});

test('with the app open every command goes through it; starting a VM it runs is "already running"', { skip, timeout: 120_000 }, async () => {
  const s = scratch();
  assert.equal(hostbox(s.env, ['create', 'Alpha', '--kernel', kernel, '--memory', '64']).status, 0);
  const app = await startApp(s.env);
  try {
    const pid = app.child.pid!;
    // Through the app: it holds the library, and a VM created here shows in it.
    assert.equal(hostbox(s.env, ['create', 'Beta', '--kernel', kernel, '--memory', '32']).status, 0);
    assert.deepEqual(listed(s.env).map((v) => [v.name, v.state]), [['Alpha', 'off'], ['Beta', 'off']]);
    const on = hostbox(s.env, ['start', 'Alpha', '--headless']);
    assert.equal(on.status, 0, on.stderr);
    assert.equal(on.stderr, '', 'the app was already there: no background app started');
    assert.deepEqual(listed(s.env).map((v) => [v.name, v.state]), [['Alpha', 'running'], ['Beta', 'off']]);
    fails(hostbox(s.env, ['start', 'Alpha']), 1, new RegExp(`^hostbox: "Alpha" is already running \\(in the Hostbox app, pid ${pid}\\)$`));
    fails(hostbox(s.env, ['start', 'alpha', '--headless']), 1, /"Alpha" is already running/);
    fails(hostbox(s.env, ['delete', 'Alpha']), 1, /"Alpha" is running: power it off first \(hostbox stop "Alpha"\)/);
    assert.equal(hostbox(s.env, ['reset', 'Alpha']).status, 0);
    assert.equal(listed(s.env)[0]!.state, 'running');
    // The ACPI power button: the stand-in machine, like a guest that handles it, powers off.
    const sd = hostbox(s.env, ['shutdown', 'Alpha']);
    assert.equal(sd.status, 0, sd.stderr);
    await until(() => listed(s.env)[0]!.state === 'off', 'the guest to power off after the power button');
    assert.equal(hostbox(s.env, ['start', 'Alpha', '--headless']).status, 0);
    const stop = hostbox(s.env, ['stop', 'Alpha']);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(listed(s.env)[0]!.state, 'off');
    fails(hostbox(s.env, ['stop', 'Alpha']), 1, /"Alpha" is not running/);
    // The console on this terminal: input reaches the guest, its output comes back, and the guest powering off ends the command with 0.
    const con = hostbox(s.env, ['start', 'Beta'], 'echo-this-line\npoweroff\n');
    assert.equal(con.status, 0, con.stderr);
    assert.match(con.stdout, /echo-this-line/);
    assert.equal(listed(s.env)[1]!.state, 'off');
    // A second app on the same data folder points at the first instead of opening the library again.
    const again = spawnSync(process.execPath, [startJs, '--web', '--port', '0'], { encoding: 'utf8', env: { ...process.env, ...s.env }, timeout: 30_000 });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`already running for this data folder \\(pid ${pid}\\)`));
    assert.equal(/Open: (\S+)/.exec(again.stdout)![1], /Open: (\S+)/.exec(app.out())![1]);
    assert.equal(hostbox(s.env, ['delete', 'Beta']).status, 0);
    assert.deepEqual(listed(s.env).map((v) => v.name), ['Alpha']);
  } finally {
    await app.stop();
    s.done();
  }
  // The app removed what it published, so later commands do not look for it.
  assert.ok(!existsSync(join(s.dataDir, 'app.json')));
});

test('start with no app open starts it in the background, which ends once no VM has run for a while', { skip, timeout: 120_000 }, async () => {
  const s = scratch();
  try {
    // Left by an app killed with SIGKILL, its pid now another live process's (this one): not reachable, so not trusted.
    writeFileSync(join(s.dataDir, 'app.json'), JSON.stringify({ pid: process.pid, port: 9, token: 'stale' }));
    assert.equal(hostbox(s.env, ['create', 'Alpha', '--kernel', kernel, '--memory', '64']).status, 0);
    const on = hostbox(s.env, ['start', 'Alpha', '--headless']);
    assert.equal(on.status, 0, on.stderr);
    const m = /started the Hostbox app in the background \(pid (\d+);.*http:\/\/127\.0\.0\.1:\d+\/\?token=/.exec(on.stderr);
    assert.ok(m, on.stderr);
    const appPid = Number(m[1]);
    assert.deepEqual(listed(s.env).map((v) => v.state), ['running']);
    // The background app is the one running it: a second start is refused, naming it.
    fails(hostbox(s.env, ['start', 'Alpha', '--headless']), 1, new RegExp(`"Alpha" is already running \\(in the Hostbox app, pid ${appPid}\\)`));
    assert.equal(hostbox(s.env, ['stop', 'Alpha']).status, 0);
    const alive = (): boolean => {
      try {
        process.kill(appPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until(() => !alive(), 'the idle background app to end', 40_000);
    assert.ok(!existsSync(join(s.dataDir, 'app.json')));
    assert.ok(!existsSync(join(s.dataDir, 'library.sqlite3.lck')));
    // And the library is still whole, with the VM off.
    assert.deepEqual(listed(s.env).map((v) => [v.name, v.state]), [['Alpha', 'off']]);
  } finally {
    killPublished(s.dataDir);
    s.done();
  }
});

const guestBuilt = existsSync(join(root, '.cache', 'guest', 'vmlinuz')) && existsSync(join(root, '.cache', 'guest', 'initrd.img'));

test('the app started on a new data folder has the sample VM, ready to start', { skip: skip || skipOrFailInCi(guestBuilt ? false : 'the test guest (npm run guest)'), timeout: 60_000 }, async () => {
  const s = scratch();
  const app = await startApp(s.env);
  try {
    assert.match(app.out(), /Added the sample VM "Debian sample"/);
    assert.deepEqual(listed(s.env), [{ name: 'Debian sample', state: 'off', id: (listed(s.env)[0] as unknown as { id: string }).id, memoryMiB: 256, boot: 'kernel' }]);
  } finally {
    await app.stop();
    s.done();
  }
});

test('a library held by another live program is refused with one line naming it, and left alone', { skip, timeout: 60_000 }, () => {
  const s = scratch();
  try {
    assert.equal(hostbox(s.env, ['create', 'Alpha', '--kernel', kernel, '--memory', '64']).status, 0);
    // This test process holds it, as a program that has the library open but publishes no endpoint.
    const lck = join(s.dataDir, 'library.sqlite3.lck');
    writeFileSync(lck, JSON.stringify({ pid: process.pid, host: hostname(), started: null, owner: 'a test program', since: '', nonce: 'x' }));
    const held = new RegExp(`the VM library .*library\\.sqlite3 is in use by a test program \\(pid ${process.pid}\\)`);
    fails(hostbox(s.env, ['list']), 1, held);
    const app = spawnSync(process.execPath, [startJs, '--web', '--port', '0'], { encoding: 'utf8', env: { ...process.env, ...s.env }, timeout: 30_000 });
    fails(app, 1, held);
    assert.ok(existsSync(lck));
    rmSync(lck);
    assert.deepEqual(listed(s.env).map((v) => [v.name, v.state]), [['Alpha', 'off']]);
  } finally {
    s.done();
  }
});
