// Drives `hostbox run` as a person at its terminal would: waits for text on the guest's serial
// console and runs shell commands between markers the shell computes (so the echo of a typed line
// never matches). Shared by the guest boot tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalText } from './terminal-text.ts';

export const root = new URL('..', import.meta.url).pathname;
export const guestDir = join(root, '.cache', 'guest');
/** The same guest around Debian's 686-pae kernel (`npm run guest` builds both). */
export const guestPaeDir = join(root, '.cache', 'guest-686-pae');

export interface GuestManifest {
  kernelRelease: string;
  readyMarker: string;
  prompt: string;
  testFile: { path: string; md5: string };
}

/** Why a guest test cannot run here (no guest built, no build), or false. */
export function guestSkipReason(dir = guestDir): string | false {
  const missing = !existsSync(join(dir, 'manifest.json')) ? `no test guest in ${dir} (run \`npm run guest\`)` : !existsSync(join(root, 'dist', 'vmm-worker.mjs')) ? 'not built (npm run build)' : false;
  // CI builds the guest first: there a missing guest is a failure, not a skip.
  if (missing && process.env.CI) throw new Error(`guest test cannot run in CI: ${missing}`);
  return missing;
}

export function guestManifest(dir = guestDir): GuestManifest {
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as GuestManifest;
}

interface Found {
  at: number;
  match: RegExpMatchArray;
  time: number;
}

export class GuestSession {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  /** The console as text: control sequences (SeaBIOS's cursor moves) taken out. */
  private readonly console = new TerminalText();
  err = '';
  private cursor = 0;
  private seq = 0;
  private readonly waiters: { re: RegExp; from: number; resolve: (m: Found) => void }[] = [];

  /** `command`: 'run' boots, 'resume' continues from a state file (the first argument); `nodeArgs` go to node (--cpu-prof, say). */
  constructor(args: string[], command: 'run' | 'resume' = 'run', nodeArgs: string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, join(root, 'bin', 'hostbox.js'), command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.console.push(d.toString('latin1'));
      for (const w of [...this.waiters]) {
        const m = this.out.slice(w.from).match(w.re);
        if (m) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve({ at: w.from + m.index! + m[0].length, match: m, time: performance.now() });
        }
      }
    });
    this.child.stderr.on('data', (d: Buffer) => (this.err += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', r));
  }

  get out(): string {
    return this.console.text;
  }

  /** Resolves when `re` appears after everything matched so far. */
  waitFor(re: RegExp, ms: number): Promise<Found> {
    return new Promise<Found>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${this.err}; last output: ${JSON.stringify(this.out.slice(-800))}`)), ms);
      const m = this.out.slice(this.cursor).match(re);
      if (m) {
        clearTimeout(timer);
        resolve({ at: this.cursor + m.index! + m[0].length, match: m, time: performance.now() });
        return;
      }
      this.waiters.push({ re, from: this.cursor, resolve: (v) => (clearTimeout(timer), resolve(v)) });
    }).then((v) => {
      this.cursor = v.at;
      return v;
    });
  }

  /** Runs a shell command (given `ms` to finish); its output and how long it took in host time. */
  async run(cmd: string, ms = 120_000): Promise<{ text: string; seconds: number }> {
    const n = ++this.seq;
    this.child.stdin.write(`echo S$((${n}*1000+1)); ${cmd}; echo E$((${n}*1000+2))\n`);
    const s = await this.waitFor(new RegExp(`S${n * 1000 + 1}\\r?\\n`), 120_000);
    const e = await this.waitFor(new RegExp(`E${n * 1000 + 2}\\r?\\n`), ms);
    return { text: this.out.slice(s.at, e.at).replace(/E\d+\r?\n$/, ''), seconds: (e.time - s.time) / 1000 };
  }

  /** Types `poweroff -f` and resolves with the exit code, or 'timeout'. */
  async powerOff(ms = 120_000): Promise<number | null | 'timeout'> {
    this.child.stdin.write('poweroff -f\n');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
    } finally {
      // A pending timer would keep the test file's process alive for minutes after it passed.
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * The checksum md5sum printed in a command's output. Kernel messages can share the console with it
 * (a "random: crng init done" line, say), so it is found on a line of its own, not as the first word.
 */
export function md5From(text: string): string | undefined {
  return /^([0-9a-f]{32}) {2}\S+\s*$/m.exec(text)?.[1];
}

/**
 * `text` without the kernel's console messages ("[   25.659923] random: crng init done"), which the
 * kernel prints whenever they come: also in the middle of a program's line, before its line end.
 */
export function withoutKernelMessages(text: string): string {
  return text.replace(/\[ *\d+\.\d{6}\] [^\r\n]*/g, '');
}

/** A TCP port on `host` that nothing listens on just now (for a port forward's host side). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** `hostbox run` arguments for the Debian guest with Linux's pcnet32 loaded, plus `extra` (--forward, --host-access...). */
export function netGuestArgs(extra: string[]): string[] {
  return ['--memory', '256', '--kernel', join(guestDir, 'vmlinuz'), '--initrd', join(guestDir, 'initrd.img'), '--append', 'console=ttyS0 hostbox.modules=pcnet32', ...extra];
}

/** Brings eth0 up and configures it with busybox udhcpc (a script of our own applies the lease); returns `ifconfig eth0`. */
export async function dhcpUp(g: GuestSession): Promise<string> {
  await g.run("printf '#!/bin/sh\\n[ \"$1\" = bound ] && ifconfig $interface $ip netmask $subnet && route add default gw $router\\nexit 0\\n' >/tmp/dhcp.sh; chmod +x /tmp/dhcp.sh");
  await g.run('ifconfig eth0 up');
  return (await g.run('udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5 -T 3 2>&1; ifconfig eth0')).text;
}
