// IBM PS/2 (MF II) keyboard as seen from its serial link to the keyboard controller.
//
// Reference: IBM Personal System/2 Hardware Interface Technical Reference, "Keyboards (101/102
// key)": commands to the keyboard (ED set/reset LEDs, EE echo, F0 select alternate scan codes, F2
// read ID, F3 set typematic rate/delay, F4 enable, F5 default disable, F6 set default, FE resend,
// FF reset) and its responses (FA acknowledge, AA BAT completion, FE resend, EE echo).
//
// The keyboard produces the scan code set it is told to (2 by default); host input arrives as set
// 1 codes and is converted. Set 3 is accepted and reported by F0 but keys keep coming in set 2:
// nothing on a PC uses set 3 and a wrong make code in an unused set is not worth a third table.
// The real keyboard's buffer is 16 bytes; this one keeps 256 so host-typed text is not dropped.

import type { StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';
import { set1ToSet2 } from './scancodes.ts';

export const KBD_ACK = 0xfa;
export const KBD_BAT_OK = 0xaa;
export const KBD_RESEND = 0xfe;
export const KBD_ECHO = 0xee;
/** Read ID response: an MF II keyboard. */
export const KBD_ID = [0xab, 0x83] as const;

const QUEUE_LIMIT = 256;
const TYPEMATIC_DEFAULT = 0x2b; // 10.9 characters/s, 500 ms delay

export class Ps2Keyboard {
  private queue: number[] = [];
  private scanning = true;
  private scanSet = 2;
  private leds = 0;
  private typematic = TYPEMATIC_DEFAULT;
  /** The command waiting for its parameter byte (ED, F0, F3), or 0. */
  private expect = 0;
  private lastSent = 0;

  /** Called when bytes become available so the controller can take one. */
  constructor(private readonly notify: () => void) {}

  get hasData(): boolean {
    return this.queue.length > 0;
  }

  get ledState(): number {
    return this.leds;
  }

  get scancodeSet(): number {
    return this.scanSet;
  }

  /** The controller takes the next byte off the link. */
  read(): number {
    const b = this.queue.shift() ?? 0;
    this.lastSent = b;
    return b;
  }

  /** Host key event in set 1 (make or break, with E0/E1 prefixes). */
  input(set1: readonly number[]): void {
    if (!this.scanning) return;
    const codes = this.scanSet === 1 ? set1.map((b) => b & 0xff) : set1ToSet2(set1);
    // A key's sequence goes in whole or not at all, so a full buffer never leaves half a key.
    if (codes.length === 0 || this.queue.length + codes.length > QUEUE_LIMIT) return;
    this.queue.push(...codes);
    this.notify();
  }

  /** A byte the system sent to the keyboard (port 0x60 write). */
  write(b: number): void {
    b &= 0xff;
    if (this.expect && b < 0xed) {
      const cmd = this.expect;
      this.expect = 0;
      this.parameter(cmd, b);
      return;
    }
    this.expect = 0;
    this.command(b);
  }

  private reply(...bytes: number[]): void {
    // Bounded, so a guest repeating RESEND without reading cannot grow the queue.
    if (this.queue.length + bytes.length <= QUEUE_LIMIT) this.queue.push(...bytes);
    this.notify();
  }

  private command(b: number): void {
    if (b !== 0xfe) {
      // Any command makes the keyboard discard what it had not sent yet.
      this.queue.length = 0;
    }
    switch (b) {
      case 0xed: // set/reset mode indicators
      case 0xf3: // set typematic rate/delay
        this.expect = b;
        this.reply(KBD_ACK);
        return;
      case 0xf0: // select alternate scan codes
        this.expect = b;
        this.reply(KBD_ACK);
        return;
      case 0xee:
        this.reply(KBD_ECHO);
        return;
      case 0xf2:
        this.reply(KBD_ACK, ...KBD_ID);
        return;
      case 0xf4:
        this.scanning = true;
        this.reply(KBD_ACK);
        return;
      case 0xf5:
        this.setDefaults();
        this.scanning = false;
        this.reply(KBD_ACK);
        return;
      case 0xf6:
        this.setDefaults();
        this.reply(KBD_ACK);
        return;
      case 0xf7:
      case 0xf8:
      case 0xf9:
      case 0xfa:
      case 0xfb:
      case 0xfc:
      case 0xfd:
        // Set-3 key type commands: acknowledged; keys are not reconfigured in this model.
        this.reply(KBD_ACK);
        return;
      case 0xfe:
        if (this.queue.length < QUEUE_LIMIT) this.queue.unshift(this.lastSent);
        this.notify();
        return;
      case 0xff:
        this.setDefaults();
        this.scanning = true;
        this.reply(KBD_ACK, KBD_BAT_OK);
        return;
      default:
        this.reply(KBD_RESEND);
    }
  }

  private parameter(cmd: number, b: number): void {
    switch (cmd) {
      case 0xed:
        this.leds = b & 0x07;
        this.reply(KBD_ACK);
        return;
      case 0xf3:
        this.typematic = b & 0x7f;
        this.reply(KBD_ACK);
        return;
      default: // 0xf0
        if (b === 0) this.reply(KBD_ACK, this.scanSet);
        else if (b <= 3) {
          this.scanSet = b;
          this.reply(KBD_ACK);
        } else this.reply(KBD_RESEND);
    }
  }

  private setDefaults(): void {
    this.typematic = TYPEMATIC_DEFAULT;
    this.leds = 0;
    this.scanSet = 2;
  }

  /** Back to power-on defaults. The power-on BAT's 0xAA is not queued: firmware resets the keyboard itself. */
  reset(): void {
    this.queue = [];
    this.setDefaults();
    this.scanning = true;
    this.expect = 0;
    this.lastSent = 0;
  }

  saveState(): StateRecord {
    return saveBySchema(KEYBOARD_STATE, this);
  }

  loadState(s: StateRecord, version = 1): void {
    loadBySchema(KEYBOARD_STATE, this, s, version);
  }
}

/** The keyboard's saved state; out-of-range values load as the keyboard's defaults, as before. */
export const KEYBOARD_STATE: StateSchema<Ps2Keyboard> = defineState<Ps2Keyboard>({
  id: 'ps2 keyboard',
  version: 1,
  fields: [
    { name: 'queue', type: 'bytes', since: 1, maxLength: QUEUE_LIMIT, get: (k) => Uint8Array.from(k['queue']), set: (k, v) => (k['queue'] = Array.from(v as Uint8Array)) },
    { name: 'scanning', type: 'bool', since: 1 },
    { name: 'scanSet', type: 'u8', since: 1, set: (k, v) => (k['scanSet'] = (v as number) >= 1 && (v as number) <= 3 ? (v as number) : 2) },
    { name: 'leds', type: 'u8', since: 1, mask: 7 },
    { name: 'typematic', type: 'u8', since: 1, mask: 0x7f },
    { name: 'expect', type: 'u8', since: 1, set: (k, v) => (k['expect'] = [0xed, 0xf0, 0xf3].includes(v as number) ? (v as number) : 0) },
    { name: 'lastSent', type: 'u8', since: 1 },
  ],
});
