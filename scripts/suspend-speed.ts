// Suspend and resume figures for the target: the 256 MiB Debian test guest idle at its shell
// (npm run guest builds it). Boots it with `hostbox run`, suspends it through the monitor, resumes it
// in a new process, checks the shell answers, and prints the times, where they went and the file's
// size. Run: node --import tsx scripts/suspend-speed.ts [rounds]  (after npm run build).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitor } from '../tests/monitor-client.ts';

const root = new URL('..', import.meta.url).pathname;
const guest = join(root, '.cache', 'guest');
if (!existsSync(join(guest, 'manifest.json'))) {
  process.stderr.write('the Debian test guest is not built: run `npm run guest`\n');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(guest, 'manifest.json'), 'utf8')) as { readyMarker: string };
const bin = join(root, 'bin', 'hostbox.js');
const scratch = mkdtempSync(join(tmpdir(), 'hostbox-suspend-speed-'));
// `--state FILE`: start from that state when it exists (no boot), and leave the last one there.
const keep = process.argv.indexOf('--state') > 0 ? process.argv[process.argv.indexOf('--state') + 1] : undefined;
const state = keep ?? join(scratch, 'debian.state');
/** How long the guest idles at its shell before each suspend. */
const IDLE_MS = Number(process.env.IDLE_MS ?? 5000);
const rounds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 2);

interface Vm {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function start(args: string[]): Vm {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOSTBOX_VERBOSE: '1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err, exit: new Promise((r) => child.on('exit', (c) => r(c))) };
}

async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function suspend(vm: Vm, sock: string): Promise<{ s: number; phases: string }> {
  const t0 = performance.now();
  const [a] = await monitor(sock, [JSON.stringify({ cmd: 'suspend', file: state })]);
  const s = (performance.now() - t0) / 1000;
  if (a?.ok !== true) throw new Error(`suspend failed: ${JSON.stringify(a)} ${vm.err()}`);
  await vm.exit;
  const inVmm = /save \(ms\): (.*)/.exec(vm.err())?.[1]?.trim() ?? '?';
  return { s, phases: `${/suspend phases \(ms\): (.*)/.exec(vm.err())?.[1]?.trim() ?? '?'}; in the VMM: ${inVmm}` };
}

try {
  let sock = join(scratch, 'boot.sock');
  const t0 = Date.now();
  const resuming = existsSync(state);
  let vm = resuming
    ? start(['resume', state, '--monitor', sock])
    : start(['run', '--memory', '256', '--kernel', join(guest, 'vmlinuz'), '--initrd', join(guest, 'initrd.img'), '--append', 'console=ttyS0', '--net', 'none', '--monitor', sock]);
  if (!resuming) await until('the guest ready', () => vm.out().includes(manifest.readyMarker), 30 * 60_000);
  vm.child.stdin!.write('echo $((40+2))\n');
  await until('the shell', () => /\n42\r?\n/.test(vm.out()), 5 * 60_000);
  process.stdout.write(`${resuming ? 'resumed' : 'booted'} to the shell in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  // Idle a moment, as a user leaves it.
  await new Promise((r) => setTimeout(r, IDLE_MS));
  for (let i = 1; i <= rounds; i++) {
    const sus = await suspend(vm, sock);
    const bytes = statSync(state).size;
    sock = join(scratch, `r${i}.sock`);
    const t1 = performance.now();
    vm = start(['resume', state, '--monitor', sock]);
    await until('the resume', () => /resumed from .* in /.test(vm.err()), 120_000);
    const resumed = (performance.now() - t1) / 1000;
    const inside = Number(/resumed from .* in ([\d.]+) s/.exec(vm.err())![1]);
    const phases = /resume phases \(ms\): (.*)/.exec(vm.err())?.[1]?.trim() ?? '?';
    vm.child.stdin!.write('echo $((6*7))\n');
    await until('the shell answering', () => /\n42\r?\n/.test(vm.out()), 5 * 60_000);
    process.stdout.write(
      `round ${i}: suspend ${sus.s.toFixed(2)} s (${sus.phases}); file ${(bytes / 1048576).toFixed(1)} MiB (${((100 * bytes) / (256 << 20)).toFixed(1)}% of RAM); ` +
        `resume ${inside.toFixed(2)} s in the command (${phases}), ${resumed.toFixed(2)} s from its start\n`,
    );
    await until('the socket', () => existsSync(sock), 10_000);
    await new Promise((r) => setTimeout(r, IDLE_MS));
  }
  if (keep) await suspend(vm, sock);
  else {
    await monitor(sock, ['{"cmd":"quit"}']);
    await vm.exit;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
