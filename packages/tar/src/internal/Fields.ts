// Byte-level helpers for tar header fields, shared by the parser and the writer.

/** Size of one tar block. */
export const BLOCK = 512

/** Header field offsets and lengths (POSIX ustar layout, GNU and STAR variants noted). */
export const F = {
  name: 0,
  nameLen: 100,
  mode: 100,
  uid: 108,
  gid: 116,
  size: 124,
  mtime: 136,
  chksum: 148,
  typeflag: 156,
  linkname: 157,
  linknameLen: 100,
  magic: 257,
  version: 263,
  uname: 265,
  gname: 297,
  nameFieldLen: 32,
  devmajor: 329,
  devminor: 337,
  prefix: 345,
  prefixLen: 155,
  starPrefixLen: 131,
  starTrailer: 508,
} as const

/** Result flag of the numeric parsers: 0 = ok, 1 = malformed, 2 = above Number.MAX_SAFE_INTEGER. */
export let numStatus = 0

const MAX = Number.MAX_SAFE_INTEGER

/** True when all 512 bytes of the block are zero. */
export const isZeroBlock = (b: Uint8Array): boolean => {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false
  return true
}

/**
 * Parses an octal field the way Go's archive/tar does: leading/trailing spaces and NULs are
 * trimmed, the rest is cut at the first NUL and must be octal digits. Empty means 0.
 */
export const parseOctal = (b: Uint8Array, off: number, len: number): number => {
  let start = off
  let end = off + len
  while (start < end && (b[start] === 0x20 || b[start] === 0)) start++
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--
  let x = 0
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c === 0) break
    if (c < 0x30 || c > 0x37) {
      numStatus = 1
      return 0
    }
    x = x * 8 + (c - 0x30)
    if (x > MAX) {
      numStatus = 2
      return 0
    }
  }
  return x
}

/** Parses a numeric field: base-256 (GNU binary, high bit of the first byte set, signed) or octal. */
export const parseNumeric = (b: Uint8Array, off: number, len: number): number => {
  const first = b[off]!
  if ((first & 0x80) === 0) return parseOctal(b, off, len)
  const inv = (first & 0x40) !== 0 ? 0xff : 0
  let x = 0
  for (let i = 0; i < len; i++) {
    let c = b[off + i]! ^ inv
    if (i === 0) c &= 0x7f
    x = x * 256 + c
    if (x > MAX) {
      numStatus = 2
      return 0
    }
  }
  return inv === 0 ? x : -x - 1
}

/** Resets the status flag before a run of numeric parses. */
export const resetNumStatus = (): void => {
  numStatus = 0
}

const utf8Decoder = new TextDecoder("utf-8")

/** Decodes bytes as UTF-8, invalid sequences becoming U+FFFD (with an ASCII fast path). */
export const decodeUtf8 = (b: Uint8Array, start: number, end: number): string => {
  let s = ""
  for (let i = start; i < end; i++) {
    const c = b[i]!
    if (c >= 0x80) return utf8Decoder.decode(b.subarray(start, end))
    s += String.fromCharCode(c)
  }
  return s
}

/** Decodes a NUL-terminated (or field-filling) string field. */
export const parseString = (b: Uint8Array, off: number, len: number): string => {
  let end = off
  const limit = off + len
  while (end < limit && b[end] !== 0) end++
  return decodeUtf8(b, off, end)
}

/** Unsigned and signed (bytes as int8) sums of a block with the checksum field read as spaces. */
export const checksums = (b: Uint8Array): readonly [unsigned: number, signed: number] => {
  let u = 0
  let s = 0
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= F.chksum && i < F.chksum + 8 ? 0x20 : b[i]!
    u += c
    s += c < 0x80 ? c : c - 256
  }
  return [u, s]
}

/** True when bytes `b[off..off+s.length)` equal the ASCII string `s`. */
export const bytesEqual = (b: Uint8Array, off: number, s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (b[off + i] !== s.charCodeAt(i)) return false
  return true
}

const utf8Encoder = new TextEncoder()

/** Encodes a string as UTF-8 (lone surrogates become U+FFFD). */
export const encodeUtf8 = (s: string): Uint8Array => utf8Encoder.encode(s)

/** True when every UTF-16 unit of the string is ASCII. */
export const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false
  return true
}

/** Whether bytes are well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
export const isValidUtf8 = (b: Uint8Array): boolean => {
  let i = 0
  const n = b.length
  while (i < n) {
    const c = b[i]!
    if (c < 0x80) {
      i++
      continue
    }
    let need: number
    let min: number
    let cp: number
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1
      min = 0x80
      cp = c & 0x1f
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2
      min = 0x800
      cp = c & 0x0f
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3
      min = 0x10000
      cp = c & 0x07
    } else return false
    for (let k = 1; k <= need; k++) {
      const d = b[i + k]
      if (d === undefined || (d & 0xc0) !== 0x80) return false
      cp = (cp << 6) | (d & 0x3f)
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false
    i += need + 1
  }
  return true
}

/** Largest value an octal field of `len` bytes holds (len-1 digits and a NUL). */
export const octalMax = (len: number): number => 8 ** (len - 1) - 1

/** Writes `x` as zero-padded octal in `len-1` digits followed by NUL; the caller checks the range. */
export const writeOctal = (b: Uint8Array, off: number, len: number, x: number): void => {
  const s = x.toString(8)
  const digits = len - 1
  const pad = digits - s.length
  for (let i = 0; i < pad; i++) b[off + i] = 0x30
  for (let i = 0; i < s.length; i++) b[off + pad + i] = s.charCodeAt(i)
  b[off + digits] = 0
}

/** Writes `x` as GNU base-256 (two's complement, marker bit set) over `len` bytes. */
export const writeBase256 = (b: Uint8Array, off: number, len: number, x: number): void => {
  const neg = x < 0
  let y = neg ? -x - 1 : x
  for (let i = len - 1; i >= 1; i--) {
    const byte = y % 256
    b[off + i] = neg ? 255 - byte : byte
    y = Math.floor(y / 256)
  }
  b[off] = neg ? 0xff : 0x80
}

/** Writes an integer field: octal when it fits, else base-256. */
export const writeNumeric = (b: Uint8Array, off: number, len: number, x: number): void => {
  if (x >= 0 && x <= octalMax(len)) writeOctal(b, off, len, x)
  else writeBase256(b, off, len, x)
}

/** Copies at most `len` bytes of `src` into the field (the rest stays NUL). */
export const writeBytes = (b: Uint8Array, off: number, len: number, src: Uint8Array): void => {
  b.set(src.length > len ? src.subarray(0, len) : src, off)
}

/** Writes an ASCII string into a field (truncated to the field length). */
export const writeAscii = (b: Uint8Array, off: number, s: string): void => {
  for (let i = 0; i < s.length; i++) b[off + i] = s.charCodeAt(i)
}
