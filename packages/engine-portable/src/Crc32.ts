// CRC-32 (ISO 3309 / ITU-T V.42, the gzip trailer checksum), slicing-by-8 for speed.

const makeTables = (): Int32Array => {
  const t = new Int32Array(256 * 8)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
}

const T = makeTables()

/**
 * Continues a CRC-32 over `data`; pass the previous result as `crc` (0 to start).
 *
 * @example
 * crc32(new TextEncoder().encode("123456789")) === 0xcbf43926
 */
export const crc32 = (data: Uint8Array, crc = 0): number => {
  let c = ~crc
  let i = 0
  const n = data.length
  const end8 = n - (n & 7)
  for (; i < end8; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))
    c =
      T[1792 + (a & 0xff)]! ^
      T[1536 + ((a >>> 8) & 0xff)]! ^
      T[1280 + ((a >>> 16) & 0xff)]! ^
      T[1024 + (a >>> 24)]! ^
      T[768 + data[i + 4]!]! ^
      T[512 + data[i + 5]!]! ^
      T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!
  }
  for (; i < n; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
