// One physical page's decoded instructions, for the interpreter's decoded-instruction cache
// (Cpu.fetchInstr). Each page keeps its own instructions: a page holds about a hundred, so a table
// of 4096 objects per page was mostly empty, and one slot array shared by all pages had to be
// emptied whole when it filled. Its size then bounded the cache below the kernel's working set in
// 300 fork + exec (87,000 instructions on 570 pages), and the whole cache was dropped and decoded
// again 72 times in that workload.

import { Instr } from './decode.ts';

/** What an unused place in a page's instruction list holds, so that the list holds one kind of object. */
const NO_INSTR = new Instr();

export class DecodedPage {
  /** By page offset, the index in `instrs` of the instruction decoded there; 0 for none. */
  readonly slots = new Uint16Array(4096);
  /** The decoded instructions; index 0 is never used. */
  readonly instrs: Instr[] = [NO_INSTR];
  /** The cache's period (Cpu.sweepDecoded) in which the page was last entered. */
  stamp = 0;
  /** The physical page number it holds while in the cache; -1 when emptied. */
  phys = -1;

  /** Decoded instructions held. */
  get count(): number {
    return this.instrs.length - 1;
  }

  /** Holds `i`, decoded at page offset `off`; returns how many instructions the page gained (0 or 1). */
  put(off: number, i: Instr): number {
    const k = this.slots[off]!;
    if (k !== 0) {
      this.instrs[k] = i;
      return 0;
    }
    this.slots[off] = this.instrs.length;
    this.instrs.push(i);
    return 1;
  }

  /** Empties the page for reuse. */
  clear(): void {
    if (this.instrs.length > 1) {
      this.slots.fill(0);
      this.instrs.length = 1;
    }
    this.stamp = 0;
    this.phys = -1;
  }
}
