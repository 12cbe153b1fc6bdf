// CRC-64 with the ISO 3309 polynomial, as Go's hash/crc64 computes it with crc64.ISO (reflected polynomial
// 0xD800000000000000, initial value and final XOR all ones). tar-split stores this checksum of every file's
// content. 64-bit values are kept as two uint32 halves; 8 tables (slicing-by-8) make it fast enough to run
// over a whole layer.

const POLY_HI = 0xd8000000

const makeTables = (): { hi: Int32Array; lo: Int32Array } => {
  // Int32Array, not Uint32Array: small integers stay unboxed in the hot loop
  const hi = new Int32Array(8 * 256)
  const lo = new Int32Array(8 * 256)
  for (let i = 0; i < 256; i++) {
    let h = 0
    let l = i
    for (let k = 0; k < 8; k++) {
      const bit = l & 1
      l = (l >>> 1) | ((h & 1) << 31)
      h = h >>> 1
      if (bit) h = h ^ POLY_HI
    }
    hi[i] = h
    lo[i] = l
  }
  for (let t = 1; t < 8; t++) {
    for (let i = 0; i < 256; i++) {
      const ph = hi[(t - 1) * 256 + i]!
      const pl = lo[(t - 1) * 256 + i]!
      const idx = pl & 0xff
      hi[t * 256 + i] = (ph >>> 8) ^ hi[idx]!
      lo[t * 256 + i] = ((pl >>> 8) | ((ph & 0xff) << 24)) ^ lo[idx]!
    }
  }
  return { hi, lo }
}

let tables: { hi: Int32Array; lo: Int32Array } | undefined

/**
 * Incremental CRC-64/ISO (Go `crc64.New(crc64.MakeTable(crc64.ISO))`).
 *
 * @example
 * const c = new Crc64(); c.update(bytes); const sum = c.sum() // 8 bytes, big-endian, as Go's Sum(nil)
 */
export class Crc64 {
  // the running register, complemented (Go keeps ^crc between updates)
  private hi = -1
  private lo = -1

  /** Adds bytes to the checksum. */
  update(data: Uint8Array): void {
    if (tables === undefined) tables = makeTables()
    const TH = tables.hi
    const TL = tables.lo
    let hi = this.hi
    let lo = this.lo
    const n = data.length
    let i = 0
    const end8 = n - (n % 8)
    while (i < end8) {
      const l = lo ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
      const h = hi ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24))
      const a = 7 * 256 + (l & 0xff)
      const b = 6 * 256 + ((l >>> 8) & 0xff)
      const c = 5 * 256 + ((l >>> 16) & 0xff)
      const d = 4 * 256 + (l >>> 24)
      const e = 3 * 256 + (h & 0xff)
      const f = 2 * 256 + ((h >>> 8) & 0xff)
      const g = 256 + ((h >>> 16) & 0xff)
      const k = h >>> 24
      hi = TH[a]! ^ TH[b]! ^ TH[c]! ^ TH[d]! ^ TH[e]! ^ TH[f]! ^ TH[g]! ^ TH[k]!
      lo = TL[a]! ^ TL[b]! ^ TL[c]! ^ TL[d]! ^ TL[e]! ^ TL[f]! ^ TL[g]! ^ TL[k]!
      i += 8
    }
    for (; i < n; i++) {
      const idx = (lo ^ data[i]!) & 0xff
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ TL[idx]!
      hi = (hi >>> 8) ^ TH[idx]!
    }
    this.hi = hi
    this.lo = lo
  }

  /** The checksum as 8 big-endian bytes (what tar-split base64-encodes); the hasher can go on afterwards. */
  sum(): Uint8Array {
    const out = new Uint8Array(8)
    const v = new DataView(out.buffer)
    v.setUint32(0, ~this.hi >>> 0)
    v.setUint32(4, ~this.lo >>> 0)
    return out
  }

  /** The checksum as 16 lowercase hex digits. */
  hex(): string {
    return (~this.hi >>> 0).toString(16).padStart(8, "0") + (~this.lo >>> 0).toString(16).padStart(8, "0")
  }
}

/**
 * CRC-64/ISO of one buffer, as 8 big-endian bytes.
 *
 * @example
 * crc64(new TextEncoder().encode("123456789")) // b9 09 56 c7 75 a4 10 01
 */
export const crc64 = (data: Uint8Array): Uint8Array => {
  const c = new Crc64()
  c.update(data)
  return c.sum()
}
