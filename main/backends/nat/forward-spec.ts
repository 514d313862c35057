// Port-forward and MAC settings as users write them, checked into the NAT's terms. Two spellings
// of a forward are accepted:
//
//   tcp:8080:80            tcp:127.0.0.1:8080:80     tcp:[::1]:8080:80      (Hostbox's --forward)
//   tcp:127.0.0.1:8080-:80 tcp::8080-:80             udp:[::1]:5353-:53     (QEMU's hostfwd)
//
// Without an address the host side binds 127.0.0.1. Any non-loopback address is allowed only when
// written out, and `exposed` says so, so callers can warn that other machines can connect.

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { PortForward } from './nat.ts';

export interface ParsedForward extends PortForward {
  /** The host side is reachable from other machines (not a loopback address). */
  readonly exposed: boolean;
}

function port(s: string, what: string, spec: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new Error(`port forward "${spec}": ${what} "${s}" is not a port number 1-65535`);
  return Number(s);
}

export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

export function parseForward(spec: string): ParsedForward {
  const m = /^(tcp|udp):(.*)$/.exec(spec.trim());
  if (!m) throw new Error(`port forward "${spec}" must start with tcp: or udp:`);
  const proto = m[1] as 'tcp' | 'udp';
  let rest = m[2]!;
  let hostAddress = '';
  // A bracketed IPv6 address first.
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostAddress = v6[1]!;
    rest = v6[2]!;
  }
  let hostPort: string;
  let guestPort: string;
  const qemu = /^(?:([^:]*):)?(\d+)-(?:[^:]*):(\d+)$/.exec(rest);
  if (qemu) {
    hostAddress ||= qemu[1] ?? '';
    hostPort = qemu[2]!;
    guestPort = qemu[3]!;
  } else {
    const parts = rest.split(':');
    if (parts.length === 3 && !v6) [hostAddress, hostPort, guestPort] = parts as [string, string, string];
    else if (parts.length === 2) [hostPort, guestPort] = parts as [string, string];
    else throw new Error(`port forward "${spec}" is not tcp:HOSTPORT:GUESTPORT, tcp:ADDRESS:HOSTPORT:GUESTPORT or QEMU's tcp:ADDRESS:HOSTPORT-:GUESTPORT`);
  }
  hostAddress ||= '127.0.0.1';
  if (!isIP(hostAddress)) throw new Error(`port forward "${spec}": "${hostAddress}" is not an IP address`);
  return { proto, hostAddress, hostPort: port(hostPort, 'host port', spec), guestPort: port(guestPort, 'guest port', spec), exposed: !isLoopback(hostAddress) };
}

/** The canonical spelling of a forward (what the library stores and the UI lists). */
export function formatForward(f: PortForward): string {
  return `${f.proto}:${f.hostAddress.includes(':') ? `[${f.hostAddress}]` : f.hostAddress}:${f.hostPort}:${f.guestPort}`;
}

/** A locally administered MAC in QEMU's 52:54:00 block, the same for the same VM id every time. */
export function macForVm(id: string): string {
  const h = createHash('sha256').update(`hostbox-mac:${id}`).digest();
  return ['52', '54', '00', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function parseMac(s: string): number[] {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s.trim());
  if (!m) throw new Error(`MAC address "${s}" is not six hex bytes like 52:54:00:12:34:56`);
  const bytes = m.slice(1).map((x) => parseInt(x, 16));
  if (bytes[0]! & 1) throw new Error(`MAC address "${s}" is a multicast address: the first byte must be even`);
  return bytes;
}
