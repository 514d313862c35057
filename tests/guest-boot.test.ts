// Issue 4's acceptance test: Debian's stock i386 kernel with the busybox initramfs, booted through the
// command line exactly as a user would, reaches a shell; commands run; the IDE disk and CD-ROM work;
// `poweroff` exits 0; the kernel log is clean. Run twice: with the 686 kernel, and with the 686-pae
// kernel, which runs with PAE paging (issue 16); both see the Pentium II's CPUID and its MTRRs and
// machine-check registers without a complaint in the log. Needs the guests (`npm run guest`) and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestPaeDir, guestSkipReason, md5From } from './guest-session.ts';

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

for (const [flavour, dir] of [['686', guestDir], ['686-pae', guestPaeDir]] as const) {
  test(`Debian i386 ${flavour} kernel + busybox: shell, commands, sleep, IDE disk and CD-ROM, poweroff`, { skip: guestSkipReason(dir), timeout: 15 * 60_000 }, () =>
    bootAndCheck(dir, flavour));
}

async function bootAndCheck(dir: string, flavour: string): Promise<void> {
  const manifest = guestManifest(dir);
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
  const g = new GuestSession(['--memory', '256', '--kernel', join(dir, 'vmlinuz'), '--initrd', join(dir, 'initrd.img'), '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,sr_mod', '--hda', hda, '--cdrom', iso]);
  const run = (cmd: string) => g.run(cmd);
  try {
    await g.waitFor(new RegExp(manifest.readyMarker), 12 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    // An idle guest (the shell waiting, the kernel in HLT) costs the host almost nothing.
    await new Promise((r) => setTimeout(r, 2000));
    const c0 = cpuSeconds(g.child.pid!);
    await new Promise((r) => setTimeout(r, 5000));
    const c1 = cpuSeconds(g.child.pid!);
    if (c0 !== null && c1 !== null) assert.ok(c1 - c0 < 1.25, `idle guest used ${(c1 - c0).toFixed(2)} CPU seconds in 5 s`);
    const uname = await run('uname -r');
    assert.equal(uname.text.trim(), manifest.kernelRelease);
    const cpu = await run('cat /proc/cpuinfo');
    assert.match(cpu.text, /vendor_id\s*:\s*GenuineIntel/);
    assert.match(cpu.text, /cpu family\s*:\s*6/);
    assert.match(cpu.text, /flags\s*:.*\bfpu\b.*\btsc\b/);
    assert.match(cpu.text, /\bcmov\b/);
    // The Pentium II of issue 16: family 6 model 5 with PAE, MMX, MTRRs and MCA.
    assert.match(cpu.text, /^model\s*:\s*5$/m);
    for (const flag of ['pae', 'mmx', 'mtrr', 'mce', 'mca', 'pge', 'sep']) assert.match(cpu.text, new RegExp(`flags\\s*:.*\\b${flag}\\b`), flag);
    assert.equal(uname.text.trim().endsWith(`-${flavour}`), true, uname.text);
    const md5 = await run(`md5sum ${manifest.testFile.path}`);
    assert.equal(md5From(md5.text), manifest.testFile.md5);
    const sleep = await run('sleep 1');
    assert.ok(sleep.seconds >= 0.95 && sleep.seconds < 6, `sleep 1 took ${sleep.seconds.toFixed(2)} s of host time`);
    // The IDE disk and CD-ROM: found, read by DMA and PIO, written through to the image file.
    const blocks = await run('cat /sys/block/sda/size /sys/block/sr0/size');
    assert.deepEqual(blocks.text.trim().split(/\s+/), [String(disk.length / 512), String(cd.length / 512)]);
    const whole = await run('md5sum /dev/sda /dev/sr0');
    assert.match(whole.text, new RegExp(`${md5hex(disk)}\\s+/dev/sda`));
    assert.match(whole.text, new RegExp(`${md5hex(cd)}\\s+/dev/sr0`));
    const part = await run('dd if=/dev/sr0 bs=2048 skip=100 count=3 2>/dev/null | md5sum');
    assert.equal(md5From(part.text), md5hex(cd.subarray(100 * 2048, 103 * 2048)));
    await run('echo written-by-the-guest | dd of=/dev/sda bs=512 seek=77 conv=notrunc 2>/dev/null; sync');
    const dmesg = await run('dmesg');
    assert.match(dmesg.text, /ata1\.00: ATA-6: HOSTBOX HARDDISK/);
    assert.match(dmesg.text, /ata2\.00: ATAPI: HOSTBOX CD-ROM/);
    assert.match(dmesg.text, /sd 0:0:0:0: \[sda\] 16384 512-byte logical blocks/);
    for (const bad of [/Oops/, /\bBUG\b/, /Kernel panic/, /Uhhuh\. NMI/, /unknown NMI/i, /general protection fault/, /Call Trace/]) assert.doesNotMatch(dmesg.text, bad);
    // No complaint about the MTRRs or machine checks (issue 16).
    for (const line of dmesg.text.split('\n').filter((l) => /mtrr|\bmce\b|machine.check/i.test(l)))
      assert.doesNotMatch(line, /error|fail|invalid|incorrect|bug|warn|disabled|not |cannot|can not|unsupported|broken/i, line);
    const spurious = (dmesg.text.match(/spurious 8259A interrupt/g) ?? []).length;
    assert.ok(spurious <= 1, `${spurious} spurious 8259A interrupts`);
    const code = await g.powerOff();
    assert.equal(code, 0, `exit after poweroff; stderr: ${g.err}`);
    const after = readFileSync(hda);
    assert.equal(after.subarray(77 * 512, 77 * 512 + 21).toString(), 'written-by-the-guest\n');
    assert.equal(md5hex(after.subarray(78 * 512)), md5hex(disk.subarray(78 * 512)), 'nothing else changed');
  } finally {
    g.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
}
