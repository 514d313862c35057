// The firmware debug console port of Bochs (0xE9) and QEMU's isa-debugcon (0x402 for SeaBIOS):
// bytes written are a log, and a read returns 0xE9 so firmware can tell the port is there.
// SeaBIOS prints its whole boot trace here when it finds the port.
//
// Guest input is hostile: lines are cut at MAX_LINE characters and at most MAX_LINES lines per
// reset reach the host log, so a guest cannot flood the host with it.

import type { AccessSize, IoRange } from '../../bus.ts';
import type { Device, ResetKind, StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';

export const DEBUGCON_SEABIOS_PORT = 0x402;
const READBACK = 0xe9;
const MAX_LINE = 256;
const MAX_LINES = 20000;

export class DebugCon implements Device {
  readonly stateId: string;
  get stateVersion(): number {
    return this.stateSchema.version;
  }
  readonly ioRanges: IoRange[];
  private line = '';
  private lines = 0;

  constructor(
    readonly port: number,
    private readonly sink: (line: string) => void,
  ) {
    this.stateId = `debugcon-${port.toString(16)}`;
    this.ioRanges = [
      {
        name: 'debugcon',
        base: port,
        length: 1,
        read: (_off: number, _size: AccessSize) => READBACK,
        write: (_off: number, _size: AccessSize, v: number) => this.put(v & 0xff),
      },
    ];
  }

  private put(b: number): void {
    if (this.lines >= MAX_LINES) return;
    if (b === 0x0a) return this.flush();
    if (b === 0x0d) return;
    if (this.line.length < MAX_LINE) this.line += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  }

  private flush(): void {
    this.lines++;
    this.sink(this.lines === MAX_LINES ? `${this.line} [debug console: further output dropped until reset]` : this.line);
    this.line = '';
  }

  reset(_kind: ResetKind): void {
    this.line = '';
    this.lines = 0;
  }

  /** Nothing to save: a debug console is a write-only port; a half line is only host-side text. */
  static readonly STATE: StateSchema<DebugCon> = defineState<DebugCon>({ id: 'debugcon', version: 1, fields: [] });

  get stateSchema(): StateSchema<unknown> {
    return DebugCon.STATE as StateSchema<unknown>;
  }

  saveState(): StateRecord {
    return saveBySchema(DebugCon.STATE, this);
  }

  loadState(s: StateRecord, version: number): void {
    loadBySchema(DebugCon.STATE, this, s, version);
  }
}
