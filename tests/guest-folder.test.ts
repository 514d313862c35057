// Issue 13's acceptance test: a host folder attached with `hostbox run --folder` is mounted by the
// Debian test guest's own vfat driver; the guest checks a large file's md5, lists long and
// non-ASCII names, creates, modifies, deletes and renames files and makes a directory, unmounts and
// powers off; the host folder then shows exactly those changes. Needs the guest and a build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestSession, guestDir, guestManifest, guestSkipReason, md5From } from './guest-session.ts';

function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (statSync(p).isDirectory()) {
        out[r + '/'] = '';
        walk(p, r);
      } else out[r] = createHash('md5').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root, '');
  return out;
}

const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');
/** How a UTF-8 name looks in the console text (read as latin1). */
const onConsole = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('the Debian guest mounts a host folder, changes it, and the folder shows exactly those changes', { skip: guestSkipReason(), timeout: 45 * 60_000 }, async () => {
  const manifest = guestManifest();
  const folder = mkdtempSync(join(tmpdir(), 'hostbox-guest-folder-'));
  const big = new Uint8Array(3 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i >>> 11);
  writeFileSync(join(folder, 'big.bin'), big);
  writeFileSync(join(folder, 'café ünïcödé ☃.txt'), 'non-ASCII name\n');
  writeFileSync(join(folder, 'A rather long file name.text'), 'long name\n');
  writeFileSync(join(folder, 'modify-me.txt'), 'first line\n');
  writeFileSync(join(folder, 'delete-me.txt'), 'doomed\n');
  writeFileSync(join(folder, 'rename me.txt'), 'renamed content\n');
  mkdirSync(join(folder, 'Sub Dir'));
  writeFileSync(join(folder, 'Sub Dir', 'inner.txt'), 'inner\n');
  const before = listing(folder);

  const g = new GuestSession([
    '--memory', '256',
    '--kernel', join(guestDir, 'vmlinuz'),
    '--initrd', join(guestDir, 'initrd.img'),
    '--append', 'console=ttyS0 hostbox.modules=ata_piix,sd_mod,vfat,nls_cp437,nls_ascii',
    '--folder', folder,
  ]);
  try {
    // Generous: the test machine may be shared, and the interpreter boots in minutes.
    await g.waitFor(new RegExp(manifest.readyMarker), 30 * 60_000);
    await g.waitFor(/\/ # /, 60_000);
    assert.match(g.err, /folder .* is IDE primary master \(hda\): FAT16/);
    // Debian's kernel defaults to iocharset=ascii with utf8 names (FAT_DEFAULT_UTF8), which needs
    // nls_ascii and the short names' code page 437, but no nls_utf8.
    const mount = await g.run('mount -t vfat -o utf8 /dev/sda1 /mnt && echo MOUNTED');
    assert.match(mount.text, /MOUNTED/, mount.text);
    const sum = await g.run('md5sum /mnt/big.bin');
    assert.equal(md5From(sum.text), md5(big));
    // The shell's own glob and printf: busybox's ls shows every byte above 7Fh as "?".
    const ls = await g.run(`printf '%s\\n' /mnt/* "/mnt/Sub Dir"/*`);
    for (const n of ['café ünïcödé ☃.txt', 'A rather long file name.text', 'Sub Dir', 'inner.txt', 'big.bin']) assert.ok(ls.text.includes(onConsole(n)), `ls shows ${n}: ${ls.text}`);
    // Non-ASCII names are typed as printf escapes: the shell's line editor need not know UTF-8.
    const cat = await g.run(`cat "/mnt/$(printf 'caf\\303\\251 \\303\\274n\\303\\257c\\303\\266d\\303\\251 \\342\\230\\203.txt')"`);
    assert.match(cat.text, /non-ASCII name/);
    await g.run('echo made by the guest > "/mnt/Created by guest.txt"');
    await g.run('echo second line >> /mnt/modify-me.txt');
    await g.run('rm /mnt/delete-me.txt');
    await g.run(`mv "/mnt/rename me.txt" "/mnt/$(printf 'renamed \\303\\251.txt')"`);
    await g.run('mkdir /mnt/newdir && echo inside > /mnt/newdir/inner.txt');
    const um = await g.run('umount /mnt && echo UNMOUNTED');
    assert.match(um.text, /UNMOUNTED/);
    const code = await g.powerOff();
    assert.equal(code, 0, `exit after poweroff; stderr: ${g.err}`);
    assert.match(g.err, /folder .* synced: 1 changed, 2 created, 1 renamed or moved, 1 deleted, 1 directories made/);

    const expected = { ...before };
    delete expected['delete-me.txt'];
    delete expected['rename me.txt'];
    expected['renamed é.txt'] = md5('renamed content\n');
    expected['modify-me.txt'] = md5('first line\nsecond line\n');
    expected['Created by guest.txt'] = md5('made by the guest\n');
    expected['newdir/'] = '';
    expected['newdir/inner.txt'] = md5('inside\n');
    assert.deepEqual(listing(folder), Object.fromEntries(Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  } finally {
    g.kill();
    rmSync(folder, { recursive: true, force: true });
  }
});
