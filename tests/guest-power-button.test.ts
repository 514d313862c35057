// The ACPI power button with a real operating system, without a browser: the Debian guest boots to
// its shell with a host folder mounted, writes a file there and leaves it mounted; the monitor's
// "power-button" presses the button (what the app's Shut down guest does), and the guest shuts
// itself down: its button driver takes the SCI, acpid runs the guest's shutdown (sync, unmount,
// S5). `hostbox run` then exits 0 by itself, and the file is in the host folder (the folder is
// synced at power-off). Needs the guest (`npm run guest`) and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestSkipReason } from './guest-session.ts';
import { monitor } from './monitor-client.ts';

function skipReason(): string | false {
  const missing = guestSkipReason();
  if (missing) return missing;
  const m = guestManifest() as { powerButton?: string };
  if (m.powerButton === 'poweroff') return false;
  const old = 'the test guest was built before it acted on the power button (run `npm run guest`)';
  if (process.env.CI) throw new Error(`guest test cannot run in CI: ${old}`);
  return old;
}

test('Debian guest: the ACPI power button shuts it down by itself, and what it wrote to its host folder reaches the host', { skip: skipReason(), timeout: 40 * 60_000 }, async () => {
  const manifest = guestManifest();
  const scratch = mkdtempSync(join(tmpdir(), 'hostbox-guest-power-'));
  const folder = join(scratch, 'folder');
  const sock = join(scratch, 'monitor.sock');
  mkdirSync(folder);
  const g = new GuestSession([
    '--memory', '256',
    '--net', 'none',
    '--kernel', join(guestDir, 'vmlinuz'),
    '--initrd', join(guestDir, 'initrd.img'),
    '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,vfat,nls_cp437,nls_ascii',
    '--folder', folder,
    '--monitor', sock,
  ]);
  try {
    // Generous: the test machine may be shared, and the interpreter boots in minutes.
    await g.waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    // The driver took the fixed power button (ACPI enabled PWRBTN_EN) and acpid waits for it.
    const ready = await g.run('cat /sys/firmware/acpi/interrupts/ff_pwr_btn; pidof acpid >/dev/null && echo ACPID-RUNS');
    assert.match(ready.text, /^\s*0\s+EN\s+enabled\b/m, ready.text);
    assert.match(ready.text, /ACPID-RUNS/, ready.text);
    const mount = await g.run('mount -t vfat /dev/sda1 /mnt && echo written by the guest > /mnt/from-guest.txt && echo WROTE');
    assert.match(mount.text, /WROTE/, mount.text);
    assert.ok(existsSync(sock), 'the monitor socket is there');

    const pressed = performance.now();
    assert.deepEqual(await monitor(sock, ['{"cmd":"power-button"}']), [{ ok: true }]);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([g.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5 * 60_000)))]);
    clearTimeout(timer);
    const seconds = (performance.now() - pressed) / 1000;
    assert.equal(code, 0, `hostbox run should exit 0 at the guest's power-off; stderr: ${g.err}; last output: ${JSON.stringify(g.out.slice(-600))}`);
    // The guest's own way down: Linux entering S5, not the host pulling the plug.
    assert.match(g.out, /reboot: Power down/);
    assert.equal(readFileSync(join(folder, 'from-guest.txt'), 'utf8'), 'written by the guest\n');
    process.stdout.write(`# Debian guest: power button to the end of hostbox run ${seconds.toFixed(1)} s\n`);
  } finally {
    g.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
});
