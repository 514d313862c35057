// Issue 4's acceptance test: Debian's stock i386 kernel with the busybox initramfs, booted through the
// command line exactly as a user would, reaches a shell; commands run; `poweroff` exits 0; the
// kernel log is clean. Needs the guest (`npm run guest`) and a build (`npm test` builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const guest = join(root, '.cache', 'guest');
const manifestPath = join(guest, 'manifest.json');
const haveGuest = existsSync(manifestPath) && existsSync(join(root, 'dist', 'vmm-worker.mjs'));

test('Debian i386 kernel + busybox: shell, commands, sleep, IDE disk and CD-ROM, poweroff', { skip: haveGuest ? false : 'no test guest (run `npm run guest`) or no build', timeout: 15 * 60_000 }, async () => {
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    kernelRelease: string;
    readyMarker: string;
    prompt: string;
    testFile: { path: string; md5: string };
  };
  // A raw disk and a CD image with patterns the guest reads back through the IDE controller.
  const scratch = mkdtempSync(join(tmpdir(), 'hostbox-guest-disks-'));
  const pattern = (bytes: number, seed: number): Uint8Array => {
    const b = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) b[i] = (Math.imul(i, 2654435761) >>> 24) ^ seed ^ (i >>> 9);
    return b;
  };
  const disk = pattern(8 * 1024 * 1024, 0x5a);
  const cd = pattern(2 * 1024 * 1024, 0xc3);
  const hda = join(scratch, 'disk.img');
  const iso = join(scratch, 'cd.iso');
  writeFileSync(hda, disk);
  writeFileSync(iso, cd);
  const md5hex = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
  const child = spawn(
    process.execPath,
    [join(root, 'bin', 'hostbox.js'), 'run', '--memory', '256', '--kernel', join(guest, 'vmlinuz'), '--initrd', join(guest, 'initrd.img'), '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,sr_mod', '--hda', hda, '--cdrom', iso],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const waiters: { re: RegExp; from: number; resolve: (m: { at: number; match: RegExpMatchArray; time: number }) => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    for (const w of [...waiters]) {
      const m = out.slice(w.from).match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve({ at: w.from + m.index! + m[0].length, match: m, time: performance.now() });
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  let cursor = 0;
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<{ at: number; match: RegExpMatchArray; time: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${err}; last output: ${JSON.stringify(out.slice(-800))}`)), ms);
      const m = out.slice(cursor).match(re);
      if (m) {
        clearTimeout(timer);
        resolve({ at: cursor + m.index! + m[0].length, match: m, time: performance.now() });
        return;
      }
      waiters.push({ re, from: cursor, resolve: (v) => (clearTimeout(timer), resolve(v)) });
    }).then((v) => {
      cursor = v.at;
      return v;
    });
  let seq = 0;
  // Runs a command between markers the shell computes, so the echo of the typed line never matches.
  const run = async (cmd: string): Promise<{ text: string; seconds: number }> => {
    seq++;
    child.stdin.write(`echo S$((${seq}*1000+1)); ${cmd}; echo E$((${seq}*1000+2))\n`);
    const s = await waitFor(new RegExp(`S${seq * 1000 + 1}\\r?\\n`), 120_000);
    const e = await waitFor(new RegExp(`E${seq * 1000 + 2}\\r?\\n`), 120_000);
    return { text: out.slice(s.at, e.at).replace(/E\d+\r?\n$/, ''), seconds: (e.time - s.time) / 1000 };
  };
  try {
    await waitFor(new RegExp(manifest.readyMarker), 12 * 60_000);
    await waitFor(/\/ # /, 60_000);
    // An idle guest (the shell waiting, the kernel in HLT) costs the host almost nothing.
    await new Promise((r) => setTimeout(r, 2000));
    const c0 = cpuSeconds(child.pid!);
    await new Promise((r) => setTimeout(r, 5000));
    const c1 = cpuSeconds(child.pid!);
    if (c0 !== null && c1 !== null) assert.ok(c1 - c0 < 1.25, `idle guest used ${(c1 - c0).toFixed(2)} CPU seconds in 5 s`);
    const uname = await run('uname -r');
    assert.equal(uname.text.trim(), manifest.kernelRelease);
    const cpu = await run('cat /proc/cpuinfo');
    assert.match(cpu.text, /vendor_id\s*:\s*GenuineIntel/);
    assert.match(cpu.text, /cpu family\s*:\s*6/);
    assert.match(cpu.text, /flags\s*:.*\bfpu\b.*\btsc\b/);
    assert.match(cpu.text, /\bcmov\b/);
    const md5 = await run(`md5sum ${manifest.testFile.path}`);
    assert.equal(md5.text.trim().split(/\s+/)[0], manifest.testFile.md5);
    const sleep = await run('sleep 1');
    assert.ok(sleep.seconds >= 0.95 && sleep.seconds < 6, `sleep 1 took ${sleep.seconds.toFixed(2)} s of host time`);
    // The IDE disk and CD-ROM: found, read by DMA and PIO, written through to the image file.
    const blocks = await run('cat /sys/block/sda/size /sys/block/sr0/size');
    assert.deepEqual(blocks.text.trim().split(/\s+/), [String(disk.length / 512), String(cd.length / 512)]);
    const whole = await run('md5sum /dev/sda /dev/sr0');
    assert.match(whole.text, new RegExp(`${md5hex(disk)}\\s+/dev/sda`));
    assert.match(whole.text, new RegExp(`${md5hex(cd)}\\s+/dev/sr0`));
    const part = await run('dd if=/dev/sr0 bs=2048 skip=100 count=3 2>/dev/null | md5sum');
    assert.equal(part.text.trim().split(/\s+/)[0], md5hex(cd.subarray(100 * 2048, 103 * 2048)));
    await run('echo written-by-the-guest | dd of=/dev/sda bs=512 seek=77 conv=notrunc 2>/dev/null; sync');
    const dmesg = await run('dmesg');
    assert.match(dmesg.text, /ata1\.00: ATA-6: HOSTBOX HARDDISK/);
    assert.match(dmesg.text, /ata2\.00: ATAPI: HOSTBOX CD-ROM/);
    assert.match(dmesg.text, /sd 0:0:0:0: \[sda\] 16384 512-byte logical blocks/);
    for (const bad of [/Oops/, /\bBUG\b/, /Kernel panic/, /Uhhuh\. NMI/, /unknown NMI/i, /general protection fault/, /Call Trace/]) assert.doesNotMatch(dmesg.text, bad);
    const spurious = (dmesg.text.match(/spurious 8259A interrupt/g) ?? []).length;
    assert.ok(spurious <= 1, `${spurious} spurious 8259A interrupts`);
    child.stdin.write('poweroff -f\n');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 120_000))]);
    assert.equal(code, 0, `exit after poweroff; stderr: ${err}`);
    const after = readFileSync(hda);
    assert.equal(after.subarray(77 * 512, 77 * 512 + 21).toString(), 'written-by-the-guest\n');
    assert.equal(md5hex(after.subarray(78 * 512)), md5hex(disk.subarray(78 * 512)), 'nothing else changed');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  }
});
