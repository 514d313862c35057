// IPv4 fragments (RFC 791 section 3.2, "Fragmentation and reassembly"). The guest's fragmented
// datagrams are reassembled: fragments are kept per (source, destination, protocol,
// identification), sorted and never overlapping, until every byte from 0 to the end the last
// fragment names has arrived; then the datagram goes on as one packet with the first fragment's
// header. The other way, packets the NAT builds longer than the guest's MTU are fragmented.
//
// Guest input is hostile, so everything is bounded and nothing throws:
// - at most MAX_DATAGRAMS in progress and MAX_BYTES of fragment data held in all; a fragment that
//   would pass either bound evicts the oldest datagram in progress (a flood only ever costs the
//   flood's own datagrams);
// - a datagram not complete within `timeoutMs` (RFC 791 suggests 15 s; Linux uses 30 s) is dropped;
// - a datagram may not end past 65,535 bytes (the "ping of death"), a fragment other than the last
//   must carry a multiple of 8 bytes, and two fragments may not disagree on where it ends;
// - overlapping fragments drop the whole datagram, in the spirit of RFC 5722 (which says so for
//   IPv6): overlaps are how fragment attacks slip one header past a filter and another to the
//   receiver. An exact duplicate (a retransmitted fragment, same place and bytes) is ignored,
//   as RFC 8200 section 4.5 allows. The rest of a dropped datagram's fragments are dropped too,
//   until its timeout, so a partial second copy is never assembled from what remains.

import { checksum } from './packets.ts';

/** Reassembly holds at most this many datagrams at a time... */
export const MAX_DATAGRAMS = 64;
/** ...and this many bytes of fragment data in all. */
export const MAX_BYTES = 1024 * 1024;
const MAX_DATAGRAM = 65535;

export interface ReassemblyCounters {
  /** Datagrams put back together. */
  reassembled: number;
  /** Fragments dropped: malformed, overlapping, of a dropped datagram, or evicted. */
  dropped: number;
  /** Datagrams given up on because their fragments stopped coming. */
  timedOut: number;
}

interface Piece {
  readonly start: number;
  readonly data: Uint8Array;
}

interface Datagram {
  /** The header of the fragment at offset 0, once it has come. */
  header: Uint8Array | null;
  /** Pieces sorted by start, never overlapping. */
  readonly pieces: Piece[];
  /** The datagram's payload length, once the last fragment (MF clear) has come. */
  end: number;
  held: number;
  readonly expires: number;
  /** Overlap or a bad fragment seen: everything else for it is dropped until it expires. */
  dead: boolean;
}

export class IpReassembly {
  readonly counters: ReassemblyCounters = { reassembled: 0, dropped: 0, timedOut: 0 };
  /** In arrival order of each datagram's first fragment, so the first key is the oldest. */
  private readonly datagrams = new Map<string, Datagram>();
  private held = 0;

  constructor(
    private readonly now: () => number,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Bytes of fragment data held now. */
  get bytesHeld(): number {
    return this.held;
  }

  get inProgress(): number {
    return this.datagrams.size;
  }

  /**
   * Takes one fragment (a whole IPv4 packet, header checked, MF set or a nonzero offset) and
   * returns the reassembled packet when this fragment completed one, else null.
   */
  add(packet: Uint8Array): Uint8Array | null {
    this.expire();
    const ihl = (packet[0]! & 0xf) * 4;
    const total = (packet[2]! << 8) | packet[3]!;
    const frag = (packet[6]! << 8) | packet[7]!;
    const more = (frag & 0x2000) !== 0;
    const start = (frag & 0x1fff) * 8;
    const data = packet.subarray(ihl, Math.min(total, packet.length));
    const end = start + data.length;
    const key = `${packet[9]}|${packet[12]}.${packet[13]}.${packet[14]}.${packet[15]}|${packet[16]}.${packet[17]}.${packet[18]}.${packet[19]}|${packet[4]! * 256 + packet[5]!}`;
    let d = this.datagrams.get(key);
    if (d?.dead) return this.drop();
    // The datagram takes the first fragment's header, which may be longer (options) than this one's.
    const tooLong = ihl + end > MAX_DATAGRAM || (d?.header && d.header.length + end > MAX_DATAGRAM) || (start === 0 && d && d.end >= 0 && ihl + d.end > MAX_DATAGRAM);
    const bad = tooLong || (more && (data.length === 0 || data.length % 8 !== 0)) || (!more && d && d.end >= 0 && d.end !== end) || (d && d.end >= 0 && end > d.end) || (!more && d && lastEnd(d) > end);
    if (bad) return this.kill(key, d);
    if (!d) {
      d = { header: null, pieces: [], end: -1, held: 0, expires: this.now() + this.timeoutMs, dead: false };
      this.datagrams.set(key, d);
    }
    // Where the piece goes, and whether it overlaps its neighbours.
    let i = 0;
    while (i < d.pieces.length && d.pieces[i]!.start < start) i++;
    const prev = d.pieces[i - 1];
    const next = d.pieces[i];
    if (next && next.start === start && next.data.length === data.length && sameBytes(next.data, data)) return this.drop();
    if ((prev && prev.start + prev.data.length > start) || (next && next.start < end)) return this.kill(key, d);
    // The bounds: room is made by evicting the oldest datagrams, never this one.
    while (this.held + data.length > MAX_BYTES || (d.pieces.length === 0 && this.datagrams.size > MAX_DATAGRAMS)) {
      const oldest = this.datagrams.keys().next().value as string;
      if (oldest === key) return this.kill(key, d);
      this.forget(oldest, this.datagrams.get(oldest)!, true);
    }
    d.pieces.splice(i, 0, { start, data: data.slice() });
    d.held += data.length;
    this.held += data.length;
    if (start === 0) d.header = packet.slice(0, ihl);
    if (!more) d.end = end;
    if (d.end < 0 || !d.header || !contiguous(d)) return null;
    this.forget(key, d, false);
    this.counters.reassembled++;
    return assemble(d.header, d.pieces, d.end);
  }

  /** Drops datagrams whose time is up; also done on every add. */
  expire(): void {
    const now = this.now();
    for (const [key, d] of this.datagrams) {
      if (d.expires > now) continue;
      if (!d.dead) this.counters.timedOut++;
      this.forget(key, d, false);
    }
  }

  private drop(): null {
    this.counters.dropped++;
    return null;
  }

  /** The datagram is bad: its fragments go, and later ones for it are dropped until it expires. */
  private kill(key: string, d: Datagram | undefined): null {
    this.counters.dropped++;
    if (d) {
      this.counters.dropped += d.pieces.length;
      this.held -= d.held;
      d.pieces.length = 0;
      d.held = 0;
      d.header = null;
      d.dead = true;
    } else {
      // Remembered (without data) so the rest of it is refused too; it counts toward the cap.
      if (this.datagrams.size >= MAX_DATAGRAMS) this.forget(this.datagrams.keys().next().value as string, this.datagrams.values().next().value as Datagram, true);
      this.datagrams.set(key, { header: null, pieces: [], end: -1, held: 0, expires: this.now() + this.timeoutMs, dead: true });
    }
    return null;
  }

  private forget(key: string, d: Datagram, evicted: boolean): void {
    if (evicted) this.counters.dropped += d.pieces.length;
    this.held -= d.held;
    this.datagrams.delete(key);
  }
}

function lastEnd(d: Datagram): number {
  const p = d.pieces[d.pieces.length - 1];
  return p ? p.start + p.data.length : 0;
}

function contiguous(d: Datagram): boolean {
  let at = 0;
  for (const p of d.pieces) {
    if (p.start !== at) return false;
    at += p.data.length;
  }
  return at === d.end;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The whole datagram: the first fragment's header (options kept), unfragmented, checksummed. */
function assemble(header: Uint8Array, pieces: readonly Piece[], end: number): Uint8Array {
  const out = new Uint8Array(header.length + end);
  out.set(header);
  for (const p of pieces) out.set(p.data, header.length + p.start);
  out[2] = out.length >> 8;
  out[3] = out.length & 0xff;
  out[6] &= 0x40; // DF kept; MF and the offset cleared
  out[7] = 0;
  return withHeaderChecksum(out, header.length);
}

/** The packet with its header checksum (RFC 791) computed again after the header changed. */
function withHeaderChecksum(p: Uint8Array, ihl: number): Uint8Array {
  p[10] = 0;
  p[11] = 0;
  const c = checksum(p, 0, ihl);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

/**
 * Splits a packet the NAT built that is longer than the guest link's MTU (an echo reply to a
 * reassembled ping, a large UDP datagram from the host) into fragments of at most `mtu` bytes
 * (RFC 791 section 3.2): each carries the header (DF cleared, as the sender here is the NAT),
 * a multiple of 8 data bytes but the last, and MF on all but the last. A packet that fits is
 * returned alone.
 */
export function fragmentIpv4(packet: Uint8Array, mtu: number): Uint8Array[] {
  if (packet.length <= mtu) return [packet];
  const ihl = (packet[0]! & 0xf) * 4;
  const step = (mtu - ihl) & ~7;
  const out: Uint8Array[] = [];
  for (let at = ihl; at < packet.length; at += step) {
    const n = Math.min(step, packet.length - at);
    const f = new Uint8Array(ihl + n);
    f.set(packet.subarray(0, ihl));
    f.set(packet.subarray(at, at + n), ihl);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    const offset = (at - ihl) / 8;
    const more = at + n < packet.length ? 0x2000 : 0;
    f[6] = (more | offset) >> 8;
    f[7] = offset & 0xff;
    out.push(withHeaderChecksum(f, ihl));
  }
  return out;
}
