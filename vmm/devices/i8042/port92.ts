// System Control Port A (I/O port 0x92), the PS/2 "fast A20 and reset" port that PC chipsets
// (PIIX3 and its successors, as PORT92) keep.
//
// Reference: IBM PS/2 Hardware Interface Technical Reference, "System Control Port A"; Intel
// 82371FB/SB (PIIX/PIIX3) datasheet, Port 92h. Bit 0 ALT_RESET: a 0->1 transition pulses the
// CPU reset (it reads back 0); bit 1 ALT_GATE_A20; bit 3 is the power-on password lock (kept
// as written); bits 6-7 drive the fixed-disk activity lights (kept). Bits 2, 4, 5 read 0.

import type { IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';

export const PORT92 = 0x92;
export const PORT92_ALT_RESET = 0x01;
export const PORT92_ALT_GATE_A20 = 0x02;
const PORT92_STORED = 0xca;

export interface Port92Host {
  /** Bit 1 changed; the machine ORs it with the keyboard controller's A20 output. */
  setA20(enabled: boolean): void;
  requestReset(): void;
}

export class Port92 implements Device {
  readonly stateId = 'port92';
  static readonly STATE: StateSchema<Port92> = defineState<Port92>({
    id: 'port92',
    version: 1,
    fields: [
      { name: 'value', type: 'u8', since: 1, mask: PORT92_STORED },
    ],
  });
  readonly stateVersion = Port92.STATE.version;
  readonly ioRanges: IoRange[];
  private value = 0;

  constructor(private readonly host: Port92Host) {
    this.ioRanges = [
      {
        name: 'system control port A',
        base: PORT92,
        length: 1,
        read: () => this.value,
        write: (_o, _s, v) => this.write(v & 0xff),
        peek: () => this.value,
      },
    ];
  }

  private write(v: number): void {
    const before = this.value;
    this.value = v & PORT92_STORED;
    if ((before ^ this.value) & PORT92_ALT_GATE_A20) this.host.setA20((this.value & PORT92_ALT_GATE_A20) !== 0);
    // Bit 0 reads back 0, so every write of 1 is a fresh 0->1 transition.
    if (v & PORT92_ALT_RESET) this.host.requestReset();
  }

  get a20(): boolean {
    return (this.value & PORT92_ALT_GATE_A20) !== 0;
  }

  reset(kind: ResetKind): void {
    if (kind === 'soft') return;
    const hadA20 = this.a20;
    this.value = 0;
    if (hadA20 || kind === 'power') this.host.setA20(false);
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return Port92.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(Port92.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(Port92.STATE, this, s, version);
  }
}
