// A guest under benchmark: something that boots the test guest, takes serial input and reports
// serial output with timestamps. Implemented by Hostbox's machine and by v86 as the reference.

export interface GuestRunner {
  readonly engine: string;
  /** Boots; resolves when the process is running (not when the guest is ready). */
  start(): Promise<void>;
  send(text: string): void;
  /** Resolves with the host time (ms) at which `text` first appeared in serial output after `fromIndex`. */
  waitFor(text: string, timeoutMs: number): Promise<number>;
  /** Serial output so far. */
  output(): string;
  /** Guest instructions executed so far, if the engine can tell. */
  instructions(): number | null;
  /** Host memory the VM costs beyond its guest RAM (MiB), if it runs in this process. */
  overheadMiB?(): number | null;
  /** The binary translator's counters, when the runner has one. */
  btStats?(): Record<string, number> | null;
  stop(): Promise<void>;
}

/** Shared serial-buffer logic: accumulate text and wake waiters when their string shows up. */
export class SerialLog {
  private text = '';
  private searchFrom = 0;
  private waiters: { text: string; resolve: (t: number) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  append(s: string): void {
    this.text += s;
    const now = performance.now();
    for (const w of [...this.waiters]) {
      const at = this.text.indexOf(w.text, this.searchFrom);
      if (at >= 0) {
        this.searchFrom = at + w.text.length;
        clearTimeout(w.timer);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(now);
      }
    }
  }

  all(): string {
    return this.text;
  }

  waitFor(text: string, timeoutMs: number): Promise<number> {
    const at = this.text.indexOf(text, this.searchFrom);
    if (at >= 0) {
      this.searchFrom = at + text.length;
      return Promise.resolve(performance.now());
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for "${text}"; last output: ${JSON.stringify(this.text.slice(-300))}`));
      }, timeoutMs);
      this.waiters.push({ text, resolve, reject, timer });
    });
  }
}
