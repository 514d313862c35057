// One writer per disk image across processes: the app and `hostbox run` (the real command, its VMM
// a worker thread) refuse an image the other holds, naming the holder, and take it once it is free.
// Hostbox's library database is refused as a disk, in the form and on the command line. The machines
// are the stand-in echo machine, so this runs in seconds; the disks are opened for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import { VmmHost } from '../main/vmm-host.ts';
import { skipOrFailInCi } from './prerequisites.ts';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';

const root = new URL('..', import.meta.url).pathname;
const bin = join(root, 'bin', 'hostbox.js');
const built = existsSync(join(root, 'dist', 'main', 'cli.js')) && existsSync(join(root, 'dist', 'vmm-worker.mjs'));

test('the app and the command line never write one image at once; the refusal names the holder', { skip: skipOrFailInCi(!built && 'Hostbox is not built (npm run build)'), timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-disklock-'));
  const dataDir = join(dir, 'data');
  const kernel = join(dir, 'kernel.bin');
  writeFileSync(kernel, fakeBzImage());
  const image = join(dir, 'shared.img');
  writeFileSync(image, new Uint8Array(512 * 16));
  const env = { ...process.env, HOSTBOX_FAKE_MACHINE: 'echo', HOSTBOX_DATA_DIR: dataDir };
  // The app's VMs run the real host side of a VM (disks opened and locked) around the stand-in machine.
  const host = createHostApi({ dataDir, launcher: (spec, handlers) => VmmHost.start(spec, handlers, { mode: 'inprocess', fake: 'echo' }) });
  try {
    const settings = { ...(await host.api.defaultSettings()), kernelPath: kernel, hdaPath: image };
    const a = await host.api.createVm({ ...settings, name: 'Alpha' });
    const b = await host.api.createVm({ ...settings, name: 'Beta' });
    assert.ok(a.ok && b.ok);

    // The app holds it: a second VM and the command line are refused with the holder's name.
    await host.api.powerOn(a.vm.id);
    await assert.rejects(host.api.powerOn(b.vm.id), /shared\.img is in use by VM "Alpha" in the Hostbox app \(pid \d+\)/);
    const refused = spawnSync(process.execPath, [bin, 'run', '--kernel', kernel, '--hda', image], { encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, new RegExp(`shared\\.img is in use by VM "Alpha" in the Hostbox app \\(pid ${process.pid}\\)`));
    // Powered off, the image is free at once.
    await host.api.powerOff(a.vm.id);
    assert.equal(existsSync(`${image}.lck`), false);

    // The command line holds it: the app is refused, naming it.
    const cli = spawn(process.execPath, [bin, 'run', '--kernel', kernel, '--hda', image], { env });
    let err = '';
    cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const end = Date.now() + 20_000;
    while (!existsSync(`${image}.lck`) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    const holder = JSON.parse(readFileSync(`${image}.lck`, 'utf8')) as { pid: number };
    assert.equal(holder.pid, cli.pid);
    await assert.rejects(host.api.powerOn(a.vm.id), new RegExp(`in use by hostbox run \\(pid ${cli.pid}\\); if nothing uses it any more, delete`));
    assert.equal(host.library.get(a.vm.id).power, 'off');
    cli.stdin.end('poweroff\n');
    assert.equal(await new Promise<number | null>((r) => cli.on('exit', r)), 0, err);
    assert.equal(existsSync(`${image}.lck`), false);
    await host.api.powerOn(a.vm.id);
    await host.api.powerOff(a.vm.id);

    // Hostbox's own database is not a disk: refused in the form and on the command line.
    const lib = join(dataDir, 'library.sqlite3');
    const form = await host.api.createVm({ ...settings, name: 'Gamma', hdaPath: lib });
    assert.ok(!form.ok);
    assert.match(form.errors.find((e) => e.field === 'hdaPath')!.message, /library\.sqlite3 is one of Hostbox's own files/);
    const cliLib = spawnSync(process.execPath, [bin, 'run', '--kernel', kernel, '--hda', lib], { encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(cliLib.status, 2);
    assert.match(cliLib.stderr, /library\.sqlite3 is one of Hostbox's own files/);
    assert.equal(cliLib.stderr.trim().split('\n').length, 1);
  } finally {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
