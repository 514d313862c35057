import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBzImage } from '../../vmm/boot/fake-bzimage.ts';
import { VmLibrary } from './library.ts';
import { SAMPLE_VM_NAME, addSampleVm } from './sample-vm.ts';
import { defaultSettings } from './vm-settings.ts';

function scratch(): { dataDir: string; guestDir: string; done(): void } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hostbox-sample-'));
  const guestDir = mkdtempSync(join(tmpdir(), 'hostbox-sample-guest-'));
  return {
    dataDir,
    guestDir,
    done: () => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(guestDir, { recursive: true, force: true });
    },
  };
}

test('an empty library gets the sample VM once, booting the built guest; deleting it does not bring it back', () => {
  const s = scratch();
  writeFileSync(join(s.guestDir, 'vmlinuz'), fakeBzImage());
  writeFileSync(join(s.guestDir, 'initrd.img'), new Uint8Array(1024));
  const lib = VmLibrary.open(s.dataDir);
  try {
    const vm = addSampleVm(lib, s.guestDir);
    assert.ok(vm);
    assert.equal(vm.name, SAMPLE_VM_NAME);
    assert.equal(vm.boot, 'kernel');
    assert.equal(vm.kernelPath, join(s.guestDir, 'vmlinuz'));
    assert.equal(vm.initrdPath, join(s.guestDir, 'initrd.img'));
    assert.match(vm.cmdline, /console=ttyS0$/);
    assert.equal(vm.power, 'off');
    assert.deepEqual(lib.list().map((v) => v.name), [SAMPLE_VM_NAME]);
    assert.equal(addSampleVm(lib, s.guestDir), null, 'not twice');
    lib.delete(vm.id);
    assert.equal(addSampleVm(lib, s.guestDir), null, 'not after the user deleted it');
    assert.equal(lib.list().length, 0);
  } finally {
    lib.close();
    s.done();
  }
});

test('no sample while the guest is not built, nor in a library that already has VMs', () => {
  const s = scratch();
  const lib = VmLibrary.open(s.dataDir);
  try {
    assert.equal(addSampleVm(lib, s.guestDir), null);
    writeFileSync(join(s.guestDir, 'vmlinuz'), fakeBzImage());
    writeFileSync(join(s.guestDir, 'initrd.img'), new Uint8Array(1024));
    const own = lib.create({ ...defaultSettings(), name: 'Mine', kernelPath: join(s.guestDir, 'vmlinuz'), memoryMiB: 64 }, { ptyUnavailable: () => null });
    assert.ok(own.ok, JSON.stringify(own));
    assert.equal(addSampleVm(lib, s.guestDir), null);
    assert.deepEqual(lib.list().map((v) => v.name), ['Mine']);
  } finally {
    lib.close();
    s.done();
  }
});
