// The sample VM a new user finds in the library: the Debian test guest (scripts/build-guest.sh,
// .cache/guest/), booted directly from its kernel, ready to power on. It is added once, when the app
// starts on an empty library and the guest is built; a marker in the data folder remembers that it
// was, so a user who deletes it does not get it back.

import { closeSync, existsSync, fsyncSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { VmInfo } from '../api-types.ts';
import type { VmLibrary } from './library.ts';
import { defaultSettings } from './vm-settings.ts';

export const SAMPLE_VM_NAME = 'Debian sample';
/** Present once the sample was added to this data folder's library. */
export const SAMPLE_MARKER = 'sample-vm-added';

/** The test guest's kernel and initrd in `guestDir` (.cache/guest of the installation), or null when not built. */
export function sampleGuest(guestDir: string): { kernel: string; initrd: string } | null {
  const kernel = join(guestDir, 'vmlinuz');
  const initrd = join(guestDir, 'initrd.img');
  return existsSync(kernel) && existsSync(initrd) ? { kernel, initrd } : null;
}

/** Adds the sample VM when the library is empty, the guest is built and no sample was added before; returns it, or null. */
export function addSampleVm(library: VmLibrary, guestDir: string): VmInfo | null {
  const marker = join(library.dataDir, SAMPLE_MARKER);
  if (existsSync(marker) || library.list().length > 0) return null;
  const guest = sampleGuest(guestDir);
  if (!guest) return null;
  const r = library.create(
    {
      ...defaultSettings(),
      name: SAMPLE_VM_NAME,
      memoryMiB: 256,
      kernelPath: guest.kernel,
      initrdPath: guest.initrd,
      // The kernel's messages on the VGA screen as well; the shell on the serial console (the last console=).
      cmdline: 'console=tty0 console=ttyS0',
    },
    { ptyUnavailable: () => null },
  );
  if (!r.ok) throw new Error(`the sample VM could not be added: ${r.errors.map((e) => e.message).join(' ')}`);
  const fd = openSync(marker, 'w', 0o644);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return r.vm;
}
