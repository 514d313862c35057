// The I/O port bus. Devices declare port ranges and the access sizes they handle, and see only
// offsets into their range; the bus owns addresses, rejects overlaps, and splits accesses a device
// does not handle into byte accesses (little-endian), as the ISA bus does for 8-bit devices.

export type AccessSize = 1 | 2 | 4;

export interface IoRange {
  /** Shown in errors and traces, e.g. "i8259 master". */
  readonly name: string;
  readonly base: number;
  readonly length: number;
  /** Sizes handled directly; others are split into bytes. Default: bytes only. */
  readonly sizes?: readonly AccessSize[];
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
  /** Side-effect-free read for debuggers and tests. */
  peek?(offset: number, size: AccessSize): number;
}

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export class IoBus {
  private readonly owner = new Int16Array(0x10000).fill(-1);
  /** Indexed by the owner table; a slot freed by unregister is reused, so a guest that moves a BAR for ever does not grow it. */
  private readonly ranges: (IoRange | null)[] = [];
  private readonly sizeMask: number[] = [];
  /** Optional trace hook for debugging unclaimed ports. */
  onUnclaimed: ((port: number, size: AccessSize, write: boolean, value: number) => void) | null = null;

  register(range: IoRange): void {
    if (range.length <= 0 || range.base < 0 || range.base + range.length > 0x10000)
      throw new Error(`I/O range ${range.name} at ${hex(range.base)}+${range.length} is outside the port space`);
    for (let p = range.base; p < range.base + range.length; p++) {
      const o = this.owner[p]!;
      if (o >= 0) throw new Error(`I/O range ${range.name} overlaps ${this.ranges[o]!.name} at port ${hex(p)}`);
    }
    let idx = this.ranges.indexOf(null);
    if (idx < 0) idx = this.ranges.length;
    let mask = 0;
    for (const s of range.sizes ?? [1]) mask |= s;
    this.ranges[idx] = range;
    this.sizeMask[idx] = mask | 1;
    this.owner.fill(idx, range.base, range.base + range.length);
  }

  unregister(range: IoRange): void {
    const idx = this.ranges.indexOf(range);
    if (idx < 0) return;
    for (let p = range.base; p < range.base + range.length; p++) if (this.owner[p] === idx) this.owner[p] = -1;
    this.ranges[idx] = null;
  }

  read(port: number, size: AccessSize): number {
    port &= 0xffff;
    const idx = this.owner[port]!;
    if (idx >= 0) {
      const r = this.ranges[idx]!;
      const off = port - r.base;
      if (this.sizeMask[idx]! & size && off + size <= r.length) return r.read(off, size) & ALL_ONES[size];
    } else if (size === 1) {
      this.onUnclaimed?.(port, 1, false, 0);
      return 0xff;
    }
    if (size === 1) return 0xff;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.read((port + i) & 0xffff, 1) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: AccessSize, value: number): void {
    port &= 0xffff;
    const idx = this.owner[port]!;
    if (idx >= 0) {
      const r = this.ranges[idx]!;
      const off = port - r.base;
      if (this.sizeMask[idx]! & size && off + size <= r.length) {
        r.write(off, size, value & ALL_ONES[size]);
        return;
      }
    } else if (size === 1) {
      this.onUnclaimed?.(port, 1, true, value);
      return;
    }
    if (size === 1) return;
    for (let i = 0; i < size; i++) this.write((port + i) & 0xffff, 1, (value >>> (8 * i)) & 0xff);
  }

  peek(port: number, size: AccessSize): number {
    const idx = this.owner[port & 0xffff]!;
    if (idx < 0) return ALL_ONES[size];
    const r = this.ranges[idx]!;
    return r.peek ? r.peek(port - r.base, size) : ALL_ONES[size];
  }
}

export function hex(n: number, digits = 4): string {
  return '0x' + (n >>> 0).toString(16).padStart(digits, '0');
}
