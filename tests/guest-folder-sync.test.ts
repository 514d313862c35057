// Issue 13's syncs while the VM lives: the Debian guest changes a host folder disk, unmounts it, and
// the host syncs now (monitor "sync"); the folder shows exactly those changes, and the guest, which
// mounts the disk again, reads it as it left it. It changes more and keeps the disk mounted: a sync
// now is refused (mounted) and changes nothing; a suspend keeps those changes with the VM. Resumed
// in a new process, the guest unmounts and powers off, and the folder then shows exactly the rest.
// Needs the guest and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestSkipReason, md5From } from './guest-session.ts';
import { monitor } from './monitor-client.ts';

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(p).isDirectory()) {
        out[r + '/'] = '';
        walk(p, r);
      } else out[r] = md5(readFileSync(p));
    }
  };
  walk(root, '');
  return out;
}

const sorted = (o: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

async function waitForFile(path: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > end) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('Debian guest: sync now after an unmount, a sync refused while mounted, suspend and resume, and power-off carry exactly the guest changes', { skip: guestSkipReason(), timeout: 50 * 60_000 }, async () => {
  const manifest = guestManifest();
  const scratch = mkdtempSync(join(tmpdir(), 'hostbox-guest-folder-sync-'));
  const folder = join(scratch, 'shared');
  const big = new Uint8Array(1024 * 1024 + 77);
  for (let i = 0; i < big.length; i++) big[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i >>> 9);
  mkdirSync(folder);
  writeFileSync(join(folder, 'big.bin'), big);
  writeFileSync(join(folder, 'modify-me.txt'), 'first line\n');
  writeFileSync(join(folder, 'delete-me.txt'), 'doomed\n');
  writeFileSync(join(folder, 'rename me.txt'), 'renamed content\n');
  writeFileSync(join(folder, 'untouched.txt'), 'left alone\n');
  const before = listing(folder);
  const state = join(scratch, 'vm.state');
  const sessions: GuestSession[] = [];
  try {
    const s1 = join(scratch, 'm1.sock');
    const g = new GuestSession([
      '--memory', '256',
      '--kernel', join(guestDir, 'vmlinuz'),
      '--initrd', join(guestDir, 'initrd.img'),
      '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,vfat,nls_cp437,nls_ascii',
      '--folder', folder,
      '--monitor', s1,
    ]);
    sessions.push(g);
    await g.waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    await waitForFile(s1);
    assert.match((await g.run('mount -t vfat -o utf8 /dev/sda1 /mnt && echo MOUNTED')).text, /MOUNTED/);

    // Round 1, then unmounted and synced now.
    await g.run('echo made by the guest > "/mnt/Created by guest.txt"');
    await g.run('echo second line >> /mnt/modify-me.txt');
    await g.run('rm /mnt/delete-me.txt');
    await g.run('mv "/mnt/rename me.txt" /mnt/renamed.txt');
    // One sector rewritten in place: the rest of big.bin is still read from the host file, which the sync replaces.
    await g.run('printf XXXXXXXX | dd of=/mnt/big.bin bs=512 seek=300 conv=notrunc 2>/dev/null');
    assert.match((await g.run('umount /mnt && echo UNMOUNTED')).text, /UNMOUNTED/);
    const [r1] = await monitor(s1, ['{"cmd":"sync"}']);
    assert.equal(r1!.ok, true, JSON.stringify(r1));
    assert.deepEqual(r1!.lines, [`folder ${folder} synced: 2 changed, 1 created, 1 renamed or moved, 1 deleted`]);
    const patched = big.slice();
    patched.set(Buffer.from('XXXXXXXX'), 300 * 512);
    const afterSync = { ...before };
    delete afterSync['delete-me.txt'];
    delete afterSync['rename me.txt'];
    afterSync['renamed.txt'] = md5('renamed content\n');
    afterSync['modify-me.txt'] = md5('first line\nsecond line\n');
    afterSync['Created by guest.txt'] = md5('made by the guest\n');
    afterSync['big.bin'] = md5(patched);
    assert.deepEqual(listing(folder), sorted(afterSync));

    // Round 2: mounted again, the guest reads what it left, changes more and keeps the disk mounted.
    assert.match((await g.run('mount -t vfat -o utf8 /dev/sda1 /mnt && echo MOUNTED')).text, /MOUNTED/);
    assert.equal(md5From((await g.run('md5sum /mnt/big.bin')).text), md5(patched));
    assert.match((await g.run('cat /mnt/renamed.txt')).text, /renamed content/);
    await g.run('echo third line >> "/mnt/Created by guest.txt"');
    await g.run('rm /mnt/renamed.txt');
    await g.run('mv /mnt/big.bin /mnt/bigger.bin');
    await g.run('mkdir /mnt/newdir && echo inside > /mnt/newdir/inner.txt');
    await g.run('sync');
    const [refused] = await monitor(s1, ['{"cmd":"sync"}']);
    assert.equal(refused!.ok, false);
    assert.match(String(refused!.error), /still has the folder disk mounted.*unmount it in the guest first/);
    assert.deepEqual(listing(folder), sorted(afterSync), 'a refused sync changes nothing');
    const [sus] = await monitor(s1, [JSON.stringify({ cmd: 'suspend', file: state })]);
    assert.deepEqual(sus, { ok: true, file: state }, g.err);
    assert.equal(await g.exited, 0, g.err);
    assert.match(g.err, /was not synced: the guest still has the folder disk mounted.*kept with the VM/);
    assert.deepEqual(listing(folder), sorted(afterSync), 'a suspend of a mounted folder changes nothing on the host');

    // Resumed in a new process: the guest unmounts and powers off; the rest reaches the folder.
    const r = new GuestSession([state, '--monitor', join(scratch, 'm2.sock')], 'resume');
    sessions.push(r);
    assert.match((await r.run('cat /mnt/newdir/inner.txt; umount /mnt && echo UNMOUNTED')).text, /inside[\s\S]*UNMOUNTED/);
    assert.equal(await r.powerOff(), 0, r.err);
    assert.match(r.err, new RegExp(`folder ${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} synced: 1 changed, 1 created, 1 renamed or moved, 1 deleted, 1 directories made`));
    const final = { ...afterSync };
    delete final['renamed.txt'];
    delete final['big.bin'];
    final['bigger.bin'] = md5(patched);
    final['Created by guest.txt'] = md5('made by the guest\nthird line\n');
    final['newdir/'] = '';
    final['newdir/inner.txt'] = md5('inside\n');
    assert.deepEqual(listing(folder), sorted(final));
  } finally {
    for (const s of sessions) s.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
});
