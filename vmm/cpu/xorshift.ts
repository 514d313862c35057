// Marsaglia's xorshift32: a tiny, fast, replayable generator for the randomized CPU tests (fuzzing,
// differential runs against the host). Not for anything a guest can see.

export class Xorshift32 {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.below(a.length)]!;
  }
  bool(): boolean {
    return (this.next() & 1) === 1;
  }
}
