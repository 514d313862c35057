// A guest serial port on a host pseudo-terminal, as QEMU's -serial pty: the guest's output is
// written to the pty's master side and whatever a user types into the slave side (screen, minicom,
// picocom) goes to the guest. The pair comes from node-pty's openpty binding; no process is spawned.
//
// The slave is put in raw mode (no echo, no line editing, no CR/LF mapping), since the guest's own
// tty layer does all of that; Hostbox keeps the slave open itself so that reading the master does not
// fail with EIO while no user is attached.

import { createRequire } from 'node:module';
import { ReadStream } from 'node:tty';

interface PtyBinding {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

let binding: PtyBinding | null | undefined;
let bindingError = '';

function loadBinding(): PtyBinding | null {
  if (binding !== undefined) return binding;
  if (process.platform === 'win32') {
    bindingError = 'Serial ports on host pseudo-terminals need a Unix host.';
    return (binding = null);
  }
  try {
    const utils = createRequire(import.meta.url)('node-pty/lib/utils.js') as { loadNativeModule(name: string): { module: PtyBinding } };
    binding = utils.loadNativeModule('pty').module;
  } catch (e) {
    bindingError = `Serial ports on host pseudo-terminals need node-pty, which is not installed here (${(e as Error).message.split('\n')[0]}).`;
    binding = null;
  }
  return binding;
}

/** Why ptys cannot be offered on this host, or null when they can. */
export function ptyUnavailable(): string | null {
  return loadBinding() ? null : bindingError;
}

export class HostPty {
  private constructor(
    /** The slave device a user attaches to, e.g. /dev/pts/3. */
    readonly path: string,
    private readonly master: ReadStream,
    private readonly slave: ReadStream,
  ) {}

  static open(onInput: (bytes: Uint8Array) => void): HostPty {
    const b = loadBinding();
    if (!b) throw new Error(bindingError);
    const t = b.open(80, 24);
    // tty.ReadStream does not read until resumed, so the slave only holds the line open.
    const slave = new ReadStream(t.slave);
    slave.setRawMode(true);
    const master = new ReadStream(t.master);
    master.on('data', (d: Buffer) => onInput(new Uint8Array(d)));
    // EIO when the last user detaches on some systems; the pty stays usable for the next one.
    master.on('error', () => {});
    master.resume();
    return new HostPty(t.pty, master, slave);
  }

  /** Output nobody reads piles up in the pty and then here; past this, it is dropped (as QEMU drops it while no one is attached). */
  static readonly MAX_BACKLOG = 64 * 1024;

  write(bytes: Uint8Array): void {
    if (this.master.destroyed || this.master.writableLength > HostPty.MAX_BACKLOG) return;
    this.master.write(bytes);
  }

  close(): void {
    this.master.destroy();
    this.slave.destroy();
  }
}
