// Issue 13's snapshots of a host folder, in the app with the Debian guest: the guest has the folder
// disk mounted and a file written but not synced when a snapshot is taken; it then changes, deletes
// and patches files, unmounts, and the host syncs. Reverted to the snapshot, the resumed guest (its
// caches dropped, so it reads the disk) sees exactly the files it had, the replaced and the deleted
// ones included, and the host folder keeps what was synced; at power-off the sync leaves the host's
// files alone, and finds the guest's unsynced file already there (the later sync carried it). Needs
// the guest and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import type { HostEvent } from '../main/api-types.ts';
import { guestDir, guestManifest, guestSkipReason, md5From } from './guest-session.ts';
import { TerminalText } from './terminal-text.ts';

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(root).sort()) out[n] = md5(readFileSync(join(root, n)));
  return out;
}

test('Debian guest in the app: reverting to a snapshot taken with the folder mounted gives the guest its files back, and undoes nothing on the host', { skip: guestSkipReason(), timeout: 50 * 60_000 }, async () => {
  const manifest = guestManifest();
  const scratch = mkdtempSync(join(tmpdir(), 'hostbox-guest-folder-snap-'));
  const dataDir = join(scratch, 'data');
  const folder = join(scratch, 'shared');
  mkdirSync(folder);
  const big = new Uint8Array(1024 * 1024 + 77);
  for (let i = 0; i < big.length; i++) big[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i >>> 9);
  writeFileSync(join(folder, 'big.bin'), big);
  writeFileSync(join(folder, 'report.txt'), 'as at the snapshot\n');
  writeFileSync(join(folder, 'notes.txt'), 'notes\n');
  const host = createHostApi({ dataDir });
  const screen = new TerminalText();
  let cursor = 0;
  host.subscribe((e: HostEvent) => {
    if (e.type === 'serial') screen.push(e.data);
  });
  const waitFor = async (re: RegExp, ms: number): Promise<string> => {
    const end = Date.now() + ms;
    for (;;) {
      const m = screen.text.slice(cursor).match(re);
      if (m) {
        const text = screen.text.slice(cursor, cursor + m.index! + m[0].length);
        cursor += m.index! + m[0].length;
        return text;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; last output: ${JSON.stringify(screen.text.slice(-800))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  let seq = 0;
  let id = '';
  /** Runs a shell command between markers the shell computes (the echo of the typed line never matches). */
  const run = async (cmd: string, ms = 120_000): Promise<string> => {
    const n = ++seq;
    await host.api.sendSerial(id, `echo S$((${n}*1000+1)); ${cmd}; echo E$((${n}*1000+2))\n`);
    await waitFor(new RegExp(`S${n * 1000 + 1}\\r?\\n`), ms);
    return (await waitFor(new RegExp(`E${n * 1000 + 2}\\r?\\n`), ms)).replace(/E\d+\r?\n$/, '');
  };
  const until = async (what: string, f: () => boolean, ms = 120_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!f()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    const r = await host.api.createVm({
      ...(await host.api.defaultSettings()),
      name: 'Folder snapshots',
      memoryMiB: 256,
      boot: 'kernel',
      kernelPath: join(guestDir, 'vmlinuz'),
      initrdPath: join(guestDir, 'initrd.img'),
      cmdline: 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,vfat,nls_cp437,nls_ascii',
      net: 'none',
      folders: [{ path: folder, readOnly: false }],
    });
    assert.ok(r.ok, JSON.stringify(r));
    id = r.vm.id;
    await host.api.powerOn(id);
    await waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    await waitFor(/\/ # /, 60_000);
    assert.match(await run('mount -t vfat -o utf8,noatime /dev/sda1 /mnt && echo MOUNTED'), /MOUNTED/);
    await run('echo written before the snapshot > /mnt/pending.txt; sync');
    const atSnapshot = listing(folder);

    // The snapshot, with the disk mounted and pending.txt not synced: nothing reaches the host.
    const snap = (await host.api.takeSnapshot(id, 'Mounted')).snapshots[0]!;
    assert.equal(host.library.get(id).power, 'running');
    assert.deepEqual(listing(folder), atSnapshot, 'taking a snapshot writes nothing to the folder');

    // The guest goes on from the snapshot: it changes, deletes and patches files, unmounts, and the host syncs.
    await run('echo changed after the snapshot > /mnt/report.txt; rm /mnt/notes.txt');
    await run('printf XXXXXXXX | dd of=/mnt/big.bin bs=512 seek=300 conv=notrunc 2>/dev/null');
    assert.match(await run('umount /mnt && echo UNMOUNTED'), /UNMOUNTED/);
    const synced = await host.api.syncFolders(id);
    assert.deepEqual(synced, { ok: true, lines: [`folder ${folder} synced: 2 changed, 1 created, 1 deleted`] });
    const patched = big.slice();
    patched.set(Buffer.from('XXXXXXXX'), 300 * 512);
    const afterSync = { 'big.bin': md5(patched), 'pending.txt': md5('written before the snapshot\n'), 'report.txt': md5('changed after the snapshot\n') };
    assert.deepEqual(listing(folder), afterSync);

    // Reverted: the VM is suspended at the snapshot; Power on continues it with the disk mounted.
    await host.api.revertSnapshot(id, snap.id);
    assert.equal(host.library.get(id).power, 'suspended');
    assert.deepEqual(listing(folder), afterSync, 'a revert writes nothing to the folder');
    const mark = screen.text.length;
    await host.api.powerOn(id);
    // Its page cache dropped, the guest reads every file from the disk: the snapshot's bytes, not the host's.
    await run('echo 3 > /proc/sys/vm/drop_caches');
    assert.equal(md5From(await run('md5sum /mnt/big.bin')), md5(big), 'big.bin as at the snapshot, though a sync replaced it on the host since');
    assert.match(await run('cat /mnt/report.txt /mnt/notes.txt /mnt/pending.txt'), /as at the snapshot\r?\nnotes\r?\nwritten before the snapshot\r?\n/);
    assert.doesNotMatch(screen.text.slice(mark), /changed on the host|I\/O error/);

    // Unmounted and powered off: the sync leaves the host's files as the earlier sync made them, and
    // finds the guest's pending.txt there already (that sync carried it).
    assert.match(await run('umount /mnt && echo UNMOUNTED'), /UNMOUNTED/);
    await host.api.sendSerial(id, 'poweroff -f\n');
    await until('the power-off', () => host.library.get(id).power === 'off');
    const vm = (await host.api.listVms()).find((v) => v.id === id)!;
    assert.deepEqual(vm.folderSync, [`folder ${folder} synced: 1 already on the host`]);
    assert.deepEqual(listing(folder), afterSync);
  } finally {
    await host.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});
