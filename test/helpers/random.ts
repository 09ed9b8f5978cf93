// Seeded randomness for tests: every randomized test takes its seed from STRAND_SEED or picks
// one, and names it in its assertion messages so a failure reproduces with `STRAND_SEED=<n>`.

/** mulberry32: small, fast, good enough for test inputs; not for anything secret. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function testSeed(): number {
  const fromEnv = process.env.STRAND_SEED
  if (fromEnv !== undefined && fromEnv !== '') return Number(fromEnv) >>> 0
  return (Math.random() * 2 ** 32) >>> 0
}

export class Rng {
  readonly seed: number
  readonly #next: () => number
  constructor(seed: number) {
    this.seed = seed
    this.#next = prng(seed)
  }
  float(): number {
    return this.#next()
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1))
  }
  bool(pTrue = 0.5): boolean {
    return this.#next() < pTrue
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T
  }
  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      ;[out[i], out[j]] = [out[j] as T, out[i] as T]
    }
    return out
  }
  bytes(length: number): Buffer {
    const b = Buffer.allocUnsafe(length)
    for (let i = 0; i < length; i++) b[i] = this.int(0, 255)
    return b
  }
  string(length: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_ é✓'
    let s = ''
    for (let i = 0; i < length; i++) s += alphabet[this.int(0, alphabet.length - 1)]
    return s
  }
}
