// A VM's recent serial output, so a page opened later sees the console's history: a fixed ring of
// bytes. Appending costs only a copy of the new bytes (the string that was rebuilt per byte before
// capped a chatty guest at a few KB/s), and the text is made only when someone asks for it.
// Serial bytes are shown as Latin-1, one character per byte, so positions in the stream count both.

export class SerialHistory {
  private readonly ring: Uint8Array;
  /** Bytes ever appended: the stream position just after the newest byte. */
  total = 0;

  constructor(readonly capacity: number) {
    this.ring = new Uint8Array(capacity);
  }

  append(bytes: Uint8Array): void {
    const cap = this.capacity;
    if (bytes.length === 1) {
      // The common case from a UART: no views made.
      this.ring[this.total++ % cap] = bytes[0]!;
      return;
    }
    // Only the newest `cap` bytes of a large append can survive it.
    const src = bytes.length > cap ? bytes.subarray(bytes.length - cap) : bytes;
    const at = (this.total + (bytes.length - src.length)) % cap;
    const first = Math.min(src.length, cap - at);
    this.ring.set(src.subarray(0, first), at);
    if (first < src.length) this.ring.set(src.subarray(first), 0);
    this.total += bytes.length;
  }

  /** The kept bytes, oldest first, as text; `total` is where they end in the stream. */
  text(): string {
    const cap = this.capacity;
    const n = Math.min(this.total, cap);
    const start = (this.total - n) % cap;
    const out = new Uint8Array(n);
    const first = Math.min(n, cap - start);
    out.set(this.ring.subarray(start, start + first), 0);
    if (first < n) out.set(this.ring.subarray(0, n - first), first);
    return latin1.decode(out);
  }
}

export const latin1 = new TextDecoder('latin1');
