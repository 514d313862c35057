import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMonitor, type MonitorActions } from './monitor.ts';

const idle = (): never => {
  throw new Error('not in this test');
};

test('a client that sends commands and never reads the answers is not answered without bound', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostbox-monitor-'));
  let answered = 0;
  const actions: MonitorActions = {
    status: () => {
      answered++;
      return 'running';
    },
    suspend: idle,
    afterSuspend: idle,
    sync: idle,
    powerButton: idle,
    snapshot: idle,
    snapshots: idle,
    quit: idle,
  };
  const mon = await openMonitor(join(dir, 'm.sock'), actions);
  try {
    const count = 200_000;
    const sock = createConnection(join(dir, 'm.sock'));
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.pause();
    sock.write('{"cmd":"status"}\n'.repeat(count));
    // Let the monitor run until it stops making progress (or has answered everything).
    for (let last = -1, since = Date.now(); answered < count && Date.now() - since < 500; ) {
      await new Promise((r) => setTimeout(r, 25));
      if (answered !== last) [last, since] = [answered, Date.now()];
    }
    // The answers it holds for this client are what the socket buffers take, not one per command sent.
    assert.ok(answered < count / 4, `${answered} of ${count} commands answered while the client read nothing`);
    // Once the client reads, every command is answered, in order, none lost.
    let lines = 0;
    let buf = '';
    sock.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      sock.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          assert.equal(buf.slice(0, nl), '{"ok":true,"state":"running"}');
          buf = buf.slice(nl + 1);
          if (++lines === count) resolve();
        }
      });
      sock.on('error', reject);
      sock.resume();
    });
    assert.equal(answered, count);
    sock.destroy();
  } finally {
    await mon.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
