// Suspend and resume with a real operating system: the Debian guest boots to its shell with an IDE
// disk, is suspended idle at the shell (the figures for the README: suspend and resume time, file
// size for 256 MiB of RAM) and resumed in a new process; then it is suspended in the middle of work
// that reads the IDE disk and computes checksums, resumed in another new process, and the checksums
// are the ones the host computes over the same bytes. Needs the guest (`npm run guest`) and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestSkipReason, withoutKernelMessages } from './guest-session.ts';
import { monitor } from './monitor-client.ts';

async function waitForFile(path: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('Debian guest: suspended at its shell and in the middle of disk and checksum work, resumed in new processes', { skip: guestSkipReason(), timeout: 50 * 60_000 }, async () => {
  const manifest = guestManifest();
  const scratch = mkdtempSync(join(tmpdir(), 'hostbox-guest-suspend-'));
  const disk = new Uint8Array(8 << 20);
  for (let i = 0; i < disk.length; i++) disk[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i >>> 11);
  const hda = join(scratch, 'disk.img');
  writeFileSync(hda, disk);
  const state = join(scratch, 'debian.state');
  const sessions: GuestSession[] = [];
  const session = (args: string[], command: 'run' | 'resume', sock: string): GuestSession => {
    const g = new GuestSession([...args, '--monitor', sock], command);
    sessions.push(g);
    return g;
  };
  const suspend = async (g: GuestSession, sock: string): Promise<{ seconds: number; bytes: number }> => {
    const t0 = performance.now();
    const [answer] = await monitor(sock, [JSON.stringify({ cmd: 'suspend', file: state })]);
    const seconds = (performance.now() - t0) / 1000;
    assert.deepEqual(answer, { ok: true, file: state }, g.err);
    assert.equal(await g.exited, 0, g.err);
    return { seconds, bytes: statSync(state).size };
  };
  const resumedIn = (g: GuestSession): number => Number(/resumed from .* in ([\d.]+) s/.exec(g.err)?.[1]);
  try {
    const s1 = join(scratch, 'm1.sock');
    const boot = session(['--memory', '256', '--kernel', join(guestDir, 'vmlinuz'), '--initrd', join(guestDir, 'initrd.img'), '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod', '--hda', hda], 'run', s1);
    // Generous: on a shared, loaded host the interpreter boots slowly.
    await boot.waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    await boot.waitFor(/\/ # /, 60_000);
    assert.match((await boot.run('ls /sys/block')).text, /sda/);
    await waitForFile(s1);
    // Idle at the shell: the figures.
    const idle = await suspend(boot, s1);

    const s2 = join(scratch, 'm2.sock');
    const atShell = session([state], 'resume', s2);
    const echo = await atShell.run('echo $((6*7))');
    assert.equal(echo.text.trim(), '42', 'the shell answers after the resume');
    const resumeSeconds = resumedIn(atShell);
    process.stdout.write(
      `# Debian guest, 256 MiB, idle at its shell: suspend ${idle.seconds.toFixed(2)} s, state file ${(idle.bytes / 1048576).toFixed(1)} MiB (${((100 * idle.bytes) / (256 << 20)).toFixed(1)}% of RAM), resume ${resumeSeconds.toFixed(2)} s\n`,
    );

    // Work that reads the disk (IDE DMA) and computes: suspended while it runs.
    const work = 'for n in 1 2 3 4; do dd if=/dev/sda bs=64k count=128 2>/dev/null | md5sum; done; seq 1 20000 | md5sum';
    atShell.child.stdin.write(`echo W$((1000+1)); ${work}; echo W$((1000+2))\n`);
    await atShell.waitFor(/W1001\r?\n/, 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    const busy = await suspend(atShell, s2);
    const partial = atShell.out;

    const s3 = join(scratch, 'm3.sock');
    const after = session([state], 'resume', s3);
    await after.waitFor(/W1002\r?\n/, 10 * 60_000);
    const printed = withoutKernelMessages(partial.slice(partial.lastIndexOf('W1001')) + after.out).replace(/\r/g, '');
    const sums = [...printed.matchAll(/^([0-9a-f]{32})\s+-$/gm)].map((m) => m[1]);
    const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');
    const seq = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
    assert.deepEqual(sums, [md5(disk.subarray(0, 8 << 20)), md5(disk.subarray(0, 8 << 20)), md5(disk.subarray(0, 8 << 20)), md5(disk.subarray(0, 8 << 20)), md5(seq)], printed);
    process.stdout.write(`# suspended in the middle of the work: ${busy.seconds.toFixed(2)} s, ${(busy.bytes / 1048576).toFixed(1)} MiB; resumed in ${resumedIn(after).toFixed(2)} s\n`);
    assert.equal(await after.powerOff(), 0, after.err);
  } finally {
    for (const g of sessions) g.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
});
