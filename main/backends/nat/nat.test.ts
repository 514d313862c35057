// The NAT driven by a small guest-side TCP/IP written here: frames are crafted and parsed by the
// test, and the far ends are servers this test starts on the host's loopback. Nothing leaves
// 127.0.0.1 / ::1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Xorshift32 } from '../../../vmm/cpu/xorshift.ts';
import { IpReassembly, fragmentIpv4 } from './ip-fragments.ts';
import { Nat, GATEWAY_MAC, NAT_DNS, NAT_GATEWAY, NAT_GUEST, type NatOptions } from './nat.ts';
import {
  BROADCAST_MAC,
  ETH_ARP,
  ETH_IPV4,
  IP_TCP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  buildArp,
  buildEthernet,
  buildIcmp,
  buildIpv4,
  buildTcp,
  buildUdp,
  checksum,
  ipFromString,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
  type Tcp,
} from './packets.ts';

const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

/** The guest's side: every frame the NAT sends lands here; tests wait for the ones they expect. */
class Guest {
  readonly frames: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  readonly nat: Nat;
  constructor(opts: Partial<NatOptions> = {}) {
    this.nat = new Nat({
      guestMac: GUEST_MAC,
      hostAccess: true,
      toGuest: (f) => {
        this.frames.push(f);
        for (const w of this.waiters.splice(0)) w();
      },
      ...opts,
    });
  }
  send(frame: Uint8Array): void {
    this.nat.fromGuest(frame);
  }
  ip(packet: Uint8Array, dstMac: Uint8Array = GATEWAY_MAC): void {
    this.send(buildEthernet(dstMac, GUEST_MAC, ETH_IPV4, packet));
  }
  /** Takes the first frame matching `pick` (waiting for it up to `ms`). */
  async take<T>(pick: (f: Uint8Array) => T | null, ms = 3000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (let i = 0; i < this.frames.length; i++) {
        const v = pick(this.frames[i]!);
        if (v !== null) {
          this.frames.splice(i, 1);
          return v;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame from the NAT');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

function tcpOf(f: Uint8Array, port?: number): (Tcp & { src: number; dst: number }) | null {
  const e = parseEthernet(f);
  if (!e || e.type !== ETH_IPV4) return null;
  const ip = parseIpv4(e.payload);
  if (!ip || ip.proto !== IP_TCP) return null;
  const t = parseTcp(ip);
  if (!t || (port !== undefined && t.dstPort !== port)) return null;
  return { ...t, src: ip.src, dst: ip.dst };
}

/** A guest TCP endpoint, as small as the tests need: in-order receive, immediate ACKs. */
class GuestTcp {
  sndNxt = 1000;
  rcvNxt = 0;
  window = 65535;
  readonly received: Uint8Array[] = [];
  receivedBytes = 0;
  finReceived = false;
  reset = false;
  /** Segments to ignore on purpose (loss on the link): return true to drop. */
  drop: (t: Tcp) => boolean = () => false;
  constructor(
    readonly g: Guest,
    readonly port: number,
    readonly peer: number,
    readonly peerPort: number,
  ) {}
  seg(flags: number, payload: Uint8Array = new Uint8Array(0), seq = this.sndNxt): void {
    this.g.ip(buildTcp(NAT_GUEST, this.peer, { srcPort: this.port, dstPort: this.peerPort, seq, ack: this.rcvNxt, flags, window: this.window, payload }));
  }
  next(ms?: number): Promise<Tcp> {
    return this.g.take((f) => {
      const t = tcpOf(f, this.port);
      return t && t.srcPort === this.peerPort ? t : null;
    }, ms);
  }
  async connect(): Promise<Tcp> {
    this.g.ip(buildTcp(NAT_GUEST, this.peer, { srcPort: this.port, dstPort: this.peerPort, seq: this.sndNxt, ack: 0, flags: TCP_SYN, window: this.window, mss: 1460 }));
    const t = await this.next();
    if (t.flags & TCP_RST) return t;
    assert.equal(t.flags, TCP_SYN | TCP_ACK);
    assert.equal(t.ack, this.sndNxt + 1);
    this.sndNxt++;
    this.rcvNxt = (t.seq + 1) >>> 0;
    this.seg(TCP_ACK);
    return t;
  }
  write(data: Uint8Array): void {
    for (let at = 0; at < data.length; at += 1400) {
      const part = data.subarray(at, at + 1400);
      this.seg(TCP_ACK | TCP_PSH, part);
      this.sndNxt = (this.sndNxt + part.length) >>> 0;
    }
  }
  fin(): void {
    this.seg(TCP_ACK | TCP_FIN);
    this.sndNxt = (this.sndNxt + 1) >>> 0;
  }
  /** Receives until `until` says stop, acking in order; out-of-order or dropped data is re-acked. */
  async receive(until: () => boolean, ms = 10000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!until()) {
      const t = await this.next(deadline - Date.now());
      if (t.flags & TCP_RST) {
        this.reset = true;
        return;
      }
      if (this.drop(t)) continue;
      if (t.seq === this.rcvNxt && (t.payload.length || t.flags & TCP_FIN)) {
        const room = this.window;
        const take = t.payload.subarray(0, room);
        if (take.length) {
          this.received.push(Uint8Array.from(take));
          this.receivedBytes += take.length;
          this.rcvNxt = (this.rcvNxt + take.length) >>> 0;
        }
        if (t.flags & TCP_FIN && take.length === t.payload.length) {
          this.rcvNxt = (this.rcvNxt + 1) >>> 0;
          this.finReceived = true;
        }
      }
      if (t.payload.length || t.flags & TCP_FIN) setImmediate(() => this.seg(TCP_ACK));
    }
  }
  data(): Buffer {
    return Buffer.concat(this.received);
  }
}

/**
 * The segments the NAT sends to guest port `port` until it stops: waits for at least `atLeast`
 * (a loaded host may be slow to hand the NAT its data), then for a quiet 100 ms.
 */
async function flight(g: Guest, port: number, atLeast: number): Promise<Tcp[]> {
  const out: Tcp[] = [];
  const takeAll = (): void => {
    for (let i = 0; i < g.frames.length; ) {
      const t = tcpOf(g.frames[i]!, port);
      if (t) out.push((g.frames.splice(i, 1), t));
      else i++;
    }
  };
  const deadline = Date.now() + 5000;
  while (out.length < atLeast && Date.now() < deadline) {
    takeAll();
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let n = -1; n !== out.length; ) {
    n = out.length;
    await new Promise((r) => setTimeout(r, 100));
    takeAll();
  }
  return out;
}

async function listen(onConn: (s: Socket) => void, host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  // Host peers see resets when the NAT closes (as from a machine switched off): expected here.
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as { port: number }).port };
}

test('ARP and ping for the gateway; malformed frames and a malformed fragment are dropped and counted', async () => {
  const g = new Guest();
  g.send(buildEthernet(BROADCAST_MAC, GUEST_MAC, ETH_ARP, buildArp({ op: 1, senderMac: GUEST_MAC, senderIp: NAT_GUEST, targetMac: new Uint8Array(6), targetIp: NAT_GATEWAY })));
  const arp = await g.take((f) => (parseEthernet(f)?.type === ETH_ARP ? parseArp(parseEthernet(f)!.payload) : null));
  assert.equal(arp.op, 2);
  assert.deepEqual([...arp.senderMac], [...GATEWAY_MAC]);
  assert.deepEqual([...arp.targetMac], [...GUEST_MAC]);
  assert.equal(arp.senderIp, NAT_GATEWAY);
  g.ip(buildIcmp(NAT_GUEST, NAT_GATEWAY, 8, 0, new Uint8Array([0, 7, 0, 1, 0xde, 0xad])));
  const echo = await g.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    return ip && ip.proto === 1 ? { ip, m: parseIcmp(ip)! } : null;
  });
  assert.equal(echo.m.type, 0);
  assert.equal(echo.ip.src, NAT_GATEWAY);
  assert.deepEqual([...echo.m.rest], [0, 7, 0, 1, 0xde, 0xad]);

  const good = buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_SYN, window: 0 });
  const badIp = good.slice();
  badIp[8]! ^= 1; // TTL changed, header checksum not
  g.ip(badIp);
  const badTcp = good.slice();
  badTcp[30]! ^= 0xff;
  g.ip(badTcp);
  g.send(new Uint8Array(10));
  const truncated = good.slice(0, 30);
  g.ip(truncated);
  const frag = good.slice();
  frag[6] = 0x20; // MF
  frag[10] = frag[11] = 0;
  const c = checksum(frag, 0, 20);
  frag[10] = c >> 8;
  frag[11] = c & 0xff;
  g.ip(frag);
  assert.equal(g.nat.counters.malformed, 4);
  assert.equal(g.nat.counters.fragments, 1);
  assert.equal(g.frames.length, 0, 'no answer to any of them');
  g.nat.close();
});

test('DHCP offers and acknowledges 10.0.2.15 with the gateway and DNS; another address gets a NAK', async () => {
  const g = new Guest();
  const dhcp = (type: number, requested?: number): void => {
    const b = new Uint8Array(300);
    const dv = new DataView(b.buffer);
    b[0] = 1;
    b[1] = 1;
    b[2] = 6;
    dv.setUint32(4, 0x1234abcd);
    b.set(GUEST_MAC, 28);
    dv.setUint32(236, 0x63825363);
    let i = 240;
    b.set([53, 1, type], i);
    i += 3;
    if (requested !== undefined) {
      b.set([50, 4], i);
      dv.setUint32(i + 2, requested);
      i += 6;
    }
    b[i] = 255;
    g.ip(buildUdp(0, 0xffffffff, 68, 67, b), BROADCAST_MAC);
  };
  const reply = () =>
    g.take((f) => {
      const e = parseEthernet(f)!;
      const ip = parseIpv4(e.payload);
      const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
      if (!u || u.dstPort !== 68) return null;
      const opts = new Map<number, number[]>();
      for (let i = 240; u.payload[i] !== 255; i += 2 + u.payload[i + 1]!) opts.set(u.payload[i]!, [...u.payload.subarray(i + 2, i + 2 + u.payload[i + 1]!)]);
      return { dstMac: [...e.dst], yiaddr: new DataView(u.payload.buffer, u.payload.byteOffset).getUint32(16), opts };
    });
  dhcp(1);
  const offer = await reply();
  assert.equal(offer.opts.get(53)![0], 2);
  assert.equal(offer.yiaddr, NAT_GUEST);
  assert.deepEqual(offer.opts.get(3), [10, 0, 2, 2]);
  assert.deepEqual(offer.opts.get(6), [10, 0, 2, 3]);
  assert.deepEqual(offer.opts.get(1), [255, 255, 255, 0]);
  assert.deepEqual(offer.dstMac, [...BROADCAST_MAC]);
  dhcp(3, NAT_GUEST);
  assert.equal((await reply()).opts.get(53)![0], 5);
  dhcp(3, 0x0a000263);
  assert.equal((await reply()).opts.get(53)![0], 6);
  g.nat.close();
});

test('DNS at 10.0.2.3 answers through the host resolver: A, NXDOMAIN, NOTIMP', async () => {
  const asked: string[] = [];
  const resolve = (async (name: string) => {
    asked.push(name);
    if (name === 'files.example.test') return [{ address: '192.0.2.7', family: 4 }];
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  }) as unknown as NatOptions['resolve'];
  const g = new Guest({ resolve });
  const query = (id: number, name: string, type: number): void => {
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
    const q = new Uint8Array([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]);
    g.ip(buildUdp(NAT_GUEST, NAT_DNS, 5353, 53, q));
  };
  const answer = (id: number) =>
    g.take((f) => {
      const ip = parseIpv4(parseEthernet(f)!.payload);
      const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
      return u && u.srcPort === 53 && ((u.payload[0]! << 8) | u.payload[1]!) === id ? { src: ip!.src, p: u.payload } : null;
    });
  query(1, 'files.example.test', 1);
  const a = await answer(1);
  assert.equal(a.src, NAT_DNS);
  assert.equal(a.p[3]! & 0xf, 0, 'NOERROR');
  assert.equal((a.p[6]! << 8) | a.p[7]!, 1, 'one answer');
  assert.deepEqual([...a.p.subarray(a.p.length - 4)], [192, 0, 2, 7]);
  query(2, 'nowhere.example.test', 1);
  assert.equal((await answer(2)).p[3]! & 0xf, 3, 'NXDOMAIN');
  query(3, 'files.example.test', 15);
  assert.equal((await answer(3)).p[3]! & 0xf, 4, 'MX: NOTIMP');
  assert.deepEqual(asked, ['files.example.test', 'nowhere.example.test']);
  g.nat.close();
});

test('TCP to 10.0.2.2 reaches host loopback only with host access on; otherwise it is refused', async () => {
  const { server, port } = await listen((s) => s.end('hello from the host\n'));
  const off = new Guest({ hostAccess: false });
  const refused = await new GuestTcp(off, 40000, NAT_GATEWAY, port).connect();
  assert.ok(refused.flags & TCP_RST, 'RST with host access off');
  assert.equal(off.nat.counters.refused, 1);
  // Loopback addresses named directly are never reached either, nor the host's other addresses.
  const direct = await new GuestTcp(off, 40001, 0x7f000001, port).connect();
  assert.ok(direct.flags & TCP_RST);
  const own = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (own) {
    const viaLan = await new GuestTcp(off, 40003, ipFromString(own.address)!, port).connect();
    assert.ok(viaLan.flags & TCP_RST, `the host's own address ${own.address} is refused too`);
  }
  off.nat.close();

  const on = new Guest({ hostAccess: true });
  const c = new GuestTcp(on, 40002, NAT_GATEWAY, port);
  await c.connect();
  await c.receive(() => c.finReceived);
  assert.equal(c.data().toString(), 'hello from the host\n');
  c.fin();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(on.nat.connections, 0, 'both FINs acknowledged: the connection is gone');
  on.nat.close();
  server.close();
});

test('TCP both ways with half-close: the guest FINs first, the host still answers, then FINs', async () => {
  const serverSaw: Buffer[] = [];
  const { server, port } = await listen((s) => {
    s.on('data', (d: Buffer) => serverSaw.push(d));
    s.on('end', () => {
      // The guest closed its half; this side still sends, then closes.
      s.write(createHash('sha256').update(Buffer.concat(serverSaw)).digest('hex'));
      s.end();
    });
  });
  const g = new Guest();
  const c = new GuestTcp(g, 40100, NAT_GATEWAY, port);
  await c.connect();
  const payload = Buffer.alloc(100_000, 'x');
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  // Write within the NAT's window and wait for its ACKs (the host side drains quickly).
  for (let at = 0; at < payload.length; at += 14000) {
    c.write(payload.subarray(at, at + 14000));
    await c.g.take((f) => {
      const t = tcpOf(f, 40100);
      return t && t.ack === c.sndNxt ? t : null;
    });
  }
  c.fin();
  await c.receive(() => c.finReceived);
  assert.equal(Buffer.concat(serverSaw).length, payload.length);
  assert.equal(c.data().toString(), createHash('sha256').update(payload).digest('hex'));
  g.nat.close();
  server.close();
});

test('host to guest bulk transfer survives lost segments (retransmission) and a zero window (probes)', async () => {
  const data = Buffer.alloc(600_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
  const { server, port } = await listen((s) => s.end(data));
  const g = new Guest();
  const c = new GuestTcp(g, 40200, NAT_GATEWAY, port);
  await c.connect();
  let n = 0;
  c.drop = (t) => t.payload.length > 0 && ++n % 17 === 0;
  await c.receive(() => c.receivedBytes >= 200_000);
  // Close the window: the NAT must stop and probe, not give up.
  c.window = 0;
  c.seg(TCP_ACK);
  const before = c.receivedBytes;
  await new Promise((r) => setTimeout(r, 1200));
  await c.receive(() => g.frames.length === 0, 500).catch(() => {});
  assert.equal(c.receivedBytes, before, 'nothing accepted with a zero window');
  assert.equal(g.nat.connections, 1, 'still connected');
  c.window = 65535;
  c.seg(TCP_ACK);
  await c.receive(() => c.finReceived, 20000);
  assert.equal(createHash('sha256').update(c.data()).digest('hex'), createHash('sha256').update(data).digest('hex'));
  g.nat.close();
  server.close();
});

test('a lost segment: three duplicate ACKs resend that one segment, not the window; window scaling is honoured', async () => {
  const data = Buffer.alloc(200_000, 0x61);
  const { server, port } = await listen((s) => s.end(data));
  const g = new Guest();
  const c = new GuestTcp(g, 40210, NAT_GATEWAY, port);
  // The guest offers a shift of 2 and a window field of 16,000: 64,000 bytes.
  g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 40210, dstPort: port, seq: c.sndNxt, ack: 0, flags: TCP_SYN, window: 16000, mss: 1460, wscale: 2 }));
  const synAck = await c.next();
  assert.equal(synAck.wscale, 3, 'the NAT answers the offer with its own shift');
  c.sndNxt++;
  c.rcvNxt = (synAck.seq + 1) >>> 0;
  c.window = 16000;
  c.seg(TCP_ACK);
  // Once slow start has grown past it, the flight fills the scaled window (64,000 bytes, not 16,000)
  // and stops at its edge.
  await c.receive(() => c.receivedBytes >= 100_000);
  const sent = await flight(g, 40210, 43);
  assert.ok(sent.every((t) => t.payload.length === 1460));
  const last = sent[sent.length - 1]!;
  const outstanding = (last.seq + last.payload.length - c.rcvNxt) >>> 0;
  assert.ok(outstanding > 64_000 - 1460 && outstanding <= 64_000, `${outstanding} bytes in flight against a 64,000-byte window`);
  // The flight's first segment was lost: the guest acks what it has three times.
  for (let i = 0; i < 3; i++) c.seg(TCP_ACK);
  const resent = await c.next();
  assert.equal(resent.seq, sent[0]!.seq);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(g.frames.length, 0, 'one segment resent, not the window');
  g.nat.close();
  server.close();
});

test('slow start: the first flight is ten segments (RFC 6928) however large the window, and grows as ACKs come', async () => {
  // A guest whose buffers have autotuned offers megabytes; its NIC's ring holds about a hundred
  // frames, so a first flight of the whole window would be dropped on the floor.
  const data = Buffer.alloc(300_000, 0x62);
  const { server, port } = await listen((s) => s.end(data));
  const g = new Guest();
  const c = new GuestTcp(g, 40220, NAT_GATEWAY, port);
  g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 40220, dstPort: port, seq: c.sndNxt, ack: 0, flags: TCP_SYN, window: 65535, mss: 1460, wscale: 7 }));
  const synAck = await c.next();
  c.sndNxt++;
  c.rcvNxt = (synAck.seq + 1) >>> 0;
  c.seg(TCP_ACK);
  const first = await flight(g, 40220, 10);
  assert.deepEqual(
    first.map((t) => t.payload.length),
    Array(10).fill(1460),
    'ten full segments, then the NAT waits for an ACK',
  );
  // One ACK for all ten (a stretch ACK): slow start grows the window by at most two segments (RFC 3465).
  c.rcvNxt = (first[9]!.seq + 1460) >>> 0;
  c.seg(TCP_ACK);
  const second = await flight(g, 40220, 12);
  assert.deepEqual(
    second.map((t) => t.payload.length),
    Array(12).fill(1460),
  );
  g.nat.close();
  server.close();
});

test('no silly segments: a window edge inside a segment waits for the next ACK instead of sending a sliver', async () => {
  const data = Buffer.alloc(300_000, 0x63);
  const { server, port } = await listen((s) => s.end(data));
  const g = new Guest();
  const c = new GuestTcp(g, 40230, NAT_GATEWAY, port);
  await c.connect();
  const first = await flight(g, 40230, 10);
  assert.equal(first.length, 10);
  // The guest takes the first segment and offers a window ending 700 bytes into a segment: the
  // congestion window allows more, the guest's window allows 9 segments and 700 bytes.
  c.rcvNxt = (first[0]!.seq + 1460) >>> 0;
  c.window = 10 * 1460 + 700;
  c.seg(TCP_ACK);
  const more = await flight(g, 40230, 1);
  assert.deepEqual(
    more.map((t) => t.payload.length),
    [1460],
    'one more full segment fills 10 of the window; the 700 left are not sent as a segment of their own',
  );
  // Everything acknowledged and the window open again: full segments go on.
  c.rcvNxt = (more[0]!.seq + 1460) >>> 0;
  c.window = 65535;
  c.seg(TCP_ACK);
  const after = await flight(g, 40230, 1);
  assert.ok(after.length > 0 && after.every((t) => t.payload.length === 1460), `${after.map((t) => t.payload.length)}`);
  g.nat.close();
  server.close();
});

test('RST from the guest mid transfer closes the host socket; a host reset reaches the guest as RST', async () => {
  let closed: () => void = () => {};
  const hostClosed = new Promise<void>((r) => (closed = r));
  const { server, port } = await listen((s) => {
    s.on('error', () => {});
    s.on('close', () => closed());
    s.write(Buffer.alloc(50_000, 1));
  });
  const g = new Guest();
  const c = new GuestTcp(g, 40300, NAT_GATEWAY, port);
  await c.connect();
  await c.receive(() => c.receivedBytes > 10_000);
  c.seg(TCP_RST | TCP_ACK);
  await hostClosed;
  assert.equal(g.nat.connections, 0);

  const { server: s2, port: p2 } = await listen((s) => setTimeout(() => s.resetAndDestroy(), 50));
  const d = new GuestTcp(g, 40301, NAT_GATEWAY, p2);
  await d.connect();
  await d.receive(() => d.reset);
  assert.ok(d.reset, 'the guest saw RST');
  g.nat.close();
  server.close();
  s2.close();
});

test('a SYN flood past the connection cap is reset, counted, and costs no host sockets beyond the cap', async () => {
  let accepted = 0;
  const { server, port } = await listen(() => accepted++);
  const g = new Guest({ maxConnections: 8 });
  for (let i = 0; i < 40; i++) g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 41000 + i, dstPort: port, seq: i, ack: 0, flags: TCP_SYN, window: 1000 }));
  assert.equal(g.nat.connections, 8);
  assert.equal(g.nat.counters.refused, 32);
  let rsts = 0;
  let synAcks = 0;
  const deadline = Date.now() + 3000;
  while ((rsts < 32 || synAcks < 8) && Date.now() < deadline) {
    const t = await g.take((f) => tcpOf(f)).catch(() => null);
    if (!t) break;
    if (t.flags & TCP_RST) rsts++;
    else if (t.flags === (TCP_SYN | TCP_ACK)) synAcks++;
  }
  assert.equal(rsts, 32);
  assert.equal(synAcks, 8);
  for (let i = 0; i < 100 && accepted < 8; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(accepted, 8, 'exactly the capped number of host connections');
  g.nat.close();
  server.close();
});

test('UDP to the host through 10.0.2.2 with host access, ICMP port unreachable without', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  const port = echo.address().port;
  const g = new Guest();
  g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 5555, port, Buffer.from('ping')));
  const back = await g.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
    return u && u.dstPort === 5555 ? { src: ip!.src, u } : null;
  });
  assert.equal(back.src, NAT_GATEWAY);
  assert.equal(back.u.srcPort, port);
  assert.equal(Buffer.from(back.u.payload).toString(), 'echo:ping');
  g.nat.close();
  const off = new Guest({ hostAccess: false });
  off.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 5556, port, Buffer.from('ping')));
  const icmp = await off.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    return ip && ip.proto === 1 ? parseIcmp(ip) : null;
  });
  assert.deepEqual([icmp.type, icmp.code], [3, 3]);
  off.nat.close();
  echo.close();
});

async function freePort(host: string): Promise<number> {
  const { server, port } = await listen(() => {}, host);
  await new Promise((r) => server.close(r));
  return port;
}

for (const host of ['127.0.0.1', '::1']) {
  test(`port forward tcp ${host} -> guest port 8080: the NAT opens the connection to the guest; data both ways`, async () => {
    const hostPort = await freePort(host);
    const g = new Guest({ forwards: [{ proto: 'tcp', hostAddress: host, hostPort, guestPort: 8080 }] });
    assert.deepEqual(await g.nat.start(), []);
    const client = connect({ host, port: hostPort, allowHalfOpen: true });
    let got = '';
    client.on('data', (d) => (got += d));
    const ended = new Promise<void>((r) => client.on('end', r));
    const syn = await g.take((f) => {
      const t = tcpOf(f, 8080);
      return t && t.flags === TCP_SYN ? t : null;
    });
    assert.equal(syn.src, NAT_GATEWAY);
    assert.equal(syn.dst, NAT_GUEST);
    const c = new GuestTcp(g, 8080, NAT_GATEWAY, syn.srcPort);
    c.rcvNxt = (syn.seq + 1) >>> 0;
    c.seg(TCP_SYN | TCP_ACK);
    c.sndNxt++;
    client.write('GET / HTTP/1.0\r\n\r\n');
    client.end();
    await c.receive(() => c.finReceived);
    assert.equal(c.data().toString(), 'GET / HTTP/1.0\r\n\r\n');
    c.write(Buffer.from('HTTP/1.0 200 OK\r\n\r\nhi'));
    c.fin();
    await ended;
    assert.equal(got, 'HTTP/1.0 200 OK\r\n\r\nhi');
    client.destroy();
    g.nat.close();
  });
}

test('a UDP datagram the guest sent in fragments reaches the host whole; the 4 KB answer comes back fragmented', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  const port = echo.address().port;
  const g = new Guest();
  const body = Buffer.alloc(4000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const frags = fragmentIpv4(buildUdp(NAT_GUEST, NAT_GATEWAY, 5556, port, body), 1500);
  assert.equal(frags.length, 3);
  for (const f of frags.reverse()) g.ip(f);
  // The answer: IP fragments of at most the MTU, which put together are the echo.
  const r = new IpReassembly(() => 0);
  const whole = await g.take((f) => {
    const e = parseEthernet(f)!;
    assert.ok(e.payload.length <= 1500, 'no frame past the guest MTU');
    const ip = parseIpv4(e.payload);
    return ip?.fragment ? r.add(ip.raw) : null;
  });
  const u = parseUdp(parseIpv4(whole)!)!;
  assert.equal(u.dstPort, 5556);
  assert.deepEqual(Buffer.from(u.payload), body);
  assert.equal(g.nat.counters.fragments, 0);
  g.nat.close();
  echo.close();
});

test('port forward udp and a port already in use: a clear problem naming the port, the rest still works', async () => {
  const { server: busy, port: busyPort } = await listen(() => {});
  const udpPort = await freePort('127.0.0.1');
  const g = new Guest({
    forwards: [
      { proto: 'tcp', hostAddress: '127.0.0.1', hostPort: busyPort, guestPort: 80 },
      { proto: 'udp', hostAddress: '127.0.0.1', hostPort: udpPort, guestPort: 7 },
    ],
  });
  const problems = await g.nat.start();
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, new RegExp(`host port ${busyPort} is already in use`));
  const peer = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  const reply = new Promise<string>((r) => peer.once('message', (m) => r(m.toString())));
  peer.send('hello guest', udpPort, '127.0.0.1');
  const inbound = await g.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
    return u && u.dstPort === 7 ? { ip: ip!, u } : null;
  });
  assert.equal(inbound.ip.src, NAT_GATEWAY);
  assert.equal(Buffer.from(inbound.u.payload).toString(), 'hello guest');
  g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 7, inbound.u.srcPort, Buffer.from('hello host')));
  assert.equal(await reply, 'hello host');
  peer.close();
  busy.close();
  g.nat.close();
});

test('frames for other stations and non-IPv4 types are ignored quietly', () => {
  const g = new Guest();
  g.send(buildEthernet(new Uint8Array([2, 0, 0, 0, 0, 1]), GUEST_MAC, ETH_IPV4, buildIpv4(NAT_GUEST, NAT_GATEWAY, 1, new Uint8Array(8))));
  g.send(buildEthernet(GATEWAY_MAC, GUEST_MAC, 0x86dd, new Uint8Array(40)));
  assert.equal(g.frames.length, 0);
  assert.equal(g.nat.counters.malformed, 0);
  g.nat.close();
});

test('hostile frames: random bytes and mutated valid frames never throw; the NAT stays usable', async () => {
  const seed = Number(process.env.HOSTBOX_NAT_FUZZ_SEED ?? Date.now() % 0xffffffff) >>> 0 || 1;
  const rng = new Xorshift32(seed);
  // Host access off and no resolver: nothing the fuzz sends can leave this process.
  const g = new Guest({ hostAccess: false, resolve: (async () => [{ address: '192.0.2.1', family: 4 }]) as unknown as NatOptions['resolve'] });
  const seeds = [
    buildEthernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 1234, dstPort: 80, seq: 1, ack: 0, flags: TCP_SYN, window: 100, mss: 1460 })),
    buildEthernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, buildUdp(NAT_GUEST, NAT_DNS, 999, 53, new Uint8Array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 0, 0, 1, 0, 1]))),
    buildEthernet(BROADCAST_MAC, GUEST_MAC, ETH_ARP, buildArp({ op: 1, senderMac: GUEST_MAC, senderIp: NAT_GUEST, targetMac: new Uint8Array(6), targetIp: NAT_GATEWAY })),
    buildEthernet(GATEWAY_MAC, GUEST_MAC, ETH_IPV4, buildIcmp(NAT_GUEST, NAT_GATEWAY, 8, 0, new Uint8Array(12))),
  ];
  try {
    for (let i = 0; i < 20_000; i++) {
      const base = seeds[rng.below(seeds.length)]!;
      let f: Uint8Array;
      if (rng.below(4) === 0) f = Uint8Array.from({ length: rng.below(120) }, () => rng.below(256));
      else {
        f = base.slice(0, rng.below(3) === 0 ? rng.below(base.length + 1) : base.length);
        // Any byte but the IP destination (frame bytes 30-33): even a mutation whose checksum
        // happened to hold must never aim the NAT at an address outside this machine.
        for (let k = rng.below(4); k >= 0; k--) {
          const at = f.length > 14 ? 14 + rng.below(f.length - 14) : -1;
          if (at >= 0 && (at < 30 || at > 33)) f[at] = rng.below(256);
        }
      }
      g.send(f);
    }
  } catch (e) {
    throw new Error(`NAT fuzz seed ${seed} (HOSTBOX_NAT_FUZZ_SEED to replay): ${(e as Error).stack}`);
  }
  assert.ok(g.nat.counters.malformed > 0, 'some frames were malformed');
  g.frames.length = 0;
  g.send(seeds[3]!);
  assert.ok(await g.take((f) => (parseEthernet(f)?.type === ETH_IPV4 ? f : null)), 'still answers a ping');
  g.nat.close();
});

test('UDP to port 0 is refused as a closed port, not thrown out of the NAT', async () => {
  // Node's dgram throws ERR_SOCKET_BAD_PORT for port 0; out of fromGuest, that would end the host.
  const g = new Guest({ hostAccess: true });
  g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 5557, 0, Buffer.from('to port zero')));
  const icmp = await g.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    return ip && ip.proto === 1 ? parseIcmp(ip) : null;
  });
  assert.deepEqual([icmp.type, icmp.code], [3, 3]);
  assert.equal(g.nat.counters.refused, 1);
  g.nat.close();
});

test('a UDP port forward ignores a datagram from source port 0: no reply to it could be sent', async () => {
  const hostPort = await freePort('127.0.0.1');
  const g = new Guest({ forwards: [{ proto: 'udp', hostAddress: '127.0.0.1', hostPort, guestPort: 7 }] });
  assert.deepEqual(await g.nat.start(), []);
  // Source port 0 takes a raw socket to send, which a test cannot count on having; the forward's
  // socket is handed the datagram as dgram hands it one from such a peer.
  const server = (g.nat as unknown as { servers: UdpSocket[] }).servers[0]!;
  server.emit('message', Buffer.from('from port zero'), { address: '127.0.0.1', family: 'IPv4', port: 0, size: 14 });
  const inbound = await g
    .take((f) => {
      const ip = parseIpv4(parseEthernet(f)!.payload);
      const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
      return u && u.dstPort === 7 ? u : null;
    }, 200)
    .catch(() => null);
  // Had it come in, the guest's answer would go to port 0 and throw out of the NAT.
  if (inbound) g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 7, inbound.srcPort, Buffer.from('answer')));
  assert.equal(inbound, null, 'nothing from port 0 reaches the guest');
  g.nat.close();
});

test('a TCP port forward survives a failed accept: the error the server emits does not end the host', async () => {
  const hostPort = await freePort('127.0.0.1');
  const g = new Guest({ forwards: [{ proto: 'tcp', hostAddress: '127.0.0.1', hostPort, guestPort: 22 }] });
  assert.deepEqual(await g.nat.start(), []);
  // An accept that fails (ENOBUFS, ENOMEM) reaches the server as an 'error' event; with no
  // listener, EventEmitter throws it, out of the event loop.
  const server = (g.nat as unknown as { servers: Server[] }).servers[0]!;
  assert.doesNotThrow(() => server.emit('error', Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', syscall: 'accept' })));
  assert.ok(server.listening, 'the forward still listens');
  g.nat.close();
});

test('a guest MSS of 0 is raised to a floor: the host data still arrives, in non-empty segments', async () => {
  // With an MSS of 0 the congestion window was 0 (nothing ever sent), and once fast recovery set
  // it from ssthresh, the send loop emitted empty segments forever and the host hung.
  const data = Buffer.alloc(5000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
  const { server, port } = await listen((s) => s.end(data));
  const g = new Guest();
  const c = new GuestTcp(g, 40400, NAT_GATEWAY, port);
  g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 40400, dstPort: port, seq: c.sndNxt, ack: 0, flags: TCP_SYN, window: 65535, mss: 0 }));
  const synAck = await c.next();
  assert.equal(synAck.flags, TCP_SYN | TCP_ACK);
  c.sndNxt++;
  c.rcvNxt = (synAck.seq + 1) >>> 0;
  c.seg(TCP_ACK);
  let empty = 0;
  c.drop = (t) => {
    if (t.payload.length === 0 && t.flags & TCP_PSH) empty++;
    return false;
  };
  await c.receive(() => c.finReceived || c.reset, 5000);
  assert.equal(c.reset, false);
  assert.deepEqual(c.data(), data);
  assert.equal(empty, 0, 'no empty data segments');
  g.nat.close();
  server.close();
});

/** Host TCP sockets open in this process (connected or still connecting). */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

test('a guest RST while the host connect is still pending frees the host socket at once', async () => {
  // A listener whose accept queue is full (its process sleeps and never accepts): further SYNs
  // are dropped, so connects to it stay pending as to an unreachable address, for minutes.
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { process.stdout.write(s.address().port + '\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000); });"], { stdio: ['ignore', 'pipe', 'ignore'] });
  const fillers: Socket[] = [];
  try {
    const port = Number(await new Promise<string>((r) => child.stdout.once('data', (d: Buffer) => r(d.toString()))));
    for (let i = 0; i < 2; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      fillers.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    const before = tcpHandles();
    const g = new Guest();
    // SYN then RST, again and again: each connection leaves the table at once; its socket must too.
    for (let i = 0; i < 20; i++) {
      const seq = 7000 + i * 100;
      g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 42000 + i, dstPort: port, seq, ack: 0, flags: TCP_SYN, window: 65535 }));
      g.ip(buildTcp(NAT_GUEST, NAT_GATEWAY, { srcPort: 42000 + i, dstPort: port, seq: seq + 1, ack: 0, flags: TCP_RST, window: 0 }));
    }
    assert.equal(g.nat.connections, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(tcpHandles() <= before, `${tcpHandles() - before} host sockets still open for connections the guest reset`);
    g.nat.close();
  } finally {
    for (const s of fillers) s.destroy();
    child.kill();
  }
});

test('a UDP flow remembers a bounded number of peers; the one the guest sent to longest ago can no longer answer', async () => {
  const sockets = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
      return s;
    }),
  );
  const [first, ...others] = sockets as [ReturnType<typeof createSocket>, ...ReturnType<typeof createSocket>[]];
  const g = new Guest({ maxUdpPeers: 4 });
  const flowAddress = new Promise<{ port: number }>((r) => first.once('message', (_m, rinfo) => r(rinfo)));
  g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 6000, first.address().port, Buffer.from('hello first')));
  const flowPort = (await flowAddress).port;
  // Four more peers: the first falls out of the flow's memory.
  for (const s of others) g.ip(buildUdp(NAT_GUEST, NAT_GATEWAY, 6000, s.address().port, Buffer.from('hello')));
  await new Promise((r) => setTimeout(r, 50));
  first.send('late answer', flowPort, '127.0.0.1');
  const last = others[others.length - 1]!;
  last.send('answer', flowPort, '127.0.0.1');
  const seen: number[] = [];
  await g.take((f) => {
    const ip = parseIpv4(parseEthernet(f)!.payload);
    const u = ip && ip.proto === 17 ? parseUdp(ip) : null;
    if (u && u.dstPort === 6000) seen.push(u.srcPort);
    return u && u.srcPort === last.address().port ? u : null;
  });
  assert.ok(!seen.includes(first.address().port), 'the forgotten peer was not let through');
  g.nat.close();
  for (const s of sockets) s.close();
});

test('zero-length segments left of the window (keepalives, window probes) are answered with an ACK', async () => {
  const { server, port } = await listen(() => {});
  const g = new Guest();
  const c = new GuestTcp(g, 40500, NAT_GATEWAY, port);
  await c.connect();
  // Linux's keepalive and zero-window probe: no data, one sequence number before the window.
  c.seg(TCP_ACK, new Uint8Array(0), (c.sndNxt - 1) >>> 0);
  const ack = await c.next(1000);
  assert.equal(ack.flags & (TCP_ACK | TCP_RST | TCP_SYN), TCP_ACK);
  assert.equal(ack.ack, c.sndNxt, 'the ACK says where the NAT is');
  g.nat.close();
  server.close();
});

test('no ICMP error answers a datagram to the guest network broadcast address (RFC 1122 3.2.2)', async () => {
  const g = new Guest({ hostAccess: false });
  // NetBIOS name service and its like broadcast on the local network.
  g.ip(buildUdp(NAT_GUEST, 0x0a0002ff, 137, 137, Buffer.from('who is there')), BROADCAST_MAC);
  g.ip(buildUdp(NAT_GUEST, 0xffffffff, 138, 138, Buffer.from('who is there')), BROADCAST_MAC);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(g.frames.length, 0, 'no answer');
  assert.equal(g.nat.counters.refused, 2);
  g.nat.close();
});

test('a connection closed by both sides while the host peer is not reading keeps its place until its socket is done', async () => {
  // The host peer says goodbye and stops reading; the guest's last data waits in the NAT's socket.
  let peer: Socket | null = null;
  const { server, port } = await listen((s) => {
    peer = s;
    s.pause();
    s.end('bye');
  });
  const baseline = tcpHandles();
  const g = new Guest({ tcpIdleMs: 1000 });
  try {
    const c = new GuestTcp(g, 40600, NAT_GATEWAY, port);
    await c.connect();
    await c.receive(() => c.finReceived);
    // Send within the NAT's window until the host side's buffers are full and the window shuts.
    const chunk = new Uint8Array(1400).fill(0x5a);
    for (let round = 0; round < 2000; round++) {
      for (let k = 0; k < 40; k++) c.seg(TCP_ACK | TCP_PSH, chunk, (c.sndNxt + k * 1400) >>> 0);
      const ack = await c.next().catch(() => null);
      g.frames.length = 0;
      if (!ack) break;
      c.sndNxt = ack.ack;
      if (ack.window < 1400) break;
    }
    c.fin();
    await new Promise((r) => setTimeout(r, 100));
    // Open now: the NAT's socket and the peer's end of it (held here, paused).
    assert.equal(tcpHandles(), baseline + 2, 'the NAT socket still holds data for the host peer');
    assert.equal(g.nat.connections, 1, 'so the connection still counts against the cap');
    // The idle timeout ends it: the NAT's socket goes, and the connection with it.
    for (let i = 0; i < 40 && tcpHandles() > baseline + 1; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(g.nat.connections, 0);
    assert.equal(tcpHandles(), baseline + 1, 'only the peer end is left');
  } finally {
    (peer as Socket | null)?.destroy();
    g.nat.close();
    server.close();
  }
});
