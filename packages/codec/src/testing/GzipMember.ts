// A tiny, independent gzip member checker (RFC 1952 header + trailer), used to judge engines
// without trusting any of them.

let table: Uint32Array | undefined

/** Plain bytewise CRC-32 (the gzip trailer checksum). */
export const referenceCrc32 = (data: Uint8Array): number => {
  if (!table) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** The fields of one gzip member's header and trailer. */
export interface GzipMemberInfo {
  readonly flags: number
  readonly mtime: number
  readonly xfl: number
  readonly os: number
  readonly headerLength: number
  readonly crc32: number
  readonly isize: number
}

const u32 = (b: Uint8Array, o: number) =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0

/** Parses the header and trailer of a buffer holding exactly one member; a string says what is wrong. */
export const inspectGzipMember = (m: Uint8Array): GzipMemberInfo | string => {
  if (m.length < 18) return `too short for a gzip member: ${m.length} bytes`
  if (m[0] !== 0x1f || m[1] !== 0x8b) return "bad ID1/ID2"
  if (m[2] !== 8) return `CM is ${m[2]}, not 8 (deflate)`
  const flags = m[3]!
  if (flags & 0xe0) return "reserved FLG bits set"
  let p = 10
  if (flags & 4) p += 2 + (m[10]! | (m[11]! << 8))
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const z = m.indexOf(0, p)
      if (z < 0) return "unterminated FNAME/FCOMMENT"
      p = z + 1
    }
  }
  if (flags & 2) p += 2
  if (p + 8 > m.length) return "header runs into the trailer"
  return {
    flags,
    mtime: u32(m, 4),
    xfl: m[8]!,
    os: m[9]!,
    headerLength: p,
    crc32: u32(m, m.length - 8),
    isize: u32(m, m.length - 4),
  }
}

/**
 * Checks that `member` is one gzip member as the engines must write it (FLG 0, MTIME 0) whose
 * trailer matches `data` (CRC-32 and ISIZE); returns the problems found (empty = valid).
 */
export const memberProblems = (member: Uint8Array, data: Uint8Array): Array<string> => {
  const info = inspectGzipMember(member)
  if (typeof info === "string") return [info]
  const problems: Array<string> = []
  if (info.flags !== 0) problems.push(`FLG is ${info.flags}, expected 0`)
  if (info.mtime !== 0) problems.push(`MTIME is ${info.mtime}, expected 0`)
  const crc = referenceCrc32(data)
  if (info.crc32 !== crc) problems.push(`trailer CRC32 ${info.crc32.toString(16)} != ${crc.toString(16)}`)
  if (info.isize !== data.length % 2 ** 32) problems.push(`trailer ISIZE ${info.isize} != ${data.length}`)
  return problems
}

/**
 * The 51-byte eStargz footer for TOC offset 391 (FORMATS §2.6): an empty gzip member whose
 * extra field carries the offset.
 */
export const ESTARGZ_FOOTER_391_HEX =
  "1f8b0804 00000000 00ff 1a00 5347 1600 30303030303030303030303030313837 53544152475a 010000ffff 00000000 00000000"
