import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Xorshift32 } from '../../../vmm/cpu/xorshift.ts';
import { IpReassembly, MAX_BYTES, MAX_DATAGRAMS, fragmentIpv4 } from './ip-fragments.ts';
import { IP_UDP, buildIpv4, checksum, parseIpv4 } from './packets.ts';

const SRC = 0x0a00020f;
const DST = 0x0a000202;

function datagram(n: number, seed = 1): Uint8Array {
  const r = new Xorshift32(seed);
  const body = new Uint8Array(n);
  for (let i = 0; i < n; i++) body[i] = r.next() & 0xff;
  return buildIpv4(SRC, DST, IP_UDP, body);
}

/** One fragment of `packet` by hand: data bytes [start, end), MF as given, id overridden if asked. */
function piece(packet: Uint8Array, start: number, end: number, more: boolean, id?: number): Uint8Array {
  const f = new Uint8Array(20 + end - start);
  f.set(packet.subarray(0, 20));
  f.set(packet.subarray(20 + start, 20 + end), 20);
  f[2] = f.length >> 8;
  f[3] = f.length & 0xff;
  const word = (more ? 0x2000 : 0) | (start / 8);
  f[6] = word >> 8;
  f[7] = word & 0xff;
  if (id !== undefined) {
    f[4] = id >> 8;
    f[5] = id & 0xff;
  }
  f[10] = f[11] = 0;
  const c = checksum(f, 0, 20);
  f[10] = c >> 8;
  f[11] = c & 0xff;
  return f;
}

function payloadOf(p: Uint8Array): Uint8Array {
  return parseIpv4(p)!.payload;
}

test('fragments in any order make the datagram again, with a valid unfragmented header', () => {
  const whole = datagram(4000);
  const frags = fragmentIpv4(whole, 1500);
  assert.equal(frags.length, 3);
  for (const f of frags) assert.ok(f.length <= 1500 && parseIpv4(f)?.fragment);
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
    const r = new IpReassembly(() => 0);
    let out: Uint8Array | null = null;
    for (const [k, i] of order.entries()) {
      out = r.add(frags[i]!);
      if (k < 2) assert.equal(out, null);
    }
    const ip = parseIpv4(out!);
    assert.ok(ip && !ip.fragment, 'a checked, whole packet');
    assert.deepEqual(ip.payload, payloadOf(whole));
    assert.equal(r.bytesHeld, 0);
    assert.equal(r.inProgress, 0);
    assert.equal(r.counters.reassembled, 1);
  }
});

test('an exact duplicate is ignored; an overlap drops the datagram and the rest of it', () => {
  const whole = datagram(3000);
  const r = new IpReassembly(() => 0);
  assert.equal(r.add(piece(whole, 0, 1480, true)), null);
  assert.equal(r.add(piece(whole, 0, 1480, true)), null);
  assert.ok(r.add(piece(whole, 1480, 3000, false)), 'the duplicate did not spoil it');

  // Overlap: a second fragment rewriting bytes 1000-1479 (the attack RFC 5722 closes).
  const r2 = new IpReassembly(() => 0);
  assert.equal(r2.add(piece(whole, 0, 1480, true)), null);
  assert.equal(r2.add(piece(whole, 1000, 2000, true)), null);
  assert.equal(r2.bytesHeld, 0, 'the first fragment is let go at once');
  // The honest remainder no longer completes anything.
  assert.equal(r2.add(piece(whole, 1480, 3000, false)), null);
  assert.equal(r2.add(piece(whole, 0, 1480, true)), null);
  assert.equal(r2.counters.reassembled, 0);
  assert.ok(r2.counters.dropped >= 3);
});

test('malformed fragments are dropped: past 64 KiB, odd sizes, disagreeing ends', () => {
  const whole = datagram(3000);
  const r = new IpReassembly(() => 0);
  // Offset 8184 * 8 + 1000 bytes: a datagram past 65,535 bytes (the ping of death).
  const big = piece(whole, 0, 1000, false);
  big[6] = 0x1f;
  big[7] = 0xf8;
  big[10] = big[11] = 0;
  const c = checksum(big, 0, 20);
  big[10] = c >> 8;
  big[11] = c & 0xff;
  assert.equal(r.add(big), null);
  // A middle fragment whose length is not a multiple of 8.
  assert.equal(r.add(piece(whole, 0, 1001, true, 7)), null);
  // Two last fragments that disagree on the end; data beyond a known end.
  assert.equal(r.add(piece(whole, 1480, 3000, false, 8)), null);
  assert.equal(r.add(piece(whole, 1480, 2000, false, 8)), null);
  assert.equal(r.add(piece(whole, 0, 1480, true, 8)), null);
  assert.equal(r.counters.reassembled, 0);
  assert.equal(r.bytesHeld, 0);
});

test('an incomplete datagram times out and frees its bytes', () => {
  let now = 0;
  const whole = datagram(3000);
  const r = new IpReassembly(() => now, 30_000);
  r.add(piece(whole, 0, 1480, true));
  assert.equal(r.bytesHeld, 1480);
  now = 29_999;
  r.expire();
  assert.equal(r.inProgress, 1);
  now = 30_000;
  // The missing half now starts a new datagram, which cannot complete without the first.
  assert.equal(r.add(piece(whole, 1480, 3000, false)), null);
  assert.equal(r.counters.timedOut, 1);
  assert.equal(r.bytesHeld, 1520);
});

test('a flood of fragments stays within the bounds and the oldest give way', () => {
  const r = new IpReassembly(() => 0);
  const whole = datagram(3000);
  for (let id = 0; id < 4 * MAX_DATAGRAMS; id++) r.add(piece(whole, 0, 1480, true, id));
  assert.ok(r.inProgress <= MAX_DATAGRAMS + 1);
  assert.ok(r.bytesHeld <= MAX_BYTES);
  // Large datagrams: 64 KiB each, 60 of them, would pass the byte bound.
  const r2 = new IpReassembly(() => 0);
  const huge = datagram(65000);
  for (let id = 0; id < 60; id++) for (let at = 0; at + 1480 < 65000; at += 1480) r2.add(piece(huge, at, at + 1480, true, id));
  assert.ok(r2.bytesHeld <= MAX_BYTES);
  // A late, complete datagram still gets through.
  const frags = fragmentIpv4(datagram(2000, 9), 1500);
  assert.equal(r2.add(frags[0]!), null);
  assert.ok(r2.add(frags[1]!));
});

test('random fragment soup never throws and only ever yields checked packets', () => {
  const rnd = new Xorshift32(42);
  const r = new IpReassembly(() => 0);
  const whole = datagram(5000);
  for (let i = 0; i < 20000; i++) {
    const a = (rnd.next() % 620) * 8;
    const b = Math.min(5000, a + 8 + (rnd.next() % 300) * 8);
    const f = piece(whole, a, b, rnd.next() % 4 !== 0, rnd.next() % 16);
    const out = r.add(f);
    if (out) assert.ok(parseIpv4(out), 'a reassembled packet parses');
  }
  assert.ok(r.bytesHeld <= MAX_BYTES);
});

test('a first fragment carrying IP options cannot stretch the datagram past 65,535 bytes', () => {
  // Every fragment is within bounds with its own 20-byte header, but the datagram takes the first
  // fragment's header: 24 bytes (one option word) and 65,515 bytes of data make 65,539.
  const whole = datagram(65515, 3);
  const first = new Uint8Array(24 + 1480);
  first.set(whole.subarray(0, 20));
  first[0] = 0x46;
  first.set([1, 1, 1, 0], 20); // NOP NOP NOP, end of options
  first.set(whole.subarray(20, 20 + 1480), 24);
  first[2] = first.length >> 8;
  first[3] = first.length & 0xff;
  first[6] = 0x20; // MF, offset 0
  first[7] = 0;
  first[10] = first[11] = 0;
  const c = checksum(first, 0, 24);
  first[10] = c >> 8;
  first[11] = c & 0xff;
  const rest: Uint8Array[] = [];
  for (let at = 1480; at < 65515; at += 1480) rest.push(piece(whole, at, Math.min(at + 1480, 65515), at + 1480 < 65515));
  // The first fragment first, and last.
  for (const order of [[first, ...rest], [...rest, first]]) {
    const r = new IpReassembly(() => 0);
    for (const f of order) {
      const out = r.add(f);
      if (out) assert.ok(out.length <= 65535 && parseIpv4(out), `a reassembled packet of ${out.length} bytes`);
    }
    assert.equal(r.counters.reassembled, 0);
    assert.equal(r.bytesHeld, 0);
  }
});
