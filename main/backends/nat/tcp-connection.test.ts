// One TCP connection of the NAT driven directly, its timers under node:test's mock clock so that
// minutes of retransmission timeouts pass at once. The host side is a real loopback socket pair.

import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { TCP_ACK, TCP_RST, TCP_SYN, type Tcp, type TcpOut } from './packets.ts';
import { TcpConnection } from './tcp-connection.ts';

type Out = Omit<TcpOut, 'srcPort' | 'dstPort'>;

/** A port forward's two host ends: `peer` is the host client, `accepted` what the NAT relays. */
async function socketPair(): Promise<{ peer: Socket; accepted: Socket; close: () => void }> {
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const peer = connect((server.address() as { port: number }).port, '127.0.0.1');
  peer.on('error', () => {});
  const a = await accepted;
  a.on('error', () => {});
  return { peer, accepted: a, close: () => (peer.destroy(), a.destroy(), server.close()) };
}

function segment(seq: number, ack: number, flags: number, window: number, extra: Partial<Tcp> = {}): Tcp {
  return { srcPort: 8080, dstPort: 49152, seq, ack, flags, window, mss: null, wscale: null, payload: new Uint8Array(0), ...extra };
}

test('a guest that answers zero-window probes is never given up on (RFC 1122 4.2.2.17); one that stops answering is', async (t) => {
  for (const answering of [true, false]) {
    const { peer, accepted, close } = await socketPair();
    t.mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const out: Out[] = [];
      let closed = false;
      const c = TcpConnection.connect(accepted, { emit: (s) => out.push(s), closed: () => (closed = true), idleMs: 24 * 3600_000 });
      const syn = out.shift()!;
      assert.equal(syn.flags, TCP_SYN);
      const una = (syn.seq + 1) >>> 0;
      // The guest accepts with a window of zero: its application is not reading.
      c.segment(segment(5000, una, TCP_SYN | TCP_ACK, 0, { mss: 1460 }));
      const arrived = new Promise((r) => accepted.once('data', r));
      peer.write('held back by the window');
      await arrived;
      await new Promise((r) => setImmediate(r));
      out.length = 0;
      // Ten minutes of the persist timer, the guest answering every probe with its closed window.
      for (let s = 0; s < 600 && !closed; s++) {
        t.mock.timers.tick(1000);
        for (const seg of out.splice(0)) {
          if (seg.flags & TCP_RST) assert.ok(!answering, `reset after ${s} s of probes`);
          else if (answering) c.segment(segment(5001, una, TCP_ACK, 0));
        }
      }
      if (answering) {
        assert.equal(closed, false, 'still connected');
        // The window opens: the data goes.
        c.segment(segment(5001, una, TCP_ACK, 65535));
        const data = out.find((s) => s.payload?.length);
        assert.equal(Buffer.from(data!.payload!).toString(), 'held back by the window');
        assert.equal(data!.seq, una);
      } else assert.equal(closed, true, 'a guest that never answers is reset in the end');
      c.abort();
    } finally {
      t.mock.timers.reset();
      close();
    }
  }
});

test('a host peer sending a byte at a time is paused after a bounded number of pieces, not a quarter MiB of them', async () => {
  // Each read is kept as one piece until the guest acknowledges it; a byte per piece cost an
  // object per byte (tens of MB per connection) and, once acknowledged, seconds of shifting them out.
  const { peer, accepted, close } = await socketPair();
  try {
    const out: Out[] = [];
    const c = TcpConnection.connect(accepted, { emit: (s) => out.push(s), closed: () => {}, idleMs: 3600_000 });
    const syn = out.shift()!;
    const una = (syn.seq + 1) >>> 0;
    // A closed window: nothing is sent, everything read waits.
    c.segment(segment(5000, una, TCP_SYN | TCP_ACK, 0, { mss: 1460 }));
    peer.setNoDelay(true);
    let written = 0;
    while (written < 20_000 && !accepted.isPaused()) {
      peer.write(Uint8Array.of(written++ & 0xff));
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(accepted.isPaused(), `still reading after ${written} one-byte pieces`);
    // The window opens: every byte arrives, in order, and reading goes on.
    const got: number[] = [];
    c.segment(segment(5001, una, TCP_ACK, 65535));
    for (let i = 0; i < 2000 && got.length < written; i++) {
      for (const s of out.splice(0)) {
        if (!s.payload?.length || s.seq !== ((una + got.length) >>> 0)) continue;
        got.push(...s.payload);
        c.segment(segment(5001, (s.seq + s.payload.length) >>> 0, TCP_ACK, 65535));
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(got.length, written);
    assert.ok(got.every((b, i) => b === (i & 0xff)));
    c.abort();
  } finally {
    close();
  }
});
