// IBM PS/2 mouse (auxiliary device) with the Microsoft IntelliMouse and IntelliMouse Explorer
// extensions.
//
// References: IBM PS/2 Hardware Interface Technical Reference, "Pointing Device": commands E6/E7
// scaling, E8 set resolution, E9 status request, EA stream mode, EB read data, EC reset wrap
// mode, EE wrap mode, F0 remote mode, F2 read device type, F3 set sampling rate, F4/F5
// enable/disable, F6 set default, FE resend, FF reset (FA, AA, 00); the 3-byte data packet.
// Microsoft "Keyboard and mouse class drivers" / IntelliMouse PS/2 protocol notes: sample-rate
// knocks 200,100,80 make the ID 3 (4-byte packets, Z in byte 4), then 200,200,80 make it 4
// (Z in bits 3-0 of byte 4, buttons 4 and 5 in bits 4 and 5).

import type { StateRecord } from '../../device.ts';
import { defineState, loadBySchema, saveBySchema, type StateSchema } from '../../state/schema.ts';

export const AUX_ACK = 0xfa;
export const AUX_RESEND = 0xfe;
export const AUX_BAT_OK = 0xaa;

const QUEUE_LIMIT = 256;
/** Below this many queued bytes, movement held back by a full queue is sent. */
const REFILL_BELOW = 16;

export class Ps2Mouse {
  private queue: number[] = [];
  private reporting = false;
  private remote = false;
  private wrap = false;
  private scaling21 = false;
  private rate = 100;
  private resolution = 2;
  private id = 0;
  /** Last three sample rates set, oldest first, for the IntelliMouse knocks. */
  private rates = [0, 0, 0];
  private expect = 0;
  private lastSent = 0;
  private dx = 0;
  private dy = 0;
  private dz = 0;
  private buttons = 0;

  constructor(private readonly notify: () => void) {}

  get hasData(): boolean {
    return this.queue.length > 0;
  }

  get deviceId(): number {
    return this.id;
  }

  read(): number {
    const b = this.queue.shift() ?? 0;
    this.lastSent = b;
    if (this.queue.length < REFILL_BELOW && this.streaming && (this.dx || this.dy || this.dz)) this.sendPackets(false);
    return b;
  }

  private get streaming(): boolean {
    return this.reporting && !this.remote && !this.wrap;
  }

  /**
   * Host movement: dx right-positive, dy down-positive (screen convention; the mouse reports
   * up-positive), dz wheel steps down-positive, buttons bit 0 left, 1 right, 2 middle, 3 and 4 the
   * side buttons (reported only in Explorer mode).
   */
  input(dx: number, dy: number, buttons: number, dz = 0): void {
    this.dx += toInt(dx);
    this.dy -= toInt(dy);
    this.dz += toInt(dz);
    const changed = (buttons & 0x1f) !== this.buttons;
    this.buttons = buttons & 0x1f;
    // Keep accumulated motion bounded so a hostile or stuck host cannot grow it without limit.
    this.dx = clamp(this.dx, -65536, 65535);
    this.dy = clamp(this.dy, -65536, 65535);
    this.dz = clamp(this.dz, -1024, 1023);
    if (this.streaming) this.sendPackets(changed);
  }

  private sendPackets(force: boolean): void {
    const size = this.id === 0 ? 3 : 4;
    let sent = false;
    while (this.queue.length + size <= QUEUE_LIMIT && (force || this.dx || this.dy || this.dz)) {
      this.queue.push(...this.packet());
      force = false;
      sent = true;
    }
    if (sent) this.notify();
  }

  /** One packet, taking at most what its fields can carry out of the accumulated motion. */
  private packet(): number[] {
    const dx = clamp(this.dx, -256, 255);
    const dy = clamp(this.dy, -256, 255);
    this.dx -= dx;
    this.dy -= dy;
    const b0 = 0x08 | (this.buttons & 0x07) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0);
    const p = [b0, dx & 0xff, dy & 0xff];
    if (this.id === 3) {
      const dz = clamp(this.dz, -128, 127);
      this.dz -= dz;
      p.push(dz & 0xff);
    } else if (this.id === 4) {
      const dz = clamp(this.dz, -8, 7);
      this.dz -= dz;
      p.push((dz & 0x0f) | ((this.buttons & 0x18) << 1));
    } else this.dz = 0;
    return p;
  }

  private reply(...bytes: number[]): void {
    this.queue.push(...bytes);
    if (this.queue.length > QUEUE_LIMIT) this.queue.splice(0, this.queue.length - QUEUE_LIMIT);
    this.notify();
  }

  /** A byte the system sent to the mouse (controller command 0xD4). */
  write(b: number): void {
    b &= 0xff;
    if (this.expect) {
      const cmd = this.expect;
      this.expect = 0;
      if (cmd === 0xf3) {
        this.rate = b;
        this.rates = [this.rates[1]!, this.rates[2]!, b];
        const [a, c, d] = this.rates;
        if (a === 200 && c === 100 && d === 80) this.id = 3;
        else if (a === 200 && c === 200 && d === 80 && this.id === 3) this.id = 4;
      } else this.resolution = b & 3;
      this.reply(AUX_ACK);
      return;
    }
    if (this.wrap && b !== 0xec && b !== 0xff) {
      this.reply(b);
      return;
    }
    switch (b) {
      case 0xe6:
        this.scaling21 = false;
        break;
      case 0xe7:
        this.scaling21 = true;
        break;
      case 0xe8:
      case 0xf3:
        this.expect = b;
        break;
      case 0xe9: {
        const status =
          (this.remote ? 0x40 : 0) |
          (this.reporting ? 0x20 : 0) |
          (this.scaling21 ? 0x10 : 0) |
          (this.buttons & 0x01 ? 0x04 : 0) |
          (this.buttons & 0x04 ? 0x02 : 0) |
          (this.buttons & 0x02 ? 0x01 : 0);
        this.reply(AUX_ACK, status, this.resolution, this.rate);
        return;
      }
      case 0xea:
        this.remote = false;
        this.dx = this.dy = this.dz = 0;
        break;
      case 0xeb:
        this.reply(AUX_ACK, ...this.packet());
        return;
      case 0xec:
        this.wrap = false;
        break;
      case 0xee:
        this.wrap = true;
        this.dx = this.dy = this.dz = 0;
        break;
      case 0xf0:
        this.remote = true;
        this.dx = this.dy = this.dz = 0;
        break;
      case 0xf2:
        this.reply(AUX_ACK, this.id);
        return;
      case 0xf4:
        this.reporting = true;
        this.dx = this.dy = this.dz = 0;
        break;
      case 0xf5:
        this.reporting = false;
        break;
      case 0xf6:
        this.setDefaults();
        break;
      case 0xfe:
        this.reply(this.lastSent);
        return;
      case 0xff:
        this.setDefaults();
        this.id = 0;
        this.wrap = false;
        this.queue.length = 0;
        this.reply(AUX_ACK, AUX_BAT_OK, this.id);
        return;
      default:
        this.reply(AUX_RESEND);
        return;
    }
    this.reply(AUX_ACK);
  }

  private setDefaults(): void {
    this.reporting = false;
    this.remote = false;
    this.scaling21 = false;
    this.rate = 100;
    this.resolution = 2;
    this.dx = this.dy = this.dz = 0;
  }

  reset(): void {
    this.queue = [];
    this.setDefaults();
    this.wrap = false;
    this.id = 0;
    this.rates = [0, 0, 0];
    this.expect = 0;
    this.lastSent = 0;
    this.buttons = 0;
  }

  saveState(): StateRecord {
    return saveBySchema(MOUSE_STATE, this);
  }

  loadState(s: StateRecord, version = 1): void {
    loadBySchema(MOUSE_STATE, this, s, version);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function toInt(v: number): number {
  return Number.isFinite(v) ? Math.trunc(v) : 0;
}

const delta = (name: 'dx' | 'dy' | 'dz', lo: number, hi: number) =>
  ({ name, type: 'i32', since: 1, set: (m: Ps2Mouse, v: unknown) => (m[name] = clamp(toInt(v as number), lo, hi)) }) as const;

/** The mouse's saved state; out-of-range values load as the mouse's defaults or clamped, as before. */
export const MOUSE_STATE: StateSchema<Ps2Mouse> = defineState<Ps2Mouse>({
  id: 'ps2 mouse',
  version: 1,
  fields: [
    { name: 'queue', type: 'bytes', since: 1, maxLength: QUEUE_LIMIT, get: (m) => Uint8Array.from(m['queue']), set: (m, v) => (m['queue'] = Array.from(v as Uint8Array)) },
    { name: 'reporting', type: 'bool', since: 1 },
    { name: 'remote', type: 'bool', since: 1 },
    { name: 'wrap', type: 'bool', since: 1 },
    { name: 'scaling21', type: 'bool', since: 1 },
    { name: 'rate', type: 'u8', since: 1 },
    { name: 'resolution', type: 'u8', since: 1, mask: 3 },
    { name: 'id', type: 'u8', since: 1, set: (m, v) => (m['id'] = v === 3 || v === 4 ? v : 0) },
    { name: 'rates', type: 'bytes', since: 1, length: 3, get: (m) => Uint8Array.from(m['rates']), set: (m, v) => (m['rates'] = Array.from(v as Uint8Array)) },
    { name: 'expect', type: 'u8', since: 1, set: (m, v) => (m['expect'] = v === 0xe8 || v === 0xf3 ? v : 0) },
    { name: 'lastSent', type: 'u8', since: 1 },
    delta('dx', -65536, 65535),
    delta('dy', -65536, 65535),
    delta('dz', -1024, 1023),
    { name: 'buttons', type: 'u8', since: 1, mask: 0x1f },
  ],
});
