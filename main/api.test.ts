import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fakeBzImage } from '../vmm/boot/fake-bzimage.ts';
import { createHostApi } from './api.ts';
import type { HostEvent, VmCreateSettings } from './api-types.ts';
import { FAKE_RELEASE, fakeVmmLauncher } from './fake-vmm-launcher.ts';
import { ptyUnavailable } from './backends/pty.ts';
import type { VmHandlers, VmLaunchSpec } from './vmm-host.ts';
import type { FolderDisk } from './backends/host-folder/folder-disk.ts';

function scratch(): { dataDir: string; kernel: string; done(): void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-api-'));
  const files = mkdtempSync(join(tmpdir(), 'hostbox-api-files-'));
  const kernel = join(files, 'vmlinuz');
  writeFileSync(kernel, fakeBzImage());
  return {
    dataDir,
    kernel,
    done: () => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    },
  };
}

const until = async (f: () => boolean, what: string, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

async function vmSettings(host: ReturnType<typeof createHostApi>, kernel: string, over: Partial<VmCreateSettings> = {}): Promise<VmCreateSettings> {
  return { ...(await host.api.defaultSettings()), name: 'Guest', kernelPath: kernel, ...over };
}

test('create, power on, console in and out, power off: the state is stored and events tell the UI', async () => {
  const s = scratch();
  const launcher = fakeVmmLauncher();
  const host = createHostApi({ dataDir: s.dataDir, launcher });
  const events: HostEvent[] = [];
  host.subscribe((e) => events.push(e));
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    const id = r.vm.id;
    const on = await host.api.powerOn(id);
    assert.equal(on.power, 'running');
    await assert.rejects(host.api.powerOn(id), /Guest is already running/);
    const serial = (): string => events.flatMap((e) => (e.type === 'serial' ? [e.data] : [])).join('');
    await until(() => serial().includes('/ # '), 'the prompt');
    await host.api.sendSerial(id, 'uname -r\r');
    await until(() => serial().includes(FAKE_RELEASE), 'uname output');
    const log = await host.api.serialLog(id);
    assert.equal(log.text, serial());
    assert.equal(log.end, serial().length);
    // Settings and deletion wait until the VM is off.
    const upd = await host.api.updateVm(id, { ...r.vm, memoryMiB: 64 });
    assert.equal(upd.ok, false);
    await assert.rejects(host.api.deleteVm(id), /power Guest off before deleting it/);
    await host.api.powerOff(id);
    assert.equal((await host.api.listVms())[0]!.power, 'off');
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'vm' ? [e.vm.power] : [])),
      ['off', 'starting', 'running', 'off'],
    );
    await assert.rejects(host.api.sendSerial(id, 'x'), /Guest is not running/);
    assert.ok((await host.api.updateVm(id, { ...r.vm, memoryMiB: 64 })).ok);
    // A second power-on continues the same console stream.
    await host.api.powerOn(id);
    await until(() => serial().split('/ # ').length > 3, 'the second prompt');
    assert.equal((await host.api.serialLog(id)).end, serial().length);
    await host.api.sendSerial(id, 'poweroff\r');
    await until(() => host.library.get(id).power === 'off', 'guest poweroff');
    assert.equal(launcher.launched, 2);
  } finally {
    await host.close();
    s.done();
  }
});

test('a crashing VMM marks its VM crashed with the error; other VMs keep running', async () => {
  const s = scratch();
  const host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher({ crashOn: 'crash' }) });
  try {
    const a = await host.api.createVm(await vmSettings(host, s.kernel, { name: 'A' }));
    const b = await host.api.createVm(await vmSettings(host, s.kernel, { name: 'B' }));
    assert.ok(a.ok && b.ok);
    let bOut = '';
    host.subscribe((e) => {
      if (e.type === 'serial' && e.id === b.vm.id) bOut += e.data;
    });
    await host.api.powerOn(a.vm.id);
    await host.api.powerOn(b.vm.id);
    await host.api.sendSerial(a.vm.id, 'crash\r');
    await until(() => host.library.get(a.vm.id).power === 'crashed', 'the crash');
    assert.equal(host.library.get(a.vm.id).error, 'RuntimeError: the fake VMM fell over');
    assert.equal(host.library.get(b.vm.id).power, 'running');
    await host.api.sendSerial(b.vm.id, 'uname -r\r');
    await until(() => bOut.includes(FAKE_RELEASE), "B's answer");
    // A crashed VM can be powered on again, which clears the error.
    await host.api.powerOn(a.vm.id);
    assert.equal(host.library.get(a.vm.id).power, 'running');
    assert.equal(host.library.get(a.vm.id).error, undefined);
  } finally {
    await host.close();
    s.done();
  }
});

test('a guest halted with interrupts off is shown as halted with where; a reset runs it again', async () => {
  const s = scratch();
  const host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher() });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    const id = r.vm.id;
    await host.api.powerOn(id);
    await host.api.sendSerial(id, 'halt\r');
    await until(() => host.library.get(id).power === 'halted', 'the halted state');
    assert.match(host.library.get(id).error ?? '', /halted with interrupts off at 0060:c1234567: it will not go on/);
    // Still a running VM as far as settings and deletion go.
    assert.equal((await host.api.updateVm(id, { ...r.vm, memoryMiB: 64 })).ok, false);
    await host.api.resetVm(id);
    await until(() => host.library.get(id).power === 'running', 'running after the reset');
    assert.equal(host.library.get(id).error, undefined);
    await host.api.powerOff(id);
    assert.equal(host.library.get(id).power, 'off');
  } finally {
    await host.close();
    s.done();
  }
});

test('a VM whose files vanished stays off with the reason; a disk-booting VM is launched without a kernel', async () => {
  const s = scratch();
  const specs: VmLaunchSpec[] = [];
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (spec) => {
      specs.push(spec);
      throw new Error(`kernel ${spec.kernelPath} does not exist`);
    },
  });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    await assert.rejects(host.api.powerOn(r.vm.id), /does not exist/);
    assert.equal(host.library.get(r.vm.id).power, 'off');
    assert.match(host.library.get(r.vm.id).error!, /does not exist/);
    // Beside the kernel: an image inside the data folder that is not the VM's own is refused.
    const iso = join(dirname(s.kernel), 'cd.iso');
    writeFileSync(iso, new Uint8Array(2048 * 4));
    const d = await host.api.createVm(await vmSettings(host, s.kernel, { name: 'CD', boot: 'disk', cdromPath: iso }));
    assert.ok(d.ok, JSON.stringify(d));
    // A disk-booting VM starts without a kernel: the VMM runs the BIOS.
    await assert.rejects(host.api.powerOn(d.vm.id));
    assert.deepEqual([specs[1]!.kernelPath, specs[1]!.cdromPath], [undefined, iso]);
  } finally {
    await host.close();
    s.done();
  }
});

test('closing the host powers VMs off, and a new host on the same folder lists them', async () => {
  const s = scratch();
  let host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher() });
  const r = await host.api.createVm(await vmSettings(host, s.kernel));
  assert.ok(r.ok);
  await host.api.powerOn(r.vm.id);
  await host.close();
  host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher() });
  try {
    const list = await host.api.listVms();
    assert.deepEqual(
      list.map((v) => [v.name, v.power]),
      [['Guest', 'off']],
    );
    const plan = await host.api.deletePlan(r.vm.id);
    assert.deepEqual(plan.kept, [s.kernel]);
    await host.api.deleteVm(r.vm.id);
    assert.deepEqual(await host.api.listVms(), []);
  } finally {
    await host.close();
    s.done();
  }
});

test('serial on a host pty: what the guest prints reaches the pty, what a user types reaches the guest', { skip: ptyUnavailable() ?? false }, async () => {
  const s = scratch();
  const host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher() });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel, { serial: 'pty' }));
    assert.ok(r.ok, JSON.stringify(r));
    const on = await host.api.powerOn(r.vm.id);
    assert.match(on.ptyPath!, /^\/dev\/pts\/\d+$/);
    assert.equal((await host.api.listVms())[0]!.ptyPath, on.ptyPath);
    // What `screen /dev/pts/N` would do: open the slave and talk through it.
    const fd = openSync(on.ptyPath!, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
    let got = '';
    const read = (): void => {
      const b = Buffer.alloc(4096);
      try {
        const n = readSync(fd, b);
        got += b.subarray(0, n).toString('latin1');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
    };
    await new Promise((res) => setTimeout(res, 100));
    read();
    assert.match(got, /\/ # $/);
    writeSync(fd, 'uname -r\r');
    await new Promise((res) => setTimeout(res, 100));
    read();
    // Raw mode: the guest's echo comes back once, with no local echo and no CR/LF rewriting.
    assert.ok(got.endsWith(`uname -r\r\n${FAKE_RELEASE}\r\n/ # `), JSON.stringify(got));
    assert.match((await host.api.serialLog(r.vm.id)).text, new RegExp(FAKE_RELEASE));
    closeSync(fd);
    await host.api.powerOff(r.vm.id);
    assert.equal((await host.api.listVms())[0]!.ptyPath, undefined);
  } finally {
    await host.close();
    s.done();
  }
});

test('serial output is batched into one event per event-loop turn, with offsets that join the history', async () => {
  const s = scratch();
  let handlers: VmHandlers | null = null;
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (_spec, h) => {
      handlers = h;
      return { sendSerial() {}, sendKeys() {}, reset() {}, async stop() {} };
    },
  });
  const events: { data: string; offset: number }[] = [];
  host.subscribe((e) => {
    if (e.type === 'serial') events.push({ data: e.data, offset: e.offset });
  });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    await host.api.powerOn(r.vm.id);
    // The console's mark of the power-on comes first.
    let expected = (await host.api.serialLog(r.vm.id)).text;
    assert.match(expected, /powered on at/);
    // 300 KiB a byte at a time, as the UART hands it over, in three turns of the event loop.
    for (let turn = 0; turn < 3; turn++) {
      for (let i = 0; i < 100 * 1024; i++) {
        const b = 0x20 + ((i * 7 + turn) % 0x5f);
        handlers!.serial(0, new Uint8Array([b]));
        expected += String.fromCharCode(b);
      }
      await new Promise((res) => setImmediate(res));
    }
    await new Promise((res) => setImmediate(res));
    // At most one event per 64 KiB gathered, plus one per turn for the rest.
    assert.ok(events.length <= 3 * 2 + 1, `${events.length} events`);
    assert.equal(events.map((e) => e.data).join(''), expected);
    let at = 0;
    for (const e of events) {
      assert.equal(e.offset, at);
      at += e.data.length;
    }
    const log = await host.api.serialLog(r.vm.id);
    assert.equal(log.end, expected.length);
    assert.equal(log.text, expected.slice(-256 * 1024));
    // Output just before the VM stops reaches the UI before the VM shows as off.
    const order: string[] = [];
    host.subscribe((e) => order.push(e.type === 'vm' ? `vm:${e.vm.power}` : e.type));
    handlers!.serial(0, new TextEncoder().encode('bye'));
    handlers!.state('poweroff');
    assert.deepEqual(order, ['serial', 'vm:off']);
  } finally {
    await host.close();
    s.done();
  }
});

test('power-on hands the VM its network settings; a running VM reports traffic and its cable can be pulled', async () => {
  const s = scratch();
  let spec: VmLaunchSpec | null = null;
  const links: boolean[] = [];
  const counters = { framesFromGuest: 3, framesToGuest: 2, bytesFromGuest: 300, bytesToGuest: 200, malformed: 1, fragments: 1, refused: 4 };
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (sp, handlers) => {
      spec = sp;
      let link = sp.net?.link !== false;
      setTimeout(() => handlers.state('running'), 1);
      return {
        sendSerial() {},
        sendKeys() {},
        reset() {},
        async stop() {
          handlers.state('stopped');
        },
        setLink(up: boolean) {
          link = up;
          links.push(up);
        },
        get linkUp() {
          return link;
        },
        netCounters: counters,
      };
    },
  });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel, { hostAccess: true, forwards: 'tcp:8080:80' }));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(await host.api.netStatus(r.vm.id), null, 'off: no status');
    await host.api.powerOn(r.vm.id);
    assert.deepEqual(spec!.net, { mode: 'user', mac: r.vm.mac, hostAccess: true, forwards: [{ proto: 'tcp', hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80, exposed: false }] });
    assert.deepEqual(await host.api.netStatus(r.vm.id), { cable: true, framesFromGuest: 3, framesToGuest: 2, bytesFromGuest: 300, bytesToGuest: 200, dropped: 2, refused: 4 });
    await host.api.setCable(r.vm.id, false);
    assert.deepEqual(links, [false]);
    assert.equal((await host.api.netStatus(r.vm.id))!.cable, false);
    await assert.rejects(host.api.setCable(r.vm.id, 'yes' as never), /true or false/);
    await host.api.powerOff(r.vm.id);
  } finally {
    await host.close();
    s.done();
  }
});

test('host folders go to the VMM launch with their overlays in the VM folder, and the sync summary reaches the VM page', async () => {
  const s = scratch();
  const specs: VmLaunchSpec[] = [];
  // Beside the data folder: one inside it is refused (a guest must not reach Hostbox's own files).
  const shared = join(dirname(s.kernel), 'shared');
  mkdirSync(shared);
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (spec, handlers) => {
      specs.push(spec);
      const vm = await fakeVmmLauncher()(spec, handlers);
      // Stands in for VmmHost at a guest power-off: each folder's sync is reported before the state.
      const fakeDisk = { folder: shared, readOnly: false } as unknown as FolderDisk;
      return {
        ...vm,
        // Stands in for "Sync to host now": one folder refused because the guest has it mounted.
        syncFoldersNow: async () => [{ folder: { slot: 'hdb' as const, disk: fakeDisk }, report: null, error: new Error('the guest still has the folder disk mounted') }],
        stop: async () => {
          handlers.folderSync?.({ slot: 'hdb', disk: fakeDisk }, { written: ['a.txt'], created: [], deleted: [], moved: [], dirsMade: [], dirsRemoved: [], conflicts: ['b.txt: changed on the host'], refused: [], alreadyThere: [] });
          await vm.stop();
        },
      };
    },
  });
  try {
    for (const path of [s.dataDir, join(s.dataDir, 'vms'), dirname(s.dataDir)]) {
      mkdirSync(path, { recursive: true });
      const refused = await host.api.createVm(await vmSettings(host, s.kernel, { name: 'Refused', folders: [{ path, readOnly: true }] }));
      assert.match(refused.ok ? '' : (refused.errors.find((e) => e.field === 'folders')?.message ?? ''), /Hostbox's data folder/, path);
    }
    const r = await host.api.createVm(await vmSettings(host, s.kernel, { folders: [{ path: shared, readOnly: false }] }));
    assert.ok(r.ok, JSON.stringify(r));
    await host.api.powerOn(r.vm.id);
    assert.deepEqual(specs[0]!.folders, [{ path: shared, readOnly: false }]);
    assert.equal(specs[0]!.folderOverlayDir, r.vm.folder);
    assert.deepEqual(await host.api.syncFolders(r.vm.id), {
      ok: false,
      lines: [`folder ${shared} was not synced: the guest still has the folder disk mounted; the folder is unchanged, and the guest's changes are kept with the VM for a later sync`],
    });
    await host.api.powerOff(r.vm.id);
    await assert.rejects(host.api.syncFolders(r.vm.id), /is not running/);
    const vm = (await host.api.listVms()).find((v) => v.id === r.vm.id)!;
    assert.deepEqual(vm.folderSync, [`folder ${shared} synced: 1 changed, 1 conflicts`, '  conflict: b.txt: changed on the host']);
  } finally {
    await host.close();
    s.done();
  }
});

test('shutdownGuest presses the ACPI power button of a running VM; the guest powering off turns it off', async () => {
  const s = scratch();
  const host = createHostApi({ dataDir: s.dataDir, launcher: fakeVmmLauncher() });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    await assert.rejects(host.api.shutdownGuest(r.vm.id), /Guest is not running/);
    await host.api.powerOn(r.vm.id);
    await host.api.shutdownGuest(r.vm.id);
    await until(() => host.library.get(r.vm.id).power === 'off', 'the guest powering off');
  } finally {
    await host.close();
    s.done();
  }
});

test('screens: a page that asks late gets the current picture; changes are announced by version; mouse and CD calls reach the VMM', async () => {
  const s = scratch();
  let handlers: VmHandlers | null = null;
  const mouse: number[][] = [];
  const cds: (string | null)[] = [];
  const host = createHostApi({
    dataDir: s.dataDir,
    ptyUnavailable: () => null,
    launcher: async (_spec, h) => {
      handlers = h;
      return { sendSerial() {}, sendKeys() {}, reset() {}, async stop() {}, sendMouse: (...m: number[]) => void mouse.push(m), changeCd: async (p: string | null) => void cds.push(p) };
    },
  });
  try {
    const events: HostEvent[] = [];
    host.subscribe((e) => events.push(e));
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    const id = r.vm.id;
    assert.deepEqual(await host.api.screenUpdate(id, 0), { kind: 'none', version: 0 }, 'nothing yet');
    await host.api.powerOn(id);
    const cells = new Uint16Array(80 * 25).fill(0x0720);
    cells[0] = 0x1f48;
    handlers!.screen({ kind: 'text', cols: 80, rows: 25, cells, cursor: { row: 0, col: 1, visible: true } });
    handlers!.screen({ kind: 'text', cols: 80, rows: 25, cells: cells.slice(), cursor: { row: 0, col: 1, visible: true } });
    const announced = events.filter((e) => e.type === 'screen');
    assert.equal(announced.length, 1, 'the same screen twice is announced once');
    const u = await host.api.screenUpdate(id, 0);
    assert.ok(u.kind === 'text' && u.version === (announced[0] as { version: number }).version);
    assert.deepEqual(u.kind === 'text' && [u.cells[0], u.cells[1]], [0x48, 0x1f]);
    await host.api.sendMouse(id, 5, -3, 1, 1);
    assert.deepEqual(mouse, [[5, -3, 1, 1]]);
    const vm = await host.api.changeCd(id, '/some/disc.iso');
    assert.equal(vm.cdromPath, '/some/disc.iso');
    await host.api.changeCd(id, '');
    assert.deepEqual(cds, ['/some/disc.iso', null]);
    assert.equal((await host.api.listVms())[0]!.cdromPath, '');
    await host.api.powerOff(id);
    // The last picture stays for a page opened after power-off, as the console does.
    assert.equal((await host.api.screenUpdate(id, 0)).kind, 'text');
    await assert.rejects(host.api.sendMouse(id, 1, 1, 0, 0), /is not running/);
  } finally {
    await host.close();
    s.done();
  }
});

test('activity from the VMM reports (MIPS, CPU, uptime), the power button, and power events marked in the console', async () => {
  const s = scratch();
  let handlers: VmHandlers | null = null;
  let presses = 0;
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (_sp, h) => {
      handlers = h;
      return { sendSerial() {}, sendKeys() {}, reset() {}, powerButton: () => void presses++, async stop() { h.state('stopped'); } };
    },
  });
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel));
    assert.ok(r.ok);
    const id = r.vm.id;
    const events: HostEvent[] = [];
    host.subscribe((e) => events.push(e));
    await host.api.powerOn(id);
    await new Promise((res) => setTimeout(res, 50));
    handlers!.stats!({ instructions: 5_000_000, guestTimeNs: 0 }, 25);
    const a = events.find((e) => e.type === 'activity');
    assert.ok(a && a.type === 'activity');
    // 5 M instructions and 25 ms busy over the ~50 ms since power-on.
    assert.ok(a.activity.mips > 20 && a.activity.mips < 120, `mips ${a.activity.mips}`);
    assert.ok(a.activity.cpuPercent > 10 && a.activity.cpuPercent <= 100, `cpu ${a.activity.cpuPercent}`);
    assert.ok(a.activity.uptimeMs >= 40, `uptime ${a.activity.uptimeMs}`);
    assert.ok(a.activity.hostCpuPercent >= 0, `host cpu ${a.activity.hostCpuPercent}`);
    // After a reset the count starts again: no negative rate.
    handlers!.stats!({ instructions: 1000, guestTimeNs: 0 }, 30);
    const last = events.filter((e) => e.type === 'activity').at(-1)!;
    assert.ok(last.type === 'activity' && last.activity.mips === 0);
    await host.api.shutdownGuest(id);
    assert.equal(presses, 1);
    handlers!.state('reset');
    await host.api.powerOff(id);
    const log = await host.api.serialLog(id);
    assert.match(log.text, /-------- powered on at [^]*-------- reset at \d\d:\d\d:\d\d --------[^]*-------- powered off at/);
    await assert.rejects(host.api.shutdownGuest(id), /is not running/);
  } finally {
    await host.close();
    s.done();
  }
});

test('power-on and settings racing a snapshot operation never leave a running VM on a disk the snapshot moved or deleted', async () => {
  const s = scratch();
  const hda = join(dirname(s.kernel), 'disk.img');
  writeFileSync(hda, new Uint8Array(1 << 20));
  /** The disk the VM was launched on, while it runs (null while it does not). */
  let runningOn: string | undefined | null = null;
  const fake = fakeVmmLauncher();
  const host = createHostApi({
    dataDir: s.dataDir,
    launcher: async (spec, handlers, resume) => {
      const vmm = await fake(spec, handlers, resume);
      runningOn = spec.hdaPath;
      return { ...vmm, stop: async () => ((runningOn = null), vmm.stop()) };
    },
  });
  /** What the library says about the VM agrees with what runs: the disk it runs on exists and is its current disk. */
  const consistent = (id: string): void => {
    const vm = host.library.get(id);
    if (runningOn === null) return;
    assert.equal(vm.power, 'running', 'the VM runs, so it must show as running');
    assert.equal(runningOn, vm.currentDisk || vm.hdaPath, `the VM runs on ${runningOn}, the library says ${vm.currentDisk || vm.hdaPath}`);
    assert.ok(runningOn && existsSync(runningOn), `the VM's running disk ${runningOn} was deleted under it`);
  };
  try {
    const r = await host.api.createVm(await vmSettings(host, s.kernel, { hdaPath: hda }));
    assert.ok(r.ok, JSON.stringify(r));
    const id = r.vm.id;

    // A snapshot of the powered-off VM, and a power-on in the same moment.
    const [taken] = await Promise.allSettled([host.api.takeSnapshot(id, 'first'), host.api.powerOn(id)]);
    assert.equal(taken.status, 'fulfilled');
    consistent(id);
    if (host.library.get(id).power === 'running') await host.api.powerOff(id);
    const first = host.library.snapshots(id)[0]!;

    // Reverting to it, and a power-on in the same moment.
    await Promise.allSettled([host.api.revertSnapshot(id, first.id), host.api.powerOn(id)]);
    consistent(id);
    if (host.library.get(id).power === 'running') await host.api.powerOff(id);

    // Deleting the snapshot the VM descends from (its overlay is merged down, then deleted), and a power-on.
    await Promise.allSettled([host.api.deleteSnapshot(id, first.id), host.api.powerOn(id)]);
    consistent(id);
    if (host.library.get(id).power === 'running') await host.api.powerOff(id);

    // The hard disk taken out of the settings while a snapshot freezes it: one of the two must not happen.
    const [snap, upd] = await Promise.all([host.api.takeSnapshot(id, 'second'), host.api.updateVm(id, { ...host.library.get(id), hdaPath: '' })]);
    const vm = host.library.get(id);
    assert.ok(!(snap.current && upd.ok), `the VM's settings say it has no disk, yet its current disk is ${vm.currentDisk}, an overlay over ${hda}`);
  } finally {
    await host.close();
    s.done();
  }
});
