// System Control Port B at 0x61 (PC/AT; PIIX3 datasheet "NMI Status and Control Register"):
// bit 0 counter 2 gate, bit 1 speaker data enable, bits 2-3 NMI check enables, bit 4 refresh
// request toggling every 15.09 us, bit 5 counter 2 OUT, bits 6-7 NMI sources (never set here).
// Linux calibrates the TSC by gating counter 2 here and polling bit 5.

import type { IoRange } from '../../bus.ts';
import type { Clock } from '../../clock.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import type { I8254 } from './i8254.ts';

const REFRESH_NS = 15_085;

export class Port61 implements Device {
  readonly stateId = 'port61';
  static readonly STATE: StateSchema<Port61> = defineState<Port61>({
    id: 'port61',
    version: 1,
    fields: [
      { name: 'stored', type: 'u8', since: 1, mask: 0x0f },
    ],
  });
  readonly stateVersion = Port61.STATE.version;
  readonly ioRanges: IoRange[];
  private stored = 0;

  constructor(
    private readonly pit: I8254,
    private readonly clock: Clock,
  ) {
    this.ioRanges = [
      {
        name: 'system control port B',
        base: 0x61,
        length: 1,
        read: () => this.read(),
        write: (_o, _s, v) => this.write(v & 0xff),
        peek: () => this.read(),
      },
    ];
  }

  private read(): number {
    const refresh = Math.floor(this.clock.now() / REFRESH_NS) & 1;
    return (this.stored & 0x0f) | (refresh << 4) | (this.pit.out2() ? 0x20 : 0);
  }

  private write(v: number): void {
    this.stored = v & 0x0f;
    this.pit.setGate2((v & 1) !== 0);
  }

  reset(_kind: ResetKind): void {
    this.stored = 0;
    this.pit.setGate2(false);
  }

  /** The schema save and load follow; the contract test reads it too. */
  get stateSchema(): StateSchema<unknown> {
    return Port61.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(Port61.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(Port61.STATE, this, s, version);
  }
}
