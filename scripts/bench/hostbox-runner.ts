// Hostbox under benchmark: the machine run in this process, its first serial port captured.

import { readFileSync } from 'node:fs';
import { createMachine } from '../../vmm/machine.ts';
import type { BlockReply, BlockRequest, DiskInfo, EngineKind, Machine } from '../../vmm/machine-api.ts';

/** A disk back end as the host serves it (main/backends: a raw image, a host-folder disk). */
export interface BenchDisk {
  readonly info: DiskInfo;
  handle(req: BlockRequest): BlockReply | Promise<BlockReply>;
}
import { SerialLog, type GuestRunner } from './runner.ts';

export class HostboxRunner implements GuestRunner {
  readonly engine: string;
  private machine: Machine | null = null;
  private readonly log = new SerialLog();
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly decoder = new TextDecoder('latin1');

  constructor(
    private readonly guest: { kernel: string; initrd: string; cmdline: string; memoryMiB: number },
    private readonly kind: EngineKind = 'interpreter',
    /** IDE disks by position, served in this process (the app serves them from its main process). */
    private readonly disks: Partial<Record<'hda' | 'hdb', BenchDisk>> = {},
  ) {
    this.engine = `hostbox-${kind}`;
  }

  async start(): Promise<void> {
    this.machine = createMachine(
      {
        memoryMiB: this.guest.memoryMiB,
        engine: this.kind,
        kernel: new Uint8Array(readFileSync(this.guest.kernel)),
        initrd: new Uint8Array(readFileSync(this.guest.initrd)),
        cmdline: this.guest.cmdline,
        hda: this.disks.hda?.info,
        hdb: this.disks.hdb?.info,
      },
      {
        serialOut: (port, bytes) => {
          if (port !== 0) return;
          const text = this.decoder.decode(bytes);
          if (process.env.HOSTBOX_BENCH_VERBOSE) process.stderr.write(text);
          this.log.append(text);
        },
        display: () => {},
        block: (req) => {
          const disk = this.disks[req.disk as 'hda' | 'hdb'];
          // Answered on a later turn of the event loop, as a reply from another process would be.
          void Promise.resolve(disk ? disk.handle(req) : { tag: req.tag, ok: false, error: `no disk ${req.disk}` }).then((reply) => {
            if (!this.machine) return;
            this.machine.blockReply(reply);
            this.wake();
          });
        },
        power: (ev) => {
          if (ev === 'poweroff') this.running = false;
        },
        log: () => {},
      },
      () => performance.now(),
      () => Date.now(),
    );
    this.running = true;
    this.loop();
  }

  private loop = (): void => {
    if (!this.running || !this.machine) return;
    const state = this.machine.runSlice(20);
    if (state === 'off') {
      this.running = false;
      return;
    }
    if (state === 'halted') {
      const idle = Math.min(this.machine.idleMs(), 50);
      this.timer = setTimeout(this.loop, Math.max(0, Math.floor(idle)));
    } else {
      setImmediate(this.loop);
    }
  };

  send(text: string): void {
    this.machine?.serialIn(0, new TextEncoder().encode(text));
    this.wake();
  }

  /** A halted guest has something to do now (input, a disk's reply): stop sleeping. */
  private wake(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      setImmediate(this.loop);
    }
  }

  waitFor(text: string, timeoutMs: number): Promise<number> {
    return this.log.waitFor(text, timeoutMs);
  }

  output(): string {
    return this.log.all();
  }

  instructions(): number | null {
    return this.machine?.stats().instructions ?? null;
  }

  overheadMiB(): number | null {
    // Live data only: collect garbage first when node runs with --expose-gc (scripts/bench.mjs does).
    // Twice: the buffers of the machines before (the fixed loops') are freed by the sweep after a
    // collection, and counted in `external` until then (a third changed nothing: 86 MiB against 85, 107 with one).
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const u = process.memoryUsage();
    // RSS counts only touched guest pages; heap + external (which includes every ArrayBuffer and the
    // guest's WebAssembly.Memory) counts all of it, so subtract guest RAM from that.
    return (u.heapUsed + u.external) / 1048576 - this.guest.memoryMiB;
  }

  btStats(): Record<string, number> | null {
    const bt = (this.machine as { bt?: { stats: object } | null } | null)?.bt;
    return bt ? { ...(bt.stats as Record<string, number>) } : null;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.machine = null;
  }
}
