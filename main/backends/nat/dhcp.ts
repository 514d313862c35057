// The NAT's DHCP server (RFC 2131, options RFC 2132): one guest, one address. DISCOVER gets an
// OFFER of the guest address, REQUEST for it gets an ACK (for any other address a NAK), with the
// subnet mask, the gateway as router and server identifier, the DNS address and a lease time.
// Replies are broadcast when the client asks for it (flags bit 15) or has no address yet, as
// busybox udhcpc and dhclient expect.

const MAGIC = 0x63825363;
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPACK = 5;
export const DHCPNAK = 6;
const OPT_MASK = 1;
const OPT_ROUTER = 3;
const OPT_DNS = 6;
const OPT_REQUESTED_IP = 50;
const OPT_LEASE = 51;
const OPT_MSG_TYPE = 53;
const OPT_SERVER_ID = 54;
const OPT_END = 255;

export interface DhcpConfig {
  readonly server: number;
  readonly client: number;
  readonly mask: number;
  readonly dns: number;
  readonly leaseSeconds: number;
}

export interface DhcpRequest {
  readonly type: number;
  readonly xid: number;
  readonly chaddr: Uint8Array;
  readonly ciaddr: number;
  readonly broadcast: boolean;
  readonly requested: number | null;
  readonly serverId: number | null;
}

export function parseDhcp(p: Uint8Array): DhcpRequest | null {
  if (p.length < 240 || p[0] !== 1 || p[1] !== 1 || p[2] !== 6) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  if (dv.getUint32(236) !== MAGIC) return null;
  let type = 0;
  let requested: number | null = null;
  let serverId: number | null = null;
  for (let i = 240; i < p.length; ) {
    const code = p[i]!;
    if (code === OPT_END) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len === undefined || i + 2 + len > p.length) return null;
    if (code === OPT_MSG_TYPE && len === 1) type = p[i + 2]!;
    if (code === OPT_REQUESTED_IP && len === 4) requested = dv.getUint32(i + 2);
    if (code === OPT_SERVER_ID && len === 4) serverId = dv.getUint32(i + 2);
    i += 2 + len;
  }
  if (!type) return null;
  return { type, xid: dv.getUint32(4), chaddr: p.slice(28, 34), ciaddr: dv.getUint32(12), broadcast: (dv.getUint16(10) & 0x8000) !== 0, requested, serverId };
}

/** The server's answer (message type and BOOTP body), or null when it should stay silent. */
export function answerDhcp(req: DhcpRequest, cfg: DhcpConfig): { type: number; body: Uint8Array } | null {
  let type: number;
  if (req.type === DHCPDISCOVER) type = DHCPOFFER;
  else if (req.type === DHCPREQUEST) {
    // A REQUEST naming another server is the client choosing it: stay silent (RFC 2131 4.3.2).
    if (req.serverId !== null && req.serverId !== cfg.server) return null;
    const wanted = req.requested ?? req.ciaddr;
    type = wanted === cfg.client ? DHCPACK : DHCPNAK;
  } else return null;
  const b = new Uint8Array(300);
  const dv = new DataView(b.buffer);
  b[0] = 2;
  b[1] = 1;
  b[2] = 6;
  dv.setUint32(4, req.xid);
  dv.setUint16(10, req.broadcast ? 0x8000 : 0);
  if (type !== DHCPNAK) {
    dv.setUint32(16, cfg.client); // yiaddr
    dv.setUint32(20, cfg.server); // siaddr
  }
  b.set(req.chaddr, 28);
  dv.setUint32(236, MAGIC);
  let i = 240;
  const opt = (code: number, ...bytes: number[]): void => {
    b[i++] = code;
    b[i++] = bytes.length;
    for (const x of bytes) b[i++] = x;
  };
  const ip = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  opt(OPT_MSG_TYPE, type);
  opt(OPT_SERVER_ID, ...ip(cfg.server));
  if (type !== DHCPNAK) {
    opt(OPT_LEASE, ...ip(cfg.leaseSeconds));
    opt(OPT_MASK, ...ip(cfg.mask));
    opt(OPT_ROUTER, ...ip(cfg.server));
    opt(OPT_DNS, ...ip(cfg.dns));
  }
  b[i++] = OPT_END;
  return { type, body: b };
}
