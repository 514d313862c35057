// Smoke test of the benchmark harness (not the benchmark): a fake guest that answers the harness's
// command lines the way the busybox shell does, so marker handling, timing and medians are checked
// in milliseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idleCpuPercent, measurePass, median } from './measure.ts';
import { SerialLog, type GuestRunner } from './runner.ts';
import { WORKLOADS, commandLine, markers } from './workloads.ts';

class FakeShell implements GuestRunner {
  readonly engine = 'fake';
  private readonly log = new SerialLog();
  stopped = false;
  async start(): Promise<void> {
    setTimeout(() => this.log.append('booting...\r\nHOSTBOX-GUEST-READY 6.1\r\n/ # '), 5);
  }
  send(text: string): void {
    // Echo the line as a terminal would, then "run" it: expand $B and the markers, wait a little.
    this.log.append(text.replace('\n', '\r\n'));
    const m = /echo \$B-START-(\S+); .*; echo \$B-END-(\S+)\n$/.exec(text);
    assert.ok(m, `the harness sent a well-formed command line: ${text}`);
    this.log.append(`BENCH-START-${m[1]}\r\n`);
    setTimeout(() => this.log.append(`BENCH-END-${m[2]}\r\n/ # `), 20);
  }
  waitFor(text: string, ms: number): Promise<number> {
    return this.log.waitFor(text, ms);
  }
  output(): string {
    return this.log.all();
  }
  instructions(): number | null {
    return null;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** A guest whose idle prompt keeps the host busy: it spins 8 ms of every 10, and counts instructions. */
class BusyIdleShell extends FakeShell {
  private spins = 0;
  private timer: NodeJS.Timeout | null = null;
  override async start(): Promise<void> {
    await super.start();
    this.timer = setInterval(() => {
      const end = performance.now() + 8;
      while (performance.now() < end) this.spins++;
    }, 10);
  }
  override instructions(): number | null {
    return this.spins;
  }
  override async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await super.stop();
  }
}

test('a pass boots, runs every workload between its markers and stops the guest', async () => {
  const shell = new FakeShell();
  const r = await measurePass(shell, 1, WORKLOADS, { readyMarker: 'HOSTBOX-GUEST-READY', prompt: '/ # ' }, 5000, null);
  assert.equal(shell.stopped, true);
  assert.equal(r.idle, null);
  assert.deepEqual(Object.keys(r.workloads), WORKLOADS.map((w) => w.name));
  for (const w of WORKLOADS) assert.ok(r.workloads[w.name]!.ms >= 15, `${w.name} timed ${r.workloads[w.name]!.ms} ms`);
  assert.ok(r.bootMs >= 4);
});

test("a pass measures the host's CPU time while the guest idles at its prompt after the workloads", async () => {
  const guest = { readyMarker: 'HOSTBOX-GUEST-READY', prompt: '/ # ' };
  const window = { ms: 600, stepMs: 100 };
  const quiet = await measurePass(new FakeShell(), 1, WORKLOADS.slice(0, 1), guest, 5000, window);
  const busy = await measurePass(new BusyIdleShell(), 1, WORKLOADS.slice(0, 1), guest, 5000, window);
  for (const r of [quiet, busy]) {
    assert.equal(r.idle?.length, 6, 'one sample a step');
    for (const s of r.idle!) assert.ok(s.ms >= 95, `a step of ${s.ms} ms`);
  }
  assert.ok(quiet.idle!.every((s) => s.instructions === null));
  assert.ok(busy.idle!.every((s) => s.instructions! > 0), 'instructions counted in every step');
  // The busy guest burns up to 80% of a core (less when the host is loaded and the spin is
  // preempted); the quiet one only the test runner's own noise.
  const b = idleCpuPercent(busy.idle!);
  const q = idleCpuPercent(quiet.idle!);
  assert.ok(b > 10 && b > 4 * q, `busy idle at ${b.toFixed(1)}% of a core, quiet idle at ${q.toFixed(1)}%`);
});

test('the echo of a typed command line never matches its own markers', () => {
  for (const w of WORKLOADS) {
    const line = commandLine(w, 2);
    const m = markers(w.name, 2);
    assert.ok(!line.includes(m.start) && !line.includes(m.end), line);
  }
});

test('medians and timeouts', async () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const log = new SerialLog();
  await assert.rejects(log.waitFor('never', 10), /timed out after 10 ms waiting for "never"/);
});
