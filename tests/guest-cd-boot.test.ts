// The test guest the way an installer CD boots: an El Torito ISO with Debian's ISOLINUX, made with
// xorriso, on the ATAPI drive. SeaBIOS boots the CD, ISOLINUX loads the kernel and initrd through
// INT 13h, Linux runs its real-mode setup, decompresses itself and reaches the shell. ACPI comes
// from the BIOS (fw_cfg's table loader), so `poweroff` still turns the machine off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, dhcpUp, guestDir, guestManifest, guestSkipReason } from './guest-session.ts';

const ISOLINUX = { bin: '/usr/lib/ISOLINUX/isolinux.bin', ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32' };

function skipReason(): string | false {
  const guest = guestSkipReason();
  if (guest) return guest;
  const tools = spawnSync('sh', ['-c', 'command -v xorriso'], { encoding: 'utf8' }).status !== 0 || !existsSync(ISOLINUX.bin) || !existsSync(ISOLINUX.ldlinux) || !existsSync('/usr/share/seabios/bios.bin');
  if (tools && process.env.CI) throw new Error('CD boot test cannot run in CI: xorriso, isolinux or seabios is missing');
  return tools ? 'xorriso, isolinux or seabios is not installed' : false;
}

/** An ISOLINUX CD of the test guest whose kernel gets `append` after the usual command line. */
function makeIso(dir: string, append = '', modules = 'ata_piix,sr_mod'): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  copyFileSync(ISOLINUX.bin, join(tree, 'isolinux', 'isolinux.bin'));
  copyFileSync(ISOLINUX.ldlinux, join(tree, 'isolinux', 'ldlinux.c32'));
  copyFileSync(join(guestDir, 'vmlinuz'), join(tree, 'vmlinuz'));
  copyFileSync(join(guestDir, 'initrd.img'), join(tree, 'initrd.img'));
  writeFileSync(
    join(tree, 'isolinux', 'isolinux.cfg'),
    ['DEFAULT debian', 'PROMPT 0', 'TIMEOUT 0', 'LABEL debian', '  KERNEL /vmlinuz', `  APPEND initrd=/initrd.img console=ttyS0 hostbox.modules=${modules}${append}`, ''].join('\n'),
  );
  const iso = join(dir, 'debian-test.iso');
  const mk = spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', tree], { encoding: 'utf8' });
  assert.equal(mk.status, 0, `xorriso: ${mk.stderr}`);
  return iso;
}

/** /proc/interrupts' count for the line whose name column matches `name`, summed over its CPUs. */
function interruptCount(table: string, name: RegExp): number {
  const line = table.split(/\r?\n/).find((l) => name.test(l));
  assert.ok(line, `no ${name} line in /proc/interrupts:\n${table}`);
  return Number(/^\s*\S+:\s+(\d+)/.exec(line)?.[1] ?? NaN);
}

test('the Debian guest from an ISOLINUX CD: BIOS, boot loader, kernel, shell, ACPI power-off', { skip: skipReason(), timeout: 15 * 60_000 }, async () => {
  const manifest = guestManifest();
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-cd-'));
  const iso = makeIso(dir);
  const g = new GuestSession(['--memory', '256', '--cdrom', iso]);
  try {
    await g.waitFor(/Booting from DVD\/CD/, 60_000);
    await g.waitFor(/ISOLINUX \d+\.\d+/, 60_000);
    await g.waitFor(/Loading \/vmlinuz\.\.\. ?ok/, 120_000);
    // The ACPI tables have no MADT, so Linux puts the local APIC in virtual wire mode (without the APIC
    // it says "Keep in PIC mode"). Whether it then keeps the APIC's timer depends on how closely the PIT's
    // ticks kept time while it calibrated, which a loaded host decides.
    await g.waitFor(/Enabling APIC mode: +Flat\. +Using 0 I\/O APICs/, 6 * 60_000);
    await g.waitFor(new RegExp(manifest.readyMarker), 12 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    assert.equal((await g.run('uname -r')).text.trim(), manifest.kernelRelease);
    // The command line came from isolinux.cfg, and the CD is the one we booted from.
    assert.match((await g.run('cat /proc/cmdline')).text, /BOOT_IMAGE=\/vmlinuz initrd=\/initrd\.img console=ttyS0/);
    // The SCSI scan that makes sr0 finishes on its own time, and announces itself on the console:
    // wait for the device, and read the number from its own line.
    const size = await g.run('i=0; while [ ! -e /sys/block/sr0/size ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; cat /sys/block/sr0/size');
    const sectors = /^(\d+)\r?$/m.exec(size.text);
    assert.ok(sectors, `no size for sr0 in ${JSON.stringify(size.text)}`);
    assert.equal(Number(sectors[1]) * 512, Number(spawnSync('stat', ['-c', '%s', iso], { encoding: 'utf8' }).stdout.trim()));
    // ACPI tables placed by the BIOS: the FADT and DSDT are ours.
    const tables = await g.run('ls /sys/firmware/acpi/tables');
    assert.match(tables.text, /DSDT/);
    assert.match(tables.text, /FACP/);
    assert.equal(await g.powerOff(), 0, `poweroff through ACPI; stderr: ${g.err}`);
  } finally {
    g.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});


test('the same CD with acpi=off: the BIOS MP table, every interrupt through the I/O APIC', { skip: skipReason(), timeout: 15 * 60_000 }, async () => {
  const manifest = guestManifest();
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-cd-mp-'));
  const iso = makeIso(dir, ' acpi=off', 'ata_piix,sr_mod,pcnet32');
  const g = new GuestSession(['--memory', '256', '--cdrom', iso]);
  try {
    await g.waitFor(/MPTABLE: OEM ID: BOCHSCPU/, 180_000);
    await g.waitFor(/IOAPIC\[0\]: apic_id 0, version 17, address 0xfec00000, GSI 0-23/, 60_000);
    await g.waitFor(new RegExp(manifest.readyMarker), 12 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    // The serial port (this shell), the timer and the CD's channel all reach the CPU through it.
    await g.run('i=0; while [ ! -e /sys/block/sr0/size ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; dd if=/dev/sr0 of=/dev/null bs=64k count=16 2>&1');
    // The PCnet's INTA# is level-triggered: each interrupt waits for the EOI that clears Remote IRR.
    assert.match(await dhcpUp(g), /inet addr:10\.0\.2\.15/);
    const irqs = (await g.run('cat /proc/interrupts')).text;
    for (const [irq, kind] of [[0, 'edge'], [4, 'edge'], [15, 'edge'], [11, 'fasteoi']] as const)
      assert.ok(interruptCount(irqs, new RegExp(`^\\s*${irq}:.*IO-APIC.*${kind}`)) > 0, `IRQ ${irq} not through the I/O APIC:\n${irqs}`);
  } finally {
    g.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
