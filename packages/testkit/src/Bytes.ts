/**
 * Deterministic pseudo-random bytes (xorshift32; incompressible), the same for the same `n` and `seed`.
 *
 * @example
 * const payload = noise(300_000, 5)
 */
export const noise = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
