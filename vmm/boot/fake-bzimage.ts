// Test fixture: a bzImage with a real-looking setup header (boot protocol 2.15 by default) and a
// recognisable protected-mode payload, for tests of the loader and of everything that checks kernels
// before they boot.

export interface FakeKernel {
  protocol?: number;
  setupSects?: number;
  pmSize?: number;
  syssize?: number;
  loadflags?: number;
  relocatable?: boolean;
  alignment?: number;
  prefAddress?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  version?: string;
  truncateTo?: number;
  xloadflags?: number;
}

/** A bzImage with a real-looking setup header and a recognisable protected-mode payload. */
export function fakeBzImage(k: FakeKernel = {}): Uint8Array {
  const setupSects = k.setupSects ?? 4;
  const setupSize = ((setupSects || 4) + 1) * 512;
  const pmSize = k.pmSize ?? 0x3000;
  const img = new Uint8Array(setupSize + pmSize);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  dv.setUint32(0x1f4, k.syssize ?? Math.ceil(pmSize / 16), true);
  dv.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb; // jmp short to the end of the header
  img[0x201] = 0x6a; // header ends at 0x26c
  img.set([0x48, 0x64, 0x72, 0x53], 0x202);
  dv.setUint16(0x206, k.protocol ?? 0x20f, true);
  if (k.version !== undefined) {
    dv.setUint16(0x20e, 0x300 - 0x200, true);
    img.set(new TextEncoder().encode(k.version), 0x300);
  }
  img[0x211] = k.loadflags ?? 0x01;
  dv.setUint32(0x214, 0x100000, true);
  dv.setUint32(0x22c, k.initrdAddrMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, k.alignment ?? 0x200000, true);
  img[0x234] = k.relocatable ? 1 : 0;
  dv.setUint16(0x236, k.xloadflags ?? 0, true);
  dv.setUint32(0x238, k.cmdlineSize ?? 2047, true);
  dv.setUint32(0x258, k.prefAddress ?? 0x100000, true);
  dv.setUint32(0x260, k.initSize ?? 0x10000, true);
  for (let i = 0; i < pmSize; i++) img[setupSize + i] = (i * 7 + 3) & 0xff;
  return k.truncateTo !== undefined ? img.subarray(0, k.truncateTo) : img;
}
