// Changing the CD while the Debian test guest runs (issue 14, item 6), through the app's host API as
// the VM page's Eject and Insert do: Linux's sr driver must see the drive empty (NOT READY, MEDIUM
// NOT PRESENT), then a new disc of another size (UNIT ATTENTION, MEDIUM MAY HAVE CHANGED, then READ
// CAPACITY), and read the new disc's bytes, not the old one's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import { guestDir, guestManifest, guestSkipReason } from './guest-session.ts';
import { TerminalText } from './terminal-text.ts';

/** A disc image of `sectors` 2048-byte sectors that starts with `label`. */
function disc(path: string, sectors: number, label: string): string {
  const b = new Uint8Array(sectors * 2048);
  b.set(new TextEncoder().encode(label));
  writeFileSync(path, b);
  return path;
}

test('the guest sees the CD ejected and another inserted while it runs', { skip: guestSkipReason(), timeout: 40 * 60_000 }, async () => {
  const manifest = guestManifest();
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-cdchange-'));
  const imageDir = mkdtempSync(join(tmpdir(), 'hostbox-cdchange-img-'));
  const first = disc(join(imageDir, 'first.iso'), 100, 'FIRST-DISC');
  const second = disc(join(imageDir, 'second.iso'), 300, 'SECOND-DISC');
  const host = createHostApi({ dataDir });
  try {
    const made = await host.api.createVm({
      ...(await host.api.defaultSettings()),
      name: 'CD change',
      memoryMiB: 256,
      boot: 'kernel',
      kernelPath: join(guestDir, 'vmlinuz'),
      initrdPath: join(guestDir, 'initrd.img'),
      cmdline: "console=ttyS0 hostbox.modules=ata_piix,sr_mod",
      cdromPath: first,
      net: 'none',
    });
    assert.ok(made.ok, JSON.stringify(made));
    const id = made.vm.id;
    await host.api.powerOn(id);
    const screen = (): Promise<string> =>
      host.api.serialLog(id).then((l) => {
        const t = new TerminalText();
        t.push(l.text);
        return t.text;
      });
    const waitFor = async (re: RegExp, ms: number, from = 0): Promise<number> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const text = await screen();
        const m = re.exec(text.slice(from));
        if (m) return from + m.index + m[0].length;
        assert.ok(Date.now() < deadline, `timed out waiting for ${re}; last output: ${JSON.stringify(text.slice(-600))}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    let at = await waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    at = await waitFor(/\/ # /, 60_000, at);
    let seq = 0;
    const run = async (cmd: string): Promise<string> => {
      const n = ++seq;
      await host.api.sendSerial(id, `echo S$((${n}*1000+1)); ${cmd} 2>&1; echo E$((${n}*1000+2))\r`);
      const s = await waitFor(new RegExp(`S${n * 1000 + 1}\\r?\\n`), 120_000, at);
      const e = await waitFor(new RegExp(`E${n * 1000 + 2}\\r?\\n`), 120_000, s);
      at = e;
      return (await screen()).slice(s, e).replace(/E\d+\r?\n$/, '');
    };
    // sr0 comes when the SCSI scan is done; opening it makes the driver look at the medium.
    await run('i=0; while [ ! -e /sys/block/sr0/size ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done');
    assert.match(await run('head -c 10 /dev/sr0; echo; cat /sys/block/sr0/size'), /FIRST-DISC\r?\n400\r?$/m);

    await host.api.changeCd(id, '');
    // (sr keeps the old size while the drive is not ready: it revalidates only a drive that is.)
    assert.match(await run('head -c 10 /dev/sr0'), /No medium found/, 'the drive is empty (NOT READY, MEDIUM NOT PRESENT)');

    const vm = await host.api.changeCd(id, second);
    assert.equal(vm.cdromPath, second);
    // The new disc, its size from READ CAPACITY, and its bytes: nothing cached from the first one.
    assert.match(await run('head -c 11 /dev/sr0; echo; cat /sys/block/sr0/size'), /SECOND-DISC\r?\n1200\r?$/m);
    const log = await run('dmesg | grep -i -E "sr0|media" | tail -5');
    await host.api.powerOff(id);
    // For the person reading the run: what the kernel said about the drive.
    process.stdout.write(`guest kernel log about the drive:\n${log}\n`);
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(imageDir, { recursive: true, force: true });
  }
});
