// Suspend and resume in the app, through the host API as the UI calls it, with a real VMM (a worker
// thread, as web mode runs it) and a small guest: SeaBIOS boots a master boot record that counts on
// its disk (tests/boot-sectors/mbr-counter.asm), so a resumed VM is seen to go on counting where it
// stopped, without booting again. The saved state lives in the VM's folder; a restart of the host in
// between keeps the VM suspended; a changed disk is refused with the state kept; discarding the state
// powers the VM off; quitting suspends what runs. Needs `npm run build`, nasm and SeaBIOS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostApi } from '../main/api.ts';
import type { HostEvent, VmCreateSettings } from '../main/api-types.ts';
import { DEFAULT_BIOS } from '../main/vmm-host.ts';
import { SUSPEND_FILE } from '../main/library/library.ts';
import { bootSectorImage } from './boot-sector.ts';
import { withoutHostMarks } from './terminal-text.ts';
import { skipOrFailInCi } from './prerequisites.ts';

const root = new URL('..', import.meta.url).pathname;

function skipReason(): string | false {
  if (!existsSync(join(root, 'dist', 'vmm-worker.mjs'))) return skipOrFailInCi('the VMM is not built (npm run build)');
  if (!existsSync(DEFAULT_BIOS.bios)) return skipOrFailInCi('SeaBIOS is not installed (apt-get install seabios)');
  return false;
}

type Host = ReturnType<typeof createHostApi>;

/** The host with a console recorder: `out(id)` is the VM's serial output since this host started. */
function open(dataDir: string): { host: Host; out: (id: string) => string } {
  const host = createHostApi({ dataDir });
  const text = new Map<string, string>();
  host.subscribe((e: HostEvent) => {
    // The host's own marks (powered on, reset, powered off) are not the guest's output.
    if (e.type === 'serial') text.set(e.id, (text.get(e.id) ?? '') + withoutHostMarks(e.data));
  });
  return { host, out: (id) => text.get(id) ?? '' };
}

async function until(what: string, f: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const counts = (s: string): number[] => [...s.matchAll(/count=(\d+)\r\n/g)].map((m) => Number(m[1]));
const last = (s: string): number => counts(s).at(-1) ?? -1;

test('suspend in the app: the state goes to the VM folder, survives a host restart, Power on continues the count', { skip: skipReason(), timeout: 600_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-app-suspend-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-app-suspend-files-'));
  const disk = join(files, 'counter.img');
  writeFileSync(disk, bootSectorImage('mbr-counter.asm', 1 << 20));
  let { host, out } = open(dataDir);
  try {
    const settings: VmCreateSettings = { ...(await host.api.defaultSettings()), name: 'Counter', memoryMiB: 16, boot: 'disk', hdaPath: disk, net: 'none' };
    const r = await host.api.createVm(settings);
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;
    const state = join(r.vm.folder, SUSPEND_FILE);

    await host.api.powerOn(id);
    await until('count=3', () => last(out(id)) >= 3);
    assert.match(out(id), /^boot at 0\r\n/);
    const vm = await host.api.suspendVm(id);
    assert.equal(vm.power, 'suspended');
    assert.ok(vm.suspended && vm.suspended.bytes > 0, JSON.stringify(vm.suspended));
    assert.ok(existsSync(state));
    // Written atomically: nothing but the state beside it (no temporary file left), and the disk unlocked.
    assert.deepEqual(readdirSync(r.vm.folder), [SUSPEND_FILE]);
    assert.equal(existsSync(`${disk}.lck`), false);
    const before = last(out(id));
    await assert.rejects(host.api.suspendVm(id), /Counter is not running/);
    const upd = await host.api.updateVm(id, { ...r.vm, memoryMiB: 32 });
    assert.ok(!upd.ok && /suspended/.test(upd.errors[0]!.message));

    // A new host on the same library: still suspended, with the same state.
    await host.close();
    ({ host, out } = open(dataDir));
    const listed = (await host.api.listVms())[0]!;
    assert.equal(listed.power, 'suspended');
    assert.equal(listed.suspended!.bytes, vm.suspended!.bytes);

    // Power on continues: the next count follows the last one, and the MBR does not boot again.
    const on = await host.api.powerOn(id);
    assert.equal(on.power, 'running');
    await until(`count=${before + 2}`, () => last(out(id)) >= before + 2);
    assert.equal(counts(out(id))[0], before + 1, out(id));
    assert.doesNotMatch(out(id), /boot at/);
    assert.equal(existsSync(state), false, 'the state is consumed by the resume');

    // A disk changed behind a suspended VM's back is refused; the VM stays suspended with the reason, and the state is kept.
    await host.api.suspendVm(id);
    appendFileSync(disk, new Uint8Array(512));
    await assert.rejects(host.api.powerOn(id), /disk hda .* changed since the suspend \(its size is/);
    assert.equal(host.library.get(id).power, 'suspended');
    assert.match(host.library.get(id).error!, /changed since the suspend/);
    assert.ok(existsSync(state));

    // Discarding the state powers it off; the next power-on boots afresh, from the count on the disk.
    await assert.rejects(host.api.discardState('nonsense'), /no VM with id/);
    const off = await host.api.discardState(id);
    assert.equal(off.power, 'off');
    assert.equal(existsSync(state), false);
    await assert.rejects(host.api.discardState(id), /Counter is not suspended/);
    const atDiscard = last(out(id));
    await host.api.powerOn(id);
    await until('a count after the boot', () => /boot at \d+\r\ncount=/.test(out(id)));
    // The guest writes each count to its disk before printing it, so the suspend may have come between the two.
    const bootAt = Number(/boot at (\d+)/.exec(out(id))![1]);
    assert.ok(bootAt === atDiscard || bootAt === atDiscard + 1, `booted at ${bootAt}, the last count printed was ${atDiscard}`);

    // Quitting (web mode's SIGINT/SIGTERM) suspends what runs, a VM with host folders too (its
    // folder disk goes into the state file).
    const shared = join(files, 'shared');
    mkdirSync(shared);
    const disk2 = join(files, 'counter2.img');
    writeFileSync(disk2, bootSectorImage('mbr-counter.asm', 1 << 20));
    const f = await host.api.createVm({ ...settings, name: 'With folder', hdaPath: disk2, folders: [{ path: shared, readOnly: true }] });
    assert.ok(f.ok, JSON.stringify(f));
    await host.api.powerOn(f.vm.id);
    assert.deepEqual(host.running().sort(), ['Counter', 'With folder']);
    const lines = await host.suspendAll();
    assert.equal(lines.length, 2);
    assert.ok(lines.some((l) => l.startsWith(`Counter: suspended to ${state}`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('With folder: suspended to ')), lines.join('\n'));
    assert.deepEqual([host.library.get(id).power, host.library.get(f.vm.id).power], ['suspended', 'suspended']);
    const beforeQuit = last(out(id));
    await host.close();
    ({ host, out } = open(dataDir));
    await host.api.powerOn(id);
    await until('a count after the quit', () => counts(out(id)).length > 0);
    assert.equal(counts(out(id))[0], beforeQuit + 1);
    await host.api.powerOff(id);
  } finally {
    await host.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  }
});
