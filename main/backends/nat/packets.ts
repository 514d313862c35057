// The frame formats the user-mode NAT speaks with the guest: Ethernet II (IEEE 802.3), ARP (RFC
// 826), IPv4 (RFC 791; header checksum RFC 1071), ICMP echo (RFC 792), UDP (RFC 768) and TCP
// (RFC 9293), each parsed from and built into plain bytes. Parsers return null for anything
// malformed (short, bad length fields, bad checksums) so the NAT can drop and count it; they never
// throw on guest input.
//
// Written here rather than taken from a package: the maintained packet libraries for Node are
// capture bindings (native code, pcap) or protocol suites far larger than these few fixed headers.

export type Mac = Uint8Array;

export const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;
export const IP_ICMP = 1;
export const IP_TCP = 6;
export const IP_UDP = 17;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const BROADCAST_MAC: Mac = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function ipFromString(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function macToString(mac: Mac): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** RFC 1071 one's complement sum over bytes, folded; `initial` carries a pseudo-header sum. */
export function checksum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoSum(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + length;
}

export interface EthFrame {
  dst: Mac;
  src: Mac;
  type: number;
  payload: Uint8Array;
}

export function parseEthernet(f: Uint8Array): EthFrame | null {
  if (f.length < 14) return null;
  return { dst: f.subarray(0, 6), src: f.subarray(6, 12), type: (f[12]! << 8) | f[13]!, payload: f.subarray(14) };
}

export function buildEthernet(dst: Mac, src: Mac, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

export interface Arp {
  op: number;
  senderMac: Mac;
  senderIp: number;
  targetMac: Mac;
  targetIp: number;
}

export function parseArp(p: Uint8Array): Arp | null {
  // Ethernet hardware (1), IPv4 protocol (0800h), address lengths 6 and 4.
  if (p.length < 28 || p[0] !== 0 || p[1] !== 1 || p[2] !== 8 || p[3] !== 0 || p[4] !== 6 || p[5] !== 4) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  return { op: dv.getUint16(6), senderMac: p.subarray(8, 14), senderIp: dv.getUint32(14), targetMac: p.subarray(18, 24), targetIp: dv.getUint32(24) };
}

export function buildArp(a: Arp): Uint8Array {
  const p = new Uint8Array(28);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, 1);
  dv.setUint16(2, ETH_IPV4);
  p[4] = 6;
  p[5] = 4;
  dv.setUint16(6, a.op);
  p.set(a.senderMac, 8);
  dv.setUint32(14, a.senderIp);
  p.set(a.targetMac, 18);
  dv.setUint32(24, a.targetIp);
  return p;
}

export interface Ipv4 {
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  /** More fragments set or a nonzero offset: a piece of a datagram. */
  fragment: boolean;
  payload: Uint8Array;
  /** The whole packet, header included (ICMP errors quote it). */
  raw: Uint8Array;
}

export function parseIpv4(p: Uint8Array): Ipv4 | null {
  if (p.length < 20 || p[0]! >> 4 !== 4) return null;
  const ihl = (p[0]! & 0xf) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total < ihl || total > p.length) return null;
  if (checksum(p, 0, ihl) !== 0) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const frag = dv.getUint16(6);
  return { src: dv.getUint32(12), dst: dv.getUint32(16), proto: p[9]!, ttl: p[8]!, fragment: (frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0, payload: p.subarray(ihl, total), raw: p.subarray(0, total) };
}

let ipId = 1;

export function buildIpv4(src: number, dst: number, proto: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, p.length);
  dv.setUint16(4, ipId);
  ipId = (ipId + 1) & 0xffff;
  dv.setUint16(6, 0x4000); // DF: the NAT never sends more than the link's MTU
  p[8] = 64;
  p[9] = proto;
  dv.setUint32(12, src);
  dv.setUint32(16, dst);
  dv.setUint16(10, checksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

export interface Udp {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

export function parseUdp(ip: Ipv4): Udp | null {
  const p = ip.payload;
  if (p.length < 8) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const len = dv.getUint16(4);
  if (len < 8 || len > p.length) return null;
  // A zero checksum means the sender did not compute one (allowed for UDP over IPv4).
  if (dv.getUint16(6) !== 0 && checksum(p, 0, len, pseudoSum(ip.src, ip.dst, IP_UDP, len)) !== 0) return null;
  return { srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), payload: p.subarray(8, len) };
}

export function buildUdp(src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(8 + payload.length);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, srcPort);
  dv.setUint16(2, dstPort);
  dv.setUint16(4, p.length);
  p.set(payload, 8);
  dv.setUint16(6, checksum(p, 0, p.length, pseudoSum(src, dst, IP_UDP, p.length)) || 0xffff);
  return buildIpv4(src, dst, IP_UDP, p);
}

export interface Tcp {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** The MSS option of a SYN, if any. */
  mss: number | null;
  /** The window scale option of a SYN (RFC 7323 section 2), if any: a shift of 0-14. */
  wscale: number | null;
  payload: Uint8Array;
}

export function parseTcp(ip: Ipv4): Tcp | null {
  const p = ip.payload;
  if (p.length < 20) return null;
  const off = (p[12]! >> 4) * 4;
  if (off < 20 || off > p.length) return null;
  if (checksum(p, 0, p.length, pseudoSum(ip.src, ip.dst, IP_TCP, p.length)) !== 0) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  let mss: number | null = null;
  let wscale: number | null = null;
  for (let i = 20; i < off; ) {
    const kind = p[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = p[i + 1] ?? 0;
    if (len < 2 || i + len > off) break;
    if (kind === 2 && len === 4) mss = dv.getUint16(i + 2);
    // A shift above 14 is taken as 14, as RFC 7323 says.
    if (kind === 3 && len === 3) wscale = Math.min(14, p[i + 2]!);
    i += len;
  }
  return { srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), seq: dv.getUint32(4), ack: dv.getUint32(8), flags: p[13]! & 0x3f, window: dv.getUint16(14), mss, wscale, payload: p.subarray(off) };
}

export interface TcpOut {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  mss?: number;
  wscale?: number;
  payload?: Uint8Array;
}

export function buildTcp(src: number, dst: number, t: TcpOut): Uint8Array {
  const opts = (t.mss !== undefined ? 4 : 0) + (t.wscale !== undefined ? 4 : 0);
  const data = t.payload ?? new Uint8Array(0);
  const p = new Uint8Array(20 + opts + data.length);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, t.srcPort);
  dv.setUint16(2, t.dstPort);
  dv.setUint32(4, t.seq >>> 0);
  dv.setUint32(8, t.ack >>> 0);
  p[12] = ((20 + opts) / 4) << 4;
  p[13] = t.flags;
  dv.setUint16(14, Math.max(0, Math.min(0xffff, t.window)));
  let o = 20;
  if (t.mss !== undefined) {
    p[o] = 2;
    p[o + 1] = 4;
    dv.setUint16(o + 2, t.mss);
    o += 4;
  }
  if (t.wscale !== undefined) {
    // NOP, then kind 3, length 3, the shift.
    p[o] = 1;
    p[o + 1] = 3;
    p[o + 2] = 3;
    p[o + 3] = t.wscale;
  }
  p.set(data, 20 + opts);
  dv.setUint16(16, checksum(p, 0, p.length, pseudoSum(src, dst, IP_TCP, p.length)));
  return buildIpv4(src, dst, IP_TCP, p);
}

/** ICMP over IPv4, checked; null when short or the checksum is wrong. */
export function parseIcmp(ip: Ipv4): { type: number; code: number; rest: Uint8Array } | null {
  const p = ip.payload;
  if (p.length < 8 || checksum(p) !== 0) return null;
  return { type: p[0]!, code: p[1]!, rest: p.subarray(4) };
}

export function buildIcmp(src: number, dst: number, type: number, code: number, rest: Uint8Array): Uint8Array {
  const p = new Uint8Array(4 + rest.length);
  p[0] = type;
  p[1] = code;
  p.set(rest, 4);
  const c = checksum(p);
  p[2] = c >> 8;
  p[3] = c & 0xff;
  return buildIpv4(src, dst, IP_ICMP, p);
}

/** Sequence-number arithmetic modulo 2^32 (RFC 9293 3.4). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}
