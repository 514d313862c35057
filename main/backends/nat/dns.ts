// The NAT's DNS server at 10.0.2.3 (RFC 1035 message format): each query is answered through the
// host's own resolver (node:dns lookup, i.e. getaddrinfo: /etc/hosts, nsswitch, the host's
// nameservers), so the guest resolves names exactly as host programs do. A and AAAA questions get
// answers; a name the host cannot resolve gets NXDOMAIN; other question types get NOTIMP.

import { lookup } from 'node:dns/promises';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const RCODE_FORMERR = 1;

export interface DnsQuestion {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly cls: number;
  /** The question section as received, echoed in the answer. */
  readonly raw: Uint8Array;
  readonly recursionDesired: boolean;
}

export function parseDnsQuery(p: Uint8Array): DnsQuestion | null {
  if (p.length < 12) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  const flags = dv.getUint16(2);
  // A standard query (QR 0, opcode 0) with exactly one question.
  if (flags & 0xf800 || dv.getUint16(4) !== 1) return null;
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    const len = p[i];
    if (len === undefined || len > 63) return null;
    i++;
    if (len === 0) break;
    if (i + len > p.length) return null;
    labels.push(String.fromCharCode(...p.subarray(i, i + len)));
    i += len;
    if (labels.length > 127) return null;
  }
  if (i + 4 > p.length) return null;
  return { id: dv.getUint16(0), name: labels.join('.'), type: dv.getUint16(i), cls: dv.getUint16(i + 2), raw: p.slice(12, i + 4), recursionDesired: (flags & 0x0100) !== 0 };
}

export function buildDnsAnswer(q: DnsQuestion, rcode: number, addresses: Uint8Array[], ttl = 60): Uint8Array {
  const rr = 12; // name pointer, type, class, TTL, RDLENGTH
  const out = new Uint8Array(12 + q.raw.length + addresses.reduce((s, a) => s + rr + a.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint16(0, q.id);
  // QR, RD copied, RA: a recursive resolver answered.
  dv.setUint16(2, 0x8000 | (q.recursionDesired ? 0x0100 : 0) | 0x0080 | rcode);
  dv.setUint16(4, 1);
  dv.setUint16(6, addresses.length);
  out.set(q.raw, 12);
  let i = 12 + q.raw.length;
  for (const a of addresses) {
    dv.setUint16(i, 0xc00c); // the name: a pointer to the question's
    dv.setUint16(i + 2, q.type);
    dv.setUint16(i + 4, CLASS_IN);
    dv.setUint32(i + 6, ttl);
    dv.setUint16(i + 10, a.length);
    out.set(a, i + 12);
    i += rr + a.length;
  }
  return out;
}

function addressBytes(addr: string, family: number): Uint8Array | null {
  if (family === 4) {
    const parts = addr.split('.').map(Number);
    return parts.length === 4 ? Uint8Array.from(parts) : null;
  }
  // Expand "::" and map every group to two bytes.
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, k) => {
    const v = parseInt(g, 16);
    out[2 * k] = v >> 8;
    out[2 * k + 1] = v & 0xff;
  });
  return out;
}

/**
 * getaddrinfo runs on libuv's thread pool (four threads), which the host's file I/O shares: every
 * VM's disks, overlays and state files. A lookup whose nameserver never answers holds its thread
 * for seconds, so a guest sending many could stall every VM's disks. The lookups of all VMs together
 * take at most this many threads; the others wait their turn (each NAT bounds how many it has
 * waiting or running).
 */
export const HOST_LOOKUPS = 2;
let lookupsRunning = 0;
const lookupsWaiting: (() => void)[] = [];

async function inTurn<T>(f: () => Promise<T>): Promise<T> {
  // A finished lookup hands its place straight to the next one waiting.
  if (lookupsRunning < HOST_LOOKUPS) lookupsRunning++;
  else await new Promise<void>((go) => lookupsWaiting.push(go));
  try {
    return await f();
  } finally {
    const next = lookupsWaiting.shift();
    if (next) next();
    else lookupsRunning--;
  }
}

/** Answers one query message through the host resolver; null for messages that are not queries. */
export async function resolveDnsQuery(p: Uint8Array, resolve = lookup): Promise<Uint8Array | null> {
  const q = parseDnsQuery(p);
  if (!q) {
    if (p.length < 12) return null;
    const out = p.slice(0, 12);
    const dv = new DataView(out.buffer);
    dv.setUint16(2, 0x8000 | RCODE_FORMERR);
    dv.setUint16(4, 0);
    dv.setUint16(6, 0);
    dv.setUint16(8, 0);
    dv.setUint16(10, 0);
    return out;
  }
  if (q.cls !== CLASS_IN || (q.type !== TYPE_A && q.type !== TYPE_AAAA)) return buildDnsAnswer(q, RCODE_NOTIMP, []);
  const family = q.type === TYPE_A ? 4 : 6;
  try {
    const found = await inTurn(() => resolve(q.name, { family, all: true }));
    const addrs = found.map((f) => addressBytes(f.address, family)).filter((a): a is Uint8Array => a !== null);
    return buildDnsAnswer(q, 0, addrs.slice(0, 16));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A name with no address of this family exists (NOERROR, no answers); an unknown one does not.
    if (code === 'ENODATA') return buildDnsAnswer(q, 0, []);
    return buildDnsAnswer(q, code === 'ENOTFOUND' ? RCODE_NXDOMAIN : RCODE_SERVFAIL, []);
  }
}
