/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every runtime. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** `n` incompressible pseudo-random bytes. */
export const randomBytes = (n: number, seed = 1): Uint8Array => {
  const next = prng(seed)
  const out = new Uint8Array(n)
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const r = next()
    out[i] = r
    out[i + 1] = r >>> 8
    out[i + 2] = r >>> 16
    out[i + 3] = r >>> 24
  }
  for (; i < n; i++) out[i] = next()
  return out
}

/** `n` bytes of text-like data (words, numbers, line breaks) that gzip shrinks about 3-5x. */
export const compressibleBytes = (n: number, seed = 2): Uint8Array => {
  const next = prng(seed)
  const words: Array<Uint8Array> = []
  const enc = new TextEncoder()
  for (let w = 0; w < 300; w++) {
    const len = 2 + (next() % 9)
    let s = ""
    for (let k = 0; k < len; k++) s += String.fromCharCode(97 + (next() % 26))
    words.push(enc.encode(s))
  }
  const out = new Uint8Array(n)
  let i = 0
  while (i < n) {
    const r = next()
    const piece = r % 17 === 0 ? enc.encode(String(r % 100000)) : words[(r >>> 8) % words.length]!
    for (let k = 0; k < piece.length && i < n; k++) out[i++] = piece[k]!
    if (i < n) out[i++] = r % 13 === 0 ? 10 : 32
  }
  return out
}

/** Concatenates byte arrays. */
export const concatBytes = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Index of the first differing byte, or -1 when `a` and `b` are equal. */
export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Bytes from lowercase/uppercase hex (spaces allowed). */
export const fromHex = (hex: string): Uint8Array => {
  const h = hex.replace(/\s+/g, "")
  const out = new Uint8Array(h.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16)
  return out
}
