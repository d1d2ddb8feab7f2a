// A small seeded generator (SplitMix32 state, xorshift-multiply output) for reproducible inputs,
// masks and data subsets. Not for cryptography.
export class Rng {
  private s: number;
  constructor(seed = 0) { this.s = (seed ^ 0x9e3779b9) >>> 0; }
  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    let z = (this.s = (this.s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  uniform(lo = 0, hi = 1): number { return lo + (hi - lo) * this.next(); }
  int(n: number): number { return Math.floor(this.next() * n); }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) { const j = this.int(i + 1); const t = p[i]; p[i] = p[j]; p[j] = t; }
    return p;
  }
  get state(): number { return this.s; }
  set state(v: number) { this.s = v >>> 0; }
}
