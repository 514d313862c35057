// The reference: v86 (npm package) booting the same kernel and initramfs with Debian's SeaBIOS.

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SerialLog, type GuestRunner } from './runner.ts';

export const SEABIOS = '/usr/share/seabios/bios.bin';
export const VGABIOS = '/usr/share/seabios/vgabios-stdvga.bin';

function arrayBuffer(path: string): ArrayBuffer {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}

export class V86Runner implements GuestRunner {
  readonly engine = 'v86';
  private emu: { serial0_send(s: string): void; add_listener(e: string, f: (b: number) => void): void; destroy?(): Promise<void>; stop?(): void; get_instruction_counter?(): number } | null = null;
  private readonly log = new SerialLog();

  constructor(
    private readonly guest: { kernel: string; initrd: string; cmdline: string; memoryMiB: number },
  ) {}

  static available(): string | null {
    if (!existsSync(SEABIOS) || !existsSync(VGABIOS)) return `Debian's seabios package is not installed (${SEABIOS})`;
    try {
      createRequire(import.meta.url).resolve('v86');
    } catch {
      return 'the v86 npm package is not installed';
    }
    return null;
  }

  async start(): Promise<void> {
    const req = createRequire(import.meta.url);
    const pkgDir = dirname(req.resolve('v86/package.json'));
    const { V86 } = (await import('v86')) as unknown as { V86: new (o: object) => NonNullable<V86Runner['emu']> };
    this.emu = new V86({
      wasm_path: join(pkgDir, 'build', 'v86.wasm'),
      memory_size: this.guest.memoryMiB * 1024 * 1024,
      bios: { buffer: arrayBuffer(SEABIOS) },
      vga_bios: { buffer: arrayBuffer(VGABIOS) },
      bzimage: { buffer: arrayBuffer(this.guest.kernel) },
      initrd: { buffer: arrayBuffer(this.guest.initrd) },
      cmdline: this.guest.cmdline,
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    });
    this.emu.add_listener('serial0-output-byte', (b: number) => this.log.append(String.fromCharCode(b)));
  }

  send(text: string): void {
    this.emu?.serial0_send(text);
  }

  waitFor(text: string, timeoutMs: number): Promise<number> {
    return this.log.waitFor(text, timeoutMs);
  }

  output(): string {
    return this.log.all();
  }

  instructions(): number | null {
    return this.emu?.get_instruction_counter?.() ?? null;
  }

  async stop(): Promise<void> {
    const e = this.emu;
    this.emu = null;
    if (!e) return;
    if (e.destroy) await e.destroy();
    else e.stop?.();
  }
}
