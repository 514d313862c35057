// What `--kernel` accepts: a Linux bzImage (boot protocol 2.06+) or a Multiboot kernel, told apart
// as QEMU does: the Linux setup header's "HdrS" first, then a Multiboot header.

import type { PhysicalMemory } from '../memory.ts';
import { hasLinuxHeader, loadLinux, parseBzImage, type AcpiPlacement, type BootEntry } from './linux.ts';
import { findMultibootHeader, loadMultiboot } from './multiboot.ts';

export type KernelKind = 'linux' | 'multiboot';

/**
 * How much of an image kernelKind reads: the setup header (below 0x400), the kernel version string
 * it points to (at most 0x10200 + 256 bytes in), the Multiboot header's search (the first 8 KiB).
 */
export const KERNEL_HEAD_BYTES = 0x10400;

/**
 * Which loader takes this image; throws an Error naming what is wrong with it. `length` is the whole
 * file's when `kernel` holds only its first KERNEL_HEAD_BYTES (a check before the file is read whole).
 */
export function kernelKind(kernel: Uint8Array, length = kernel.length): KernelKind {
  if (!hasLinuxHeader(kernel) && findMultibootHeader(kernel)) return 'multiboot';
  try {
    parseBzImage(kernel, length);
  } catch (e) {
    if (hasLinuxHeader(kernel)) throw e;
    throw new Error(`${(e as Error).message}, nor a Multiboot kernel`);
  }
  return 'linux';
}

export interface KernelBootOptions {
  initrd?: Uint8Array;
  cmdline?: string;
  acpi?: AcpiPlacement;
}

/** Loads the kernel (with its initrd, or Multiboot module) into guest RAM; returns the CPU's starting state. */
export function loadKernel(mem: PhysicalMemory, kernel: Uint8Array, opts: KernelBootOptions): BootEntry {
  if (kernelKind(kernel) === 'multiboot') return loadMultiboot(mem, kernel, { module: opts.initrd, moduleString: 'initrd', cmdline: opts.cmdline, acpi: opts.acpi });
  return loadLinux(mem, kernel, opts);
}
