// Builds a C oracle that runs guest instructions on the host's own CPU (vmm/cpu/native/*.c). It is
// a 32-bit program where the host runs those; a host whose kernel has IA-32 emulation switched off
// (seen on this project's CI machines: 32-bit ELF files fail with ENOEXEC) gets the same source built
// for 64-bit mode, where the oracle re-encodes each case to mean the same. Which one ran is returned
// so a test can say it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HostOracle {
  path: string;
  /** 'ia32': the case runs as written; 'x64': re-encoded for 64-bit mode. */
  mode: 'ia32' | 'x64';
  dispose(): void;
}

/** The oracle built from `source`, or why there is none (not x86, no compiler). */
export function buildHostOracle(source: string, name: string): HostOracle | string {
  if (arch() !== 'x64' && arch() !== 'ia32') return `the host is ${arch()}, not x86`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const dispose = (): void => rmSync(dir, { recursive: true, force: true });
  const path = join(dir, name);
  const m32 = spawnSync('gcc', ['-m32', '-O1', '-no-pie', '-o', path, source], { encoding: 'utf8' });
  if (m32.status === 0 && runs(path)) return { path, mode: 'ia32', dispose };
  if (arch() === 'x64') {
    const m64 = spawnSync('gcc', ['-m64', '-O1', '-no-pie', '-fno-pie', '-o', path, source], { encoding: 'utf8' });
    if (m64.status === 0 && runs(path)) return { path, mode: 'x64', dispose };
  }
  dispose();
  return m32.status !== 0 ? `gcc -m32 failed (apt-get install gcc-multilib): ${(m32.stderr || String(m32.error)).slice(0, 300)}` : 'the oracle does not run on this host';
}

/** Whether the program starts: a 32-bit one on a host without IA-32 emulation fails with ENOEXEC. */
function runs(path: string): boolean {
  const r = spawnSync(path, [], { input: '', encoding: 'utf8' });
  return !r.error && r.status === 0;
}
