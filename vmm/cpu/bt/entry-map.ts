// Which byte offsets of a physical page begin a translation of any mode: one bit per offset, each
// page's 4096 bits (512 bytes) side by side in a slot of its own.
//
// Why a bitmap: a cold run asks at every block it enters on a page holding translations whether the
// block begins one (then the dispatcher takes over). A table hashed by address put every block's
// answer on a cache line of its own, and in fork + exec, where 80,000 decoded instructions already
// overflow the processor's caches, that load missed more often than not. A page's bits share eight
// lines, and the answer is exact: no collisions, nothing to learn again.

/** 32-bit words per page: one bit per byte offset. */
const WORDS = 4096 / 32;
/** Pages whose bits fit before the pool grows. */
const FIRST_SLOTS = 256;

export class EntryMap {
  /**
   * By physical page: 1 + its slot in `bits`, or 0 when no translation begins there. Only RAM's pages
   * (`pages`): no other page holds a translation, and a table for all 4 GiB was 2 MiB.
   */
  private readonly slotOf: Uint16Array;
  private bits = new Int32Array(FIRST_SLOTS * WORDS);
  /** Slots given back, and how many were ever handed out. */
  private readonly free: number[] = [];
  private used = 0;

  /** For physical pages 0 to `pages` - 1 (RAM's); `has` answers false beyond them. */
  constructor(pages = 1 << 20) {
    this.slotOf = new Uint16Array(pages);
  }

  /** Whether a translation begins at physical address `phys`. */
  has(phys: number): boolean {
    const s = this.slotOf[phys >>> 12]!;
    return s !== 0 && (this.bits[(s - 1) * WORDS + ((phys & 0xfff) >>> 5)]! & (1 << (phys & 31))) !== 0;
  }

  add(phys: number): void {
    const page = phys >>> 12;
    if (page >= this.slotOf.length) throw new RangeError(`page ${page.toString(16)} is past the entry map's ${this.slotOf.length} pages`);
    let s = this.slotOf[page]!;
    if (s === 0) s = this.slotOf[page] = this.allocate() + 1;
    this.bits[(s - 1) * WORDS + ((phys & 0xfff) >>> 5)]! |= 1 << (phys & 31);
  }

  remove(phys: number): void {
    const s = this.slotOf[phys >>> 12];
    if (s === undefined || s === 0) return;
    const base = (s - 1) * WORDS;
    this.bits[base + ((phys & 0xfff) >>> 5)]! &= ~(1 << (phys & 31));
    for (let k = 0; k < WORDS; k++) if (this.bits[base + k] !== 0) return;
    this.release(phys >>> 12);
  }

  /** No translation begins on physical page `page` any more. */
  clearPage(page: number): void {
    const s = this.slotOf[page];
    if (s !== undefined && s !== 0) this.release(page);
  }

  clear(): void {
    this.slotOf.fill(0);
    this.bits.fill(0);
    this.free.length = 0;
    this.used = 0;
  }

  /** Pages with a slot (the memory held is this many times 512 bytes). */
  get pages(): number {
    return this.used - this.free.length;
  }

  private release(page: number): void {
    const slot = this.slotOf[page]! - 1;
    this.bits.fill(0, slot * WORDS, (slot + 1) * WORDS);
    this.slotOf[page] = 0;
    this.free.push(slot);
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if ((this.used + 1) * WORDS > this.bits.length) {
      // Slot numbers are 16-bit; physical pages holding translations are far fewer (MAX_TRANSLATIONS).
      const grown = new Int32Array(Math.min(this.bits.length * 2, 0xffff * WORDS));
      grown.set(this.bits);
      this.bits = grown;
    }
    return this.used++;
  }
}
