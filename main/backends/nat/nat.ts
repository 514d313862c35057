// User-mode NAT for one VM: the other end of its NIC's cable. It plays the router of a private
// network laid out as QEMU's user networking lays it out, so habits carry over:
//
//   10.0.2.0/24   the guest's network      10.0.2.2   the gateway (and, if allowed, this host)
//   10.0.2.3      DNS, answered through the host's resolver      10.0.2.15   the guest, by DHCP
//
// Guest traffic becomes ordinary host sockets, opened by this process without privileges (the
// design libslirp and passt share): each TCP connection is terminated here by a TCP endpoint
// (tcp-connection.ts) and relayed over a host TCP socket; each guest UDP port gets a host datagram
// socket; ARP and ICMP echo for the gateway and DHCP and DNS are answered here. Nothing is sent
// to raw sockets, so the guest cannot forge traffic onto the host's networks.
//
// Reaching the host itself: 10.0.2.2 maps to the host's loopback only with `hostAccess` on (the
// VM setting "Guest may reach services on this host", off by default); addresses in 127.0.0.0/8,
// 0.0.0.0/8, the guest's own network and multicast are never reached. Port forwards bind host
// loopback ports (or another address when the user says so) and open connections to the guest.
//
// Bounded per VM: TCP connections (maxConnections, a SYN beyond it is reset), UDP flows and the
// peers each lets answer (a guest scanning ports would otherwise grow the list for as long as the
// flow lives), DNS lookups in flight; buffers are bounded with backpressure both ways (see
// tcp-connection.ts); idle flows time out. Malformed frames (short, bad lengths or checksums) are
// dropped and counted. IP fragments from the guest are reassembled within bounds
// (ip-fragments.ts), and packets for the guest longer than its 1500-byte MTU are fragmented.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import type { lookup } from 'node:dns/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { answerDhcp, parseDhcp } from './dhcp.ts';
import { resolveDnsQuery } from './dns.ts';
import { IpReassembly, fragmentIpv4 } from './ip-fragments.ts';
import {
  BROADCAST_MAC,
  ETH_ARP,
  ETH_IPV4,
  IP_ICMP,
  IP_TCP,
  IP_UDP,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  TCP_FIN,
  buildArp,
  buildEthernet,
  buildIcmp,
  buildTcp,
  buildUdp,
  ipFromString,
  ipToString,
  parseArp,
  parseEthernet,
  parseIcmp,
  parseIpv4,
  parseTcp,
  parseUdp,
  type Ipv4,
  type Tcp,
} from './packets.ts';
import { TcpConnection, type TcpConnectionIo } from './tcp-connection.ts';

export const NAT_NETWORK = 0x0a000200;
export const NAT_GATEWAY = 0x0a000202;
export const NAT_DNS = 0x0a000203;
export const NAT_GUEST = 0x0a00020f;
const NAT_MASK = 0xffffff00;
/** The gateway's MAC, as QEMU's user networking uses it. */
export const GATEWAY_MAC = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
const IP_BROADCAST = 0xffffffff;
/** The guest link's MTU: IP packets longer than this are fragmented toward the guest. */
const GUEST_MTU = 1500;
/** Largest UDP payload one IPv4 datagram carries (65,535 less the IP and UDP headers). */
const MAX_UDP_PAYLOAD = 65507;

export interface PortForward {
  readonly proto: 'tcp' | 'udp';
  /** Host address to bind: 127.0.0.1 or ::1 unless the user chose another. */
  readonly hostAddress: string;
  readonly hostPort: number;
  readonly guestPort: number;
}

export interface NatOptions {
  /** The guest NIC's MAC, until the guest shows another. */
  readonly guestMac: Uint8Array;
  readonly hostAccess: boolean;
  readonly forwards?: readonly PortForward[];
  /** A frame for the guest's NIC. */
  readonly toGuest: (frame: Uint8Array) => void;
  readonly maxConnections?: number;
  readonly maxUdpFlows?: number;
  /** Peers one UDP flow remembers as allowed to answer; the one sent to longest ago goes first. */
  readonly maxUdpPeers?: number;
  readonly tcpIdleMs?: number;
  readonly udpIdleMs?: number;
  /** The host resolver (tests substitute one). */
  readonly resolve?: typeof lookup;
}

export interface NatCounters {
  framesFromGuest: number;
  framesToGuest: number;
  bytesFromGuest: number;
  bytesToGuest: number;
  /** Frames dropped as malformed: too short, bad lengths, bad checksums. */
  malformed: number;
  /** IP fragments dropped: malformed, overlapping, evicted, or of a datagram that timed out. */
  fragments: number;
  /** Connections or datagrams refused: host access off, a forbidden address, or a cap reached. */
  refused: number;
}

interface UdpFlow {
  readonly socket: UdpSocket;
  readonly guestPort: number;
  readonly guestIp: number;
  /** Peers the guest sent to, least recently first: only they may answer (address- and port-restricted). */
  readonly peers: Set<string>;
  timer: NodeJS.Timeout | null;
}

interface UdpForwardSession {
  readonly server: UdpSocket;
  readonly peer: RemoteInfo;
  readonly gatewayPort: number;
  readonly guestPort: number;
  timer: NodeJS.Timeout | null;
}

export class Nat {
  readonly counters: NatCounters = { framesFromGuest: 0, framesToGuest: 0, bytesFromGuest: 0, bytesToGuest: 0, malformed: 0, fragments: 0, refused: 0 };
  private guestMac: Uint8Array;
  private readonly tcp = new Map<string, TcpConnection>();
  private readonly udp = new Map<string, UdpFlow>();
  private readonly udpForwardByPort = new Map<number, UdpForwardSession>();
  private readonly udpForwardByPeer = new Map<string, UdpForwardSession>();
  private readonly servers: (Server | UdpSocket)[] = [];
  private readonly usedPorts = new Set<number>();
  private nextPort = 49152;
  private dnsInFlight = 0;
  private closed = false;
  private readonly reassembly = new IpReassembly(() => performance.now());

  constructor(private readonly o: NatOptions) {
    this.guestMac = o.guestMac.slice();
  }

  get connections(): number {
    return this.tcp.size;
  }

  /** Opens the port forwards; each one that cannot be opened is reported and left out. */
  async start(): Promise<string[]> {
    const problems: string[] = [];
    for (const f of this.o.forwards ?? []) {
      try {
        await (f.proto === 'tcp' ? this.listenTcp(f) : this.listenUdp(f));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const where = `${f.proto} ${f.hostAddress.includes(':') ? `[${f.hostAddress}]` : f.hostAddress}:${f.hostPort}`;
        problems.push(
          code === 'EADDRINUSE'
            ? `port forward ${where} -> guest port ${f.guestPort} is off: host port ${f.hostPort} is already in use`
            : `port forward ${where} -> guest port ${f.guestPort} is off: ${(e as Error).message}`,
        );
      }
    }
    return problems;
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.tcp.values()]) c.abort();
    for (const f of this.udp.values()) this.dropUdpFlow(f);
    for (const s of this.udpForwardByPort.values()) if (s.timer) clearTimeout(s.timer);
    for (const s of this.servers) s.close();
  }

  // ---- frames from the guest ----

  fromGuest(frame: Uint8Array): void {
    if (this.closed) return;
    this.counters.framesFromGuest++;
    this.counters.bytesFromGuest += frame.length;
    const eth = parseEthernet(frame);
    if (!eth) return void this.counters.malformed++;
    const toUs = sameMac(eth.dst, GATEWAY_MAC) || sameMac(eth.dst, BROADCAST_MAC);
    if (!toUs) return;
    if (!(eth.src[0]! & 1)) this.guestMac = eth.src.slice();
    if (eth.type === ETH_ARP) return this.arp(eth.payload);
    if (eth.type !== ETH_IPV4) return;
    let ip = parseIpv4(eth.payload);
    if (!ip) return void this.counters.malformed++;
    if (ip.fragment) {
      const whole = this.reassembly.add(ip.raw);
      this.counters.fragments = this.reassembly.counters.dropped + this.reassembly.counters.timedOut;
      ip = whole && parseIpv4(whole);
      if (!ip) return;
    }
    if (ip.proto === IP_ICMP) return this.icmp(ip);
    if (ip.proto === IP_UDP) return this.udpFromGuest(ip);
    if (ip.proto === IP_TCP) return this.tcpFromGuest(ip);
  }

  private send(frame: Uint8Array): void {
    if (this.closed) return;
    this.counters.framesToGuest++;
    this.counters.bytesToGuest += frame.length;
    this.o.toGuest(frame);
  }

  private sendIp(dstMac: Uint8Array, packet: Uint8Array): void {
    if (packet.length <= GUEST_MTU) return this.send(buildEthernet(dstMac, GATEWAY_MAC, ETH_IPV4, packet));
    for (const f of fragmentIpv4(packet, GUEST_MTU)) this.send(buildEthernet(dstMac, GATEWAY_MAC, ETH_IPV4, f));
  }

  private arp(p: Uint8Array): void {
    const a = parseArp(p);
    if (!a) return void this.counters.malformed++;
    if (a.op !== 1 || (a.targetIp !== NAT_GATEWAY && a.targetIp !== NAT_DNS)) return;
    const reply = buildArp({ op: 2, senderMac: GATEWAY_MAC, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp });
    this.send(buildEthernet(a.senderMac, GATEWAY_MAC, ETH_ARP, reply));
  }

  private icmp(ip: Ipv4): void {
    const m = parseIcmp(ip);
    if (!m) return void this.counters.malformed++;
    // Echo requests to the gateway and the DNS address are answered here; others would need raw
    // sockets on the host, which this NAT does not use.
    if (m.type === 8 && (ip.dst === NAT_GATEWAY || ip.dst === NAT_DNS)) this.sendIp(this.guestMac, buildIcmp(ip.dst, ip.src, 0, 0, m.rest));
  }

  /** Where a guest destination goes on the host, or null when it may not be reached. */
  private hostAddressFor(ip: number): string | null {
    if (ip === NAT_GATEWAY) return this.o.hostAccess ? '127.0.0.1' : null;
    if ((ip & NAT_MASK) >>> 0 === NAT_NETWORK) return null;
    const top = ip >>> 24;
    if (top === 127 || top === 0 || top >= 224) return null;
    const address = ipToString(ip);
    // The host's own addresses are "this host" too: reachable only with host access on. Looked
    // up each time, as the host's addresses change (DHCP, VPNs).
    if (!this.o.hostAccess && hostAddresses().has(address)) return null;
    return address;
  }

  /** Guest-visible address for a host peer address (loopback is the gateway). */
  private guestVisible(address: string): number | null {
    if (address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1') return NAT_GATEWAY;
    return ipFromString(address.startsWith('::ffff:') ? address.slice(7) : address);
  }

  // ---- UDP ----

  private udpFromGuest(ip: Ipv4): void {
    const u = parseUdp(ip);
    if (!u) return void this.counters.malformed++;
    if (u.dstPort === 67 && u.srcPort === 68) return this.dhcp(u.payload);
    if (ip.dst === NAT_DNS && u.dstPort === 53) return this.dns(ip.src, u.srcPort, u.payload);
    if (ip.dst === NAT_GATEWAY) {
      const session = this.udpForwardByPort.get(u.dstPort);
      if (session && session.guestPort === u.srcPort) {
        session.server.send(u.payload, session.peer.port, session.peer.address);
        this.touchUdpSession(session);
        return;
      }
    }
    const host = this.hostAddressFor(ip.dst);
    // Port 0 cannot be sent to (Node's dgram throws for it).
    if (!host || ip.dst === IP_BROADCAST || u.dstPort === 0) {
      this.counters.refused++;
      // ICMP port unreachable, quoting the IP header and 8 bytes, as a router answers; never for a
      // broadcast or multicast destination (RFC 1122 3.2.2), which no one station answers for.
      const top = ip.dst >>> 24;
      if (ip.dst !== IP_BROADCAST && ip.dst !== (NAT_NETWORK | ~NAT_MASK) >>> 0 && (top < 224 || top >= 240)) {
        const quote = ip.raw.subarray(0, Math.min(ip.raw.length, ip.raw.length - ip.payload.length + 8));
        const rest = new Uint8Array(4 + quote.length);
        rest.set(quote, 4);
        this.sendIp(this.guestMac, buildIcmp(ip.dst, ip.src, 3, 3, rest));
      }
      return;
    }
    const local = host === '127.0.0.1';
    const key = `${u.srcPort}|${local ? 'lo' : 'any'}`;
    let flow = this.udp.get(key);
    if (!flow) {
      if (this.udp.size >= (this.o.maxUdpFlows ?? 256)) return void this.counters.refused++;
      const socket = createSocket('udp4');
      const f: UdpFlow = { socket, guestPort: u.srcPort, guestIp: ip.src, peers: new Set(), timer: null };
      socket.on('message', (msg, rinfo) => this.udpFromHost(f, msg, rinfo));
      socket.on('error', () => this.dropUdpFlow(f, key));
      socket.bind(0, local ? '127.0.0.1' : undefined);
      this.udp.set(key, f);
      flow = f;
    }
    const peer = `${host}|${u.dstPort}`;
    flow.peers.delete(peer);
    flow.peers.add(peer);
    if (flow.peers.size > (this.o.maxUdpPeers ?? 1024)) flow.peers.delete(flow.peers.values().next().value as string);
    this.touchUdp(flow, key);
    flow.socket.send(u.payload, u.dstPort, host);
  }

  private udpFromHost(f: UdpFlow, msg: Buffer, rinfo: RemoteInfo): void {
    if (!f.peers.has(`${rinfo.address}|${rinfo.port}`)) return;
    const src = this.guestVisible(rinfo.address);
    if (src === null || msg.length > MAX_UDP_PAYLOAD) return;
    this.sendIp(this.guestMac, buildUdp(src, f.guestIp, rinfo.port, f.guestPort, new Uint8Array(msg.buffer, msg.byteOffset, msg.length)));
  }

  private touchUdp(f: UdpFlow, key: string): void {
    if (f.timer) clearTimeout(f.timer);
    f.timer = setTimeout(() => this.dropUdpFlow(f, key), this.o.udpIdleMs ?? 60_000);
    f.timer.unref?.();
  }

  private dropUdpFlow(f: UdpFlow, key?: string): void {
    if (f.timer) clearTimeout(f.timer);
    try {
      f.socket.close();
    } catch {
      // already closed
    }
    if (key) this.udp.delete(key);
  }

  private dhcp(p: Uint8Array): void {
    const req = parseDhcp(p);
    if (!req) return void this.counters.malformed++;
    const ans = answerDhcp(req, { server: NAT_GATEWAY, client: NAT_GUEST, mask: NAT_MASK, dns: NAT_DNS, leaseSeconds: 86400 });
    if (!ans) return;
    const broadcast = req.broadcast || req.ciaddr === 0;
    const dstIp = broadcast ? IP_BROADCAST : NAT_GUEST;
    this.sendIp(broadcast ? BROADCAST_MAC : req.chaddr, buildUdp(NAT_GATEWAY, dstIp, 67, 68, ans.body));
  }

  private dns(guestIp: number, guestPort: number, query: Uint8Array): void {
    if (this.dnsInFlight >= 64) return void this.counters.refused++;
    this.dnsInFlight++;
    void resolveDnsQuery(query.slice(), this.o.resolve)
      .then((answer) => {
        if (answer && answer.length <= MAX_UDP_PAYLOAD) this.sendIp(this.guestMac, buildUdp(NAT_DNS, guestIp, 53, guestPort, answer));
      })
      .finally(() => this.dnsInFlight--);
  }

  // ---- TCP ----

  private tcpFromGuest(ip: Ipv4): void {
    const t = parseTcp(ip);
    if (!t) return void this.counters.malformed++;
    const key = `${t.srcPort}|${ip.dst}|${t.dstPort}`;
    const conn = this.tcp.get(key);
    if (conn) return conn.segment(t);
    if ((t.flags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
      if (!(t.flags & TCP_RST)) this.reset(ip, t);
      return;
    }
    const host = this.hostAddressFor(ip.dst);
    if (!host || this.tcp.size >= (this.o.maxConnections ?? 1024)) {
      this.counters.refused++;
      return this.reset(ip, t);
    }
    const socket = connect({ host, port: t.dstPort, allowHalfOpen: true });
    socket.setNoDelay(true);
    const c = TcpConnection.accept(t, socket, this.tcpIo(key, ip.dst, t.dstPort, ip.src, t.srcPort));
    this.tcp.set(key, c);
  }

  /** RST for a segment that belongs to no connection (RFC 9293 3.10.7.1). */
  private reset(ip: Ipv4, t: Tcp): void {
    const len = t.payload.length + (t.flags & TCP_SYN ? 1 : 0) + (t.flags & TCP_FIN ? 1 : 0);
    const seg =
      t.flags & TCP_ACK
        ? { srcPort: t.dstPort, dstPort: t.srcPort, seq: t.ack, ack: 0, flags: TCP_RST, window: 0 }
        : { srcPort: t.dstPort, dstPort: t.srcPort, seq: 0, ack: (t.seq + len) >>> 0, flags: TCP_RST | TCP_ACK, window: 0 };
    this.sendIp(this.guestMac, buildTcp(ip.dst, ip.src, seg));
  }

  private tcpIo(key: string, peerIp: number, peerPort: number, guestIp: number, guestPort: number, allocated = false): TcpConnectionIo {
    return {
      emit: (seg) => this.sendIp(this.guestMac, buildTcp(peerIp, guestIp, { ...seg, srcPort: peerPort, dstPort: guestPort })),
      closed: () => {
        this.tcp.delete(key);
        if (allocated) this.usedPorts.delete(peerPort);
      },
      idleMs: this.o.tcpIdleMs ?? 2 * 3600_000,
    };
  }

  private allocPort(): number | null {
    for (let i = 0; i < 16384; i++) {
      const p = this.nextPort;
      this.nextPort = this.nextPort >= 65535 ? 49152 : this.nextPort + 1;
      if (!this.usedPorts.has(p)) {
        this.usedPorts.add(p);
        return p;
      }
    }
    return null;
  }

  private listenTcp(f: PortForward): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket: Socket) => {
      const port = this.tcp.size < (this.o.maxConnections ?? 1024) ? this.allocPort() : null;
      if (port === null || this.closed) {
        this.counters.refused++;
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      const key = `${f.guestPort}|${NAT_GATEWAY}|${port}`;
      const c = TcpConnection.connect(socket, this.tcpIo(key, NAT_GATEWAY, port, NAT_GUEST, f.guestPort, true));
      this.tcp.set(key, c);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(f.hostPort, f.hostAddress, () => {
        server.off('error', reject);
        // A failed accept (ENOBUFS, ENOMEM) is emitted on the server: with no listener it would end
        // the host process. The forward goes on taking the connections that do arrive.
        server.on('error', () => {});
        this.servers.push(server);
        resolve();
      });
    });
  }

  private listenUdp(f: PortForward): Promise<void> {
    const server = createSocket(f.hostAddress.includes(':') ? 'udp6' : 'udp4');
    server.on('message', (msg, peer) => {
      // A source port of 0 (a raw-socket sender) could not be answered: dgram throws for it.
      if (msg.length > MAX_UDP_PAYLOAD || peer.port === 0) return;
      const peerKey = `${peer.address}|${peer.port}`;
      let s = this.udpForwardByPeer.get(peerKey);
      if (!s) {
        const port = this.udpForwardByPort.size < (this.o.maxUdpFlows ?? 256) ? this.allocPort() : null;
        if (port === null) return void this.counters.refused++;
        s = { server, peer, gatewayPort: port, guestPort: f.guestPort, timer: null };
        this.udpForwardByPeer.set(peerKey, s);
        this.udpForwardByPort.set(port, s);
      }
      this.touchUdpSession(s);
      this.sendIp(this.guestMac, buildUdp(NAT_GATEWAY, NAT_GUEST, s.gatewayPort, f.guestPort, new Uint8Array(msg.buffer, msg.byteOffset, msg.length)));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.bind(f.hostPort, f.hostAddress, () => {
        server.off('error', reject);
        server.on('error', () => {});
        this.servers.push(server);
        resolve();
      });
    });
  }

  private touchUdpSession(s: UdpForwardSession): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      this.udpForwardByPort.delete(s.gatewayPort);
      this.udpForwardByPeer.delete(`${s.peer.address}|${s.peer.port}`);
      this.usedPorts.delete(s.gatewayPort);
    }, this.o.udpIdleMs ?? 60_000);
    s.timer.unref?.();
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every IPv4 address of this host's interfaces. */
function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}
