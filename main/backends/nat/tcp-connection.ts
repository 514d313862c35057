// One TCP connection of the NAT, seen from the guest as an ordinary peer (RFC 9293): the NAT is a
// real TCP endpoint toward the guest and relays the byte stream to a host socket. It covers the
// three-way handshake in both directions (the guest connecting out, or a host port forward
// connecting in), the guest's advertised window (a zero window is probed), retransmission on a
// timeout with exponential backoff (go-back-N from the oldest unacknowledged byte) and on three
// duplicate ACKs, FIN half-close each way, and RST.
//
// Flow control is end to end and bounded: our receive window is what the host socket can still
// take (64 KiB less its unwritten backlog), so a slow host peer closes the guest's window instead
// of growing a buffer; data from the host waits in a send buffer of at most SEND_HIGH bytes, and
// the host socket is paused above it. No congestion control: the link to the guest is a
// memory copy, and loss on it (a full NIC queue) is recovered by retransmission.

import type { Socket } from 'node:net';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, seqDiff, seqLe, seqLt, type Tcp, type TcpOut } from './packets.ts';

const RCV_WINDOW = 65535;
const SEND_HIGH = 256 * 1024;
const SEND_LOW = 64 * 1024;
/** Our MSS toward the guest: a 1500-byte MTU less IPv4 and TCP headers. */
export const NAT_MSS = 1460;
const RTO_INITIAL_MS = 250;
const RTO_MAX_MS = 8000;
const MAX_RETRIES = 10;

export type TcpState = 'connecting' | 'syn-sent' | 'syn-received' | 'established' | 'closed';

export interface TcpConnectionIo {
  /** Sends a segment to the guest; ports are filled in by the NAT. */
  emit(seg: Omit<TcpOut, 'srcPort' | 'dstPort'>): void;
  /** The connection is over; the NAT forgets it. */
  closed(): void;
  readonly idleMs: number;
}

export class TcpConnection {
  state: TcpState;
  private readonly iss = (Math.random() * 0x100000000) >>> 0;
  private sndUna: number;
  private sndNxt: number;
  private sndWnd = 0;
  private mss = 536;
  private rcvNxt = 0;
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  private hostEnded = false;
  private finSent = false;
  private finAcked = false;
  private guestFin = false;
  private rto = RTO_INITIAL_MS;
  private retries = 0;
  private dupAcks = 0;
  private rtoTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly io: TcpConnectionIo,
    state: TcpState,
  ) {
    this.state = state;
    this.sndUna = this.sndNxt = this.iss;
    socket.on('data', (d: Buffer) => this.fromHost(d));
    socket.on('end', () => {
      this.hostEnded = true;
      this.pump();
    });
    socket.on('drain', () => this.ack());
    socket.on('error', () => this.hostFailed());
    socket.on('close', () => {
      if (this.state !== 'closed' && !(this.hostEnded && this.guestFin)) this.hostFailed();
    });
    this.touch();
  }

  /** The guest sent a SYN: connect to the host side, answer SYN-ACK once it is connected. */
  static accept(syn: Tcp, socket: Socket, io: TcpConnectionIo): TcpConnection {
    const c = new TcpConnection(socket, io, 'connecting');
    c.rcvNxt = (syn.seq + 1) >>> 0;
    c.sndWnd = syn.window;
    c.mss = Math.min(syn.mss ?? 536, NAT_MSS);
    socket.once('connect', () => {
      if (c.state !== 'connecting') return;
      c.state = 'syn-received';
      c.sendSyn();
    });
    return c;
  }

  /** A host client reached a port forward: open a connection to the guest with our SYN. */
  static connect(socket: Socket, io: TcpConnectionIo): TcpConnection {
    socket.pause();
    const c = new TcpConnection(socket, io, 'syn-sent');
    c.sendSyn();
    return c;
  }

  private sendSyn(): void {
    const synAck = this.state === 'syn-received';
    this.io.emit({ seq: this.iss, ack: synAck ? this.rcvNxt : 0, flags: TCP_SYN | (synAck ? TCP_ACK : 0), window: this.window(), mss: NAT_MSS });
    this.sndNxt = (this.iss + 1) >>> 0;
    this.armRto();
  }

  /** What we can still take from the guest: the host socket's room. */
  private window(): number {
    return Math.max(0, RCV_WINDOW - this.socket.writableLength);
  }

  private ack(): void {
    if (this.state === 'established') this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK, window: this.window() });
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.abort(), this.io.idleMs);
    this.idleTimer.unref?.();
  }

  /** A segment from the guest for this connection. */
  segment(s: Tcp): void {
    if (this.state === 'closed') return;
    this.touch();
    if (s.flags & TCP_RST) {
      // Only a reset inside the window is believed (RFC 5961's blind-reset check, simplified).
      const inWindow = this.state === 'syn-sent' ? s.ack === this.sndNxt : seqLe(this.rcvNxt, s.seq) && seqLt(s.seq, (this.rcvNxt + Math.max(1, this.window())) >>> 0);
      if (inWindow) {
        this.resetHost();
        this.close();
      }
      return;
    }
    if (this.state === 'connecting') return; // the guest's SYN again: the answer comes once connected
    if (this.state === 'syn-sent') {
      if ((s.flags & (TCP_SYN | TCP_ACK)) !== (TCP_SYN | TCP_ACK) || s.ack !== this.sndNxt) {
        if (s.flags & TCP_ACK) this.io.emit({ seq: s.ack, ack: 0, flags: TCP_RST, window: 0 });
        return;
      }
      this.rcvNxt = (s.seq + 1) >>> 0;
      this.mss = Math.min(s.mss ?? 536, NAT_MSS);
      this.established(s);
      this.ack();
      this.socket.resume();
      return;
    }
    if (s.flags & TCP_SYN) {
      // A retransmitted SYN: our SYN-ACK was lost, or it is a stray; answer with where we are.
      if (this.state === 'syn-received') this.sendSyn();
      else this.ack();
      return;
    }
    if (!(s.flags & TCP_ACK)) return;
    if (this.state === 'syn-received') {
      if (s.ack !== this.sndNxt) {
        this.io.emit({ seq: s.ack, ack: 0, flags: TCP_RST, window: 0 });
        return;
      }
      this.established(s);
    }
    this.onAck(s);
    this.onData(s);
    if ((this.state as TcpState) !== 'closed' && this.guestFin && this.finAcked) this.close();
  }

  private established(s: Tcp): void {
    this.state = 'established';
    this.sndUna = this.sndNxt;
    this.sndWnd = s.window;
    this.retries = 0;
    this.rto = RTO_INITIAL_MS;
    this.clearRto();
  }

  private onAck(s: Tcp): void {
    const a = s.ack;
    if (seqLt(this.sndUna, a) && seqLe(a, this.sndNxt)) {
      let n = seqDiff(a, this.sndUna);
      if (this.finSent && a === this.sndNxt) {
        this.finAcked = true;
        n--;
      }
      this.consume(Math.min(n, this.buffered));
      this.sndUna = a;
      this.retries = 0;
      this.dupAcks = 0;
      this.rto = RTO_INITIAL_MS;
      if (this.sndUna === this.sndNxt) this.clearRto();
      else this.armRto();
      if (this.socket.isPaused() && this.buffered < SEND_LOW && this.state === 'established') this.socket.resume();
    } else if (a === this.sndUna && s.payload.length === 0 && !(s.flags & TCP_FIN) && this.sndNxt !== this.sndUna && s.window === this.sndWnd) {
      if (++this.dupAcks === 3) this.retransmit();
    }
    this.sndWnd = s.window;
    this.pump();
  }

  private onData(s: Tcp): void {
    let data = s.payload;
    let seq = s.seq;
    const fin = (s.flags & TCP_FIN) !== 0;
    if (data.length === 0 && !fin) return;
    if (this.guestFin) {
      this.ack();
      return;
    }
    // Trim what we already have; anything starting beyond rcvNxt is out of order and dropped
    // (the duplicate ACK below tells the guest where we are).
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, seq);
      if (skip >= data.length + (fin ? 1 : 0)) {
        this.ack();
        return;
      }
      data = data.subarray(Math.min(skip, data.length));
      seq = this.rcvNxt;
    }
    if (seq !== this.rcvNxt) {
      this.ack();
      return;
    }
    const room = this.window();
    const take = data.subarray(0, Math.min(data.length, room));
    if (take.length) {
      this.socket.write(take);
      this.rcvNxt = (this.rcvNxt + take.length) >>> 0;
    }
    if (fin && take.length === data.length) {
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      this.guestFin = true;
      this.socket.end();
    }
    this.ack();
  }

  private fromHost(d: Buffer): void {
    this.touch();
    this.chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.length));
    this.buffered += d.length;
    if (this.buffered > SEND_HIGH) this.socket.pause();
    this.pump();
  }

  /** Bytes [offset, offset + n) of the send buffer. */
  private peek(offset: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.chunks) {
      if (at >= n) break;
      if (offset >= c.length) {
        offset -= c.length;
        continue;
      }
      const k = Math.min(c.length - offset, n - at);
      out.set(c.subarray(offset, offset + k), at);
      at += k;
      offset = 0;
    }
    return out;
  }

  private consume(n: number): void {
    this.buffered -= n;
    while (n > 0 && this.chunks.length) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        n -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  /** Sends what the guest's window allows, then our FIN once the host side ended and all is sent. */
  private pump(): void {
    if (this.state !== 'established') return;
    for (;;) {
      const offset = seqDiff(this.sndNxt, this.sndUna);
      const avail = this.buffered - offset;
      const room = this.sndWnd - offset;
      if (avail <= 0 || room <= 0) break;
      const n = Math.min(avail, room, this.mss);
      this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK | TCP_PSH, window: this.window(), payload: this.peek(offset, n) });
      this.sndNxt = (this.sndNxt + n) >>> 0;
    }
    if (this.hostEnded && !this.finSent && seqDiff(this.sndNxt, this.sndUna) === this.buffered) {
      this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK | TCP_FIN, window: this.window() });
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.finSent = true;
    }
    // Unacknowledged data, or data the guest's closed window holds back (the persist case).
    if (this.sndNxt !== this.sndUna || this.buffered > 0) this.armRto();
  }

  private armRto(): void {
    if (this.rtoTimer) return;
    this.rtoTimer = setTimeout(() => {
      this.rtoTimer = null;
      this.onRto();
    }, this.rto);
    this.rtoTimer.unref?.();
  }

  private clearRto(): void {
    if (this.rtoTimer) clearTimeout(this.rtoTimer);
    this.rtoTimer = null;
  }

  private onRto(): void {
    if (this.state === 'closed') return;
    const probing = this.state === 'established' && this.sndWnd === 0 && this.sndNxt === this.sndUna;
    if (!probing && ++this.retries > MAX_RETRIES) return this.abort();
    this.rto = Math.min(this.rto * 2, RTO_MAX_MS);
    if (this.state === 'syn-sent' || this.state === 'syn-received') {
      this.sendSyn();
      return;
    }
    if (probing && this.buffered > 0) {
      // Zero-window probe: one byte past the window; if the window opened, the guest takes it.
      this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK, window: this.window(), payload: this.peek(0, 1) });
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.armRto();
      return;
    }
    this.retransmit();
  }

  /** Go back to the oldest unacknowledged byte and send again. */
  private retransmit(): void {
    this.sndNxt = this.sndUna;
    if (this.finSent && !this.finAcked) this.finSent = false;
    this.dupAcks = 0;
    this.clearRto();
    this.pump();
  }

  private hostFailed(): void {
    if (this.state === 'closed') return;
    // The host side went away without a clean close: the guest gets a reset.
    if (this.state !== 'connecting' && this.state !== 'syn-sent') this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK, window: 0 });
    else if (this.state === 'connecting') this.io.emit({ seq: 0, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK, window: 0 });
    this.close();
  }

  /** Gives up (idle, or the guest stopped answering): reset both sides. */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'connecting') this.io.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK, window: 0 });
    this.resetHost();
    this.close();
  }

  /** The host peer sees a reset too (RST, not FIN), as it would from a real guest. */
  private resetHost(): void {
    try {
      this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }

  private close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearRto();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.io.closed();
  }
}
