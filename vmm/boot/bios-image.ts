// The BIOS flash image a PC starts from: mapped at the top of the 4 GiB space, where the reset vector
// points, with its last 128 KiB also on the bus below 1 MiB (PcDevices.loadBios). Like QEMU's i440FX
// PC, any whole number of 64 KiB blocks is taken, up to the 2 MiB that Hostbox maps.

/** Why an image of `bytes` bytes cannot be the BIOS, or null when it can. */
export function biosSizeProblem(bytes: number): string | null {
  if (bytes >= 0x10000 && bytes <= 0x200000 && bytes % 0x10000 === 0) return null;
  return `a BIOS image must be 64 KiB to 2 MiB in whole 64 KiB blocks, not ${bytes} bytes`;
}
