// One TCP connection of the NAT, seen from the guest as an ordinary peer (RFC 9293): the NAT is a
// real TCP endpoint toward the guest and relays the byte stream to a host socket. It covers the
// three-way handshake in both directions (the guest connecting out, or a host port forward
// connecting in), the guest's advertised window (a zero window is probed) with window scaling
// (RFC 7323) when the guest offers it, retransmission on a timeout with exponential backoff and
// fast retransmit with NewReno recovery on three duplicate ACKs (RFC 5681, RFC 6582), FIN
// half-close each way, and RST.
//
// Flow control is end to end and bounded: our receive window is what the host socket can still
// take (RCV_BUFFER less its unwritten backlog), so a slow host peer closes the guest's window
// instead of growing a buffer; data from the host waits in a send buffer of at most SEND_HIGH
// bytes, and the host socket is paused above it.
//
// Congestion control is RFC 5681's: slow start from RFC 6928's initial window of ten segments,
// congestion avoidance past ssthresh. The link to the guest is a memory copy, but the guest's NIC
// is not: it holds what its receive ring and FIFO hold (about 96 frames with Linux's pcnet32) and
// drops the rest, exactly as a congested router does. A sender that opens with the guest's whole
// window (Linux offers megabytes once its buffers autotune) overruns the ring at once: measured on
// the Debian guest, each such burst cost the guest a storm of duplicate ACKs and one round trip
// per lost segment to repair. Going back N after a timeout restarts from one segment; three
// duplicate ACKs resend one segment, not the window (resending the window is what made every
// duplicate the guest saw cost another round of duplicates).
//
// Segments are full-sized unless they carry the last of what we have: sender-side silly window
// avoidance (RFC 9293 3.8.6.2.1). Without it, a congestion window grown by a fraction of a
// segment per ACK sent a full segment and a sliver (21, 30, 61 bytes...) for nearly every ACK,
// and each sliver costs the emulated guest a whole frame's work for a few bytes.
//
// ACKs for the guest's data are delayed to the end of the event loop's turn, so that the frames
// one VMM message carried are answered with one ACK (a stretch ACK, as GRO produces on real
// hosts): every ACK costs the emulated guest an interrupt and a trip through its stack. Data out
// of order, a FIN, and half a window unacknowledged are answered at once.

import type { Socket } from 'node:net';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, seqDiff, seqLe, seqLt, type Tcp, type TcpOut } from './packets.ts';

/** What the host socket may hold unwritten before our window closes (with window scaling; 64 KiB less one without). */
const RCV_BUFFER = 256 * 1024;
/** Our window scale shift: 256 KiB needs 3 (a window field of 32,768 units of 8 bytes). */
const RCV_SHIFT = 3;
const SEND_HIGH = 256 * 1024;
const SEND_LOW = 64 * 1024;
/**
 * The send buffer keeps each read from the host socket as it came; a peer sending a byte at a
 * time made a piece per byte (an object each, tens of MB per connection, and seconds to shift
 * them out once acknowledged). Reading pauses at this many pieces too: the kernel then gathers
 * what the peer sends, and reads after the pause come in large pieces.
 */
const SEND_MAX_CHUNKS = 1024;
/** The congestion window's ceiling, and ssthresh before any loss: larger than any window a guest offers. */
const CWND_MAX = 8 * 1024 * 1024;
/** RFC 6928's initial window, in segments (at most 14,600 bytes). */
const INITIAL_SEGMENTS = 10;
/**
 * Slow start's threshold never drops below this after a loss: 44 full segments, which the guest's
 * NIC takes without dropping any (the PCnet model holds 64 frames beyond its ring), so after a
 * loss the window grows back exponentially to where nothing was ever at risk, not one segment per
 * round trip (round trips are long when the guest's CPU is starved).
 */
const SSTHRESH_MIN = 64 * 1024;
/** Our MSS toward the guest: a 1500-byte MTU less IPv4 and TCP headers. */
export const NAT_MSS = 1460;
/**
 * The smallest MSS a guest may ask for (Linux's tcp_min_snd_mss): an MSS option of 0 left a
 * congestion window of 0 and segments of no bytes, sent in an endless loop once recovery set it.
 */
const MIN_MSS = 48;
// RFC 6298's estimator with its 1 s floor (not Linux's 200 ms): the guest's CPU is emulated and
// shares the host, so it can stall for hundreds of milliseconds with every segment safely queued,
// and a spurious timeout costs a whole slow start; real loss (a full NIC ring) is mostly repaired
// by fast retransmit. An 8 s ceiling: a guest that does not answer for that long is paused or
// gone, and the idle timeout decides.
const RTO_INITIAL_MS = 1000;
const RTO_MIN_MS = 1000;
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
  /** Window scale shifts, each way; 0 unless both SYNs carried the option. */
  private sndShift = 0;
  private rcvShift = 0;
  private cwnd = 0;
  private ssthresh = CWND_MAX;
  /** The largest window the guest has offered: a segment of half of it is not silly (RFC 9293 3.8.6.2.1). */
  private maxSndWnd = 0;
  /** In fast recovery until an ACK reaches `recover` (RFC 6582). */
  private recovering = false;
  private recover = 0;
  /** A delayed ACK is scheduled for the end of this turn. */
  private ackTimer: NodeJS.Immediate | null = null;
  /** Bytes taken from the guest since our last ACK. */
  private unacked = 0;
  private mss = 536;
  private rcvNxt = 0;
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  private hostEnded = false;
  private finSent = false;
  private finAcked = false;
  private guestFin = false;
  private rto = RTO_INITIAL_MS;
  private baseRto = RTO_INITIAL_MS;
  private srtt = 0;
  private rttvar = 0;
  /** One segment timed at a time (Karn: never a retransmitted one). */
  private timing: { seq: number; at: number } | null = null;
  /** The highest sequence number sent: ACKs up to it are good even after going back N. */
  private sndMax: number;
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
    this.sndUna = this.sndNxt = this.sndMax = this.iss;
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
    c.mss = Math.max(MIN_MSS, Math.min(syn.mss ?? 536, NAT_MSS));
    if (syn.wscale !== null) {
      c.sndShift = syn.wscale;
      c.rcvShift = RCV_SHIFT;
    }
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

  /** Sends a segment; the window goes in scaled (never in a SYN, RFC 7323 2.2), and any ACK in it is the delayed one. */
  private emit(seg: Omit<TcpOut, 'srcPort' | 'dstPort' | 'window'>): void {
    const window = seg.flags & TCP_RST ? 0 : seg.flags & TCP_SYN ? Math.min(0xffff, this.window()) : this.window() >> this.rcvShift;
    if (seg.flags & TCP_ACK) {
      this.unacked = 0;
      if (this.ackTimer) clearImmediate(this.ackTimer);
      this.ackTimer = null;
    }
    this.io.emit({ ...seg, window });
  }

  private sendSyn(): void {
    const synAck = this.state === 'syn-received';
    // Our SYN offers scaling; a SYN-ACK answers the guest's offer only if it made one.
    const wscale = !synAck || this.rcvShift ? RCV_SHIFT : undefined;
    this.emit({ seq: this.iss, ack: synAck ? this.rcvNxt : 0, flags: TCP_SYN | (synAck ? TCP_ACK : 0), mss: NAT_MSS, wscale });
    this.sndNxt = this.sndMax = (this.iss + 1) >>> 0;
    this.armRto();
  }

  /** What we can still take from the guest: the host socket's room. */
  private window(): number {
    return Math.max(0, (this.rcvShift ? RCV_BUFFER : 0xffff) - this.socket.writableLength);
  }

  private ack(): void {
    if (this.state === 'established') this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK });
  }

  /** ACKs at the end of this turn, or now once half our window waits for one. */
  private ackSoon(): void {
    if (this.unacked >= (this.rcvShift ? RCV_BUFFER : 0xffff) / 2) return this.ack();
    this.ackTimer ??= setImmediate(() => {
      this.ackTimer = null;
      this.ack();
    });
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
        if (s.flags & TCP_ACK) this.emit({ seq: s.ack, ack: 0, flags: TCP_RST });
        return;
      }
      this.rcvNxt = (s.seq + 1) >>> 0;
      this.mss = Math.max(MIN_MSS, Math.min(s.mss ?? 536, NAT_MSS));
      if (s.wscale !== null) {
        this.sndShift = s.wscale;
        this.rcvShift = RCV_SHIFT;
      }
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
        this.emit({ seq: s.ack, ack: 0, flags: TCP_RST });
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
    this.sndWnd = s.flags & TCP_SYN ? s.window : s.window << this.sndShift;
    this.maxSndWnd = this.sndWnd;
    this.cwnd = Math.min(INITIAL_SEGMENTS * this.mss, Math.max(2 * this.mss, 14600));
    this.retries = 0;
    this.rto = this.baseRto;
    this.clearRto();
  }

  private onAck(s: Tcp): void {
    const a = s.ack;
    const wnd = s.window << this.sndShift;
    if (seqLt(this.sndUna, a) && seqLe(a, this.sndMax)) {
      const acked = seqDiff(a, this.sndUna);
      // After going back N, an ACK for what was sent before still counts.
      if (seqLt(this.sndNxt, a)) this.sndNxt = a;
      if (this.hostEnded && a === this.sndMax && seqDiff(this.sndMax, this.sndUna) === this.buffered + 1) {
        this.finSent = true;
        this.finAcked = true;
      }
      this.consume(Math.min(acked, this.buffered));
      this.sndUna = a;
      this.retries = 0;
      this.dupAcks = 0;
      if (this.timing && seqLe(this.timing.seq, a)) {
        this.sampleRtt(performance.now() - this.timing.at);
        this.timing = null;
      }
      if (this.recovering) {
        // A partial ACK: the next hole is resent at once (RFC 6582 3.2 step 3); a full one ends recovery.
        if (seqLt(a, this.recover)) this.resendFirst();
        else {
          this.recovering = false;
          this.cwnd = this.ssthresh;
        }
      } else if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, 2 * this.mss);
      else this.cwnd += Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd));
      this.cwnd = Math.min(this.cwnd, CWND_MAX);
      this.rto = this.baseRto;
      this.clearRto();
      if (this.sndUna !== this.sndNxt) this.armRto();
      if (this.socket.isPaused() && this.buffered < SEND_LOW && this.chunks.length < SEND_MAX_CHUNKS / 2 && this.state === 'established') this.socket.resume();
    } else if (a === this.sndUna && s.payload.length === 0 && !(s.flags & TCP_FIN) && this.sndNxt !== this.sndUna && wnd === this.sndWnd && !this.recovering) {
      if (++this.dupAcks === 3) {
        // Fast retransmit (RFC 5681 3.2): the segment the guest is missing, once.
        this.ssthresh = Math.max(Math.floor(seqDiff(this.sndNxt, this.sndUna) / 2), SSTHRESH_MIN);
        this.cwnd = this.ssthresh;
        this.recovering = true;
        this.recover = this.sndMax;
        this.resendFirst();
      }
    } else if (a === this.sndUna && this.sndNxt === this.sndUna) {
      // Nothing in flight: the answer to a zero-window probe. A guest that answers keeps the
      // connection however long its window stays closed (RFC 1122 4.2.2.17).
      this.retries = 0;
    }
    this.sndWnd = wnd;
    this.maxSndWnd = Math.max(this.maxSndWnd, wnd);
    this.pump();
  }

  /** Resends the oldest unacknowledged segment (or the FIN, if that is all that is left). */
  private resendFirst(): void {
    this.timing = null;
    const n = Math.min(this.buffered, this.mss, Math.max(0, seqDiff(this.sndMax, this.sndUna)));
    if (n > 0) this.emit({ seq: this.sndUna, ack: this.rcvNxt, flags: TCP_ACK | TCP_PSH, payload: this.peek(0, n) });
    else if (this.finSent && !this.finAcked) this.emit({ seq: this.sndUna, ack: this.rcvNxt, flags: TCP_ACK | TCP_FIN });
    this.clearRto();
    this.armRto();
  }

  private sampleRtt(ms: number): void {
    if (this.srtt === 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
    this.baseRto = Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, this.srtt + Math.max(10, 4 * this.rttvar)));
  }

  private onData(s: Tcp): void {
    let data = s.payload;
    let seq = s.seq;
    const fin = (s.flags & TCP_FIN) !== 0;
    if (data.length === 0 && !fin) {
      // An empty segment outside the window is answered with an ACK (RFC 9293 3.10.7.4): Linux's
      // keepalives and zero-window probes carry the sequence number just before it and count on
      // the answer, or give the connection up.
      if (!seqLe(this.rcvNxt, seq) || !seqLt(seq, (this.rcvNxt + Math.max(1, this.window())) >>> 0)) this.ack();
      return;
    }
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
      this.unacked += take.length;
    }
    if (fin && take.length === data.length) {
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      this.guestFin = true;
      this.socket.end();
      return this.ack();
    }
    // What did not fit (a window the guest overran) is answered at once, with where we are.
    if (take.length < data.length) return this.ack();
    this.ackSoon();
  }

  private fromHost(d: Buffer): void {
    this.touch();
    this.chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.length));
    this.buffered += d.length;
    if (this.buffered > SEND_HIGH || this.chunks.length >= SEND_MAX_CHUNKS) this.socket.pause();
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
      const room = Math.min(this.sndWnd, this.cwnd) - offset;
      if (avail <= 0 || room <= 0) break;
      const n = Math.min(avail, room, this.mss);
      // Silly window avoidance: a short segment only when it empties our buffer, when it is half
      // the largest window the guest offered, or when nothing is in flight (no ACK would come to
      // open the window further; RFC 9293's override timer, at zero).
      if (n < this.mss && n < avail && n < this.maxSndWnd / 2 && this.sndNxt !== this.sndUna) break;
      this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK | TCP_PSH, payload: this.peek(offset, n) });
      const fresh = this.sndNxt === this.sndMax;
      this.sndNxt = (this.sndNxt + n) >>> 0;
      if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
      if (fresh) this.timing ??= { seq: this.sndNxt, at: performance.now() };
    }
    if (this.hostEnded && !this.finSent && seqDiff(this.sndNxt, this.sndUna) === this.buffered) {
      this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_ACK | TCP_FIN });
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
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
    // Probes count too: a guest that stops answering them is gone.
    if (++this.retries > MAX_RETRIES) return this.abort();
    this.rto = Math.min(this.rto * 2, RTO_MAX_MS);
    if (this.state === 'syn-sent' || this.state === 'syn-received') {
      this.sendSyn();
      return;
    }
    if (probing && this.buffered > 0) {
      // Zero-window probe: an empty segment just left of the guest's window, which it answers
      // with an ACK carrying its window. (A byte sent past the window instead left sndNxt ahead,
      // so every other timeout counted as a loss and gave the connection up in minutes.)
      this.emit({ seq: (this.sndUna - 1) >>> 0, ack: this.rcvNxt, flags: TCP_ACK });
      this.armRto();
      return;
    }
    // Loss (or a guest that stopped): back to one segment, growing again as ACKs come (RFC 5681 3.1).
    this.ssthresh = Math.max(Math.floor(seqDiff(this.sndMax, this.sndUna) / 2), SSTHRESH_MIN);
    this.cwnd = this.mss;
    this.recovering = false;
    this.goBack();
  }

  /** Go back to the oldest unacknowledged byte and send again, as the congestion window allows. */
  private goBack(): void {
    this.timing = null;
    this.sndNxt = this.sndUna;
    if (this.finSent && !this.finAcked) this.finSent = false;
    this.dupAcks = 0;
    this.clearRto();
    this.pump();
  }

  private hostFailed(): void {
    if (this.state === 'closed') return;
    // The host side went away without a clean close: the guest gets a reset.
    if (this.state !== 'connecting' && this.state !== 'syn-sent') this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK });
    else if (this.state === 'connecting') this.emit({ seq: 0, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK });
    this.close();
  }

  /** Gives up (idle, or the guest stopped answering): reset both sides. */
  abort(): void {
    if (this.state === 'closed') {
      // Closed toward the guest, still handing its last data to a host peer: that ends too.
      if (!this.socket.destroyed) this.resetHost();
      return;
    }
    if (this.state !== 'connecting') this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK });
    this.resetHost();
    this.close();
  }

  /** The host peer sees a reset too (RST, not FIN), as it would from a real guest. */
  private resetHost(): void {
    // A connect still under way is closed at once: resetAndDestroy would wait for it to finish,
    // minutes to an address that does not answer, holding a socket the NAT no longer counts.
    if (this.socket.connecting) return void this.socket.destroy();
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
    if (this.ackTimer) clearImmediate(this.ackTimer);
    this.ackTimer = null;
    if (!this.socket.destroyed && this.socket.writableLength > 0) {
      // Both sides closed, but what the guest sent still waits for a host peer that is not
      // reading. Forgotten now, the socket would stay open outside the connection cap for as long
      // as the peer likes; so the connection keeps its place until the socket is done, and the
      // idle timeout (still running) resets it if that takes too long.
      this.socket.once('close', () => this.forget());
      return;
    }
    this.forget();
  }

  private forget(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.io.closed();
  }
}
