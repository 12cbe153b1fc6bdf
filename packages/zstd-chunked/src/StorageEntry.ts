// The containers/storage TOC entry of a tar header (c/storage `NewFileMetadata` over the tar-split fork of Go's
// archive/tar), and the pieces it needs: Go's RFC 3339 time encoding with nanoseconds, PAX/GNU/STAR times,
// the raw name bytes and Go's path.Clean.
import type { TarHeader } from "@lazypull/tar"
import { civilFromDays, daysFromCivil, type EntryType, entryTypeOf, type TocEntry } from "@lazypull/toc"

const BLOCK = 512

/** TOC `type` of a tar typeflag; undefined for types containers/storage cannot carry. */
export const storageEntryType = (typeflag: string): EntryType | undefined => entryTypeOf(typeflag)

/** A point in time as Go's `time.Time` holds it: Unix seconds and nanoseconds in [0, 1e9). */
export interface GoTime {
  readonly sec: number
  readonly nsec: number
}

const pad = (n: number, w: number) => String(n).padStart(w, "0")

const civil = civilFromDays
const days = daysFromCivil

/**
 * Go's `time.Time.MarshalJSON` for a UTC time: RFC 3339 with the fraction's trailing zeros trimmed and `Z`;
 * undefined when the year is outside [0, 9999] (Go refuses to encode it).
 *
 * @example
 * formatGoTime({ sec: 1704164645, nsec: 600000000 }) // "2024-01-02T03:04:05.6Z"
 */
export const formatGoTime = (t: GoTime): string | undefined => {
  const d = Math.floor(t.sec / 86400)
  const sod = t.sec - d * 86400
  const [y, m, day] = civil(d)
  if (y < 0 || y > 9999) return undefined
  let frac = ""
  if (t.nsec > 0) frac = "." + pad(t.nsec, 9).replace(/0+$/, "")
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(day, 2)}T${pad(Math.floor(sod / 3600), 2)}:${pad(Math.floor((sod % 3600) / 60), 2)}:${pad(sod % 60, 2)}${frac}Z`
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/
const DIM = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * The exact instant of an RFC 3339 time as Go's `time.Parse(time.RFC3339)` reads it (fraction up to 9 digits,
 * `Z` or `±hh:mm`); undefined when it does not parse.
 */
export const parseGoTime = (s: string): GoTime | undefined => {
  const m = RFC3339.exec(s)
  if (m === null) return undefined
  const [y, mo, d, h, mi, se] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]))
  if (mo! < 1 || mo! > 12) return undefined
  const leap = (y! % 4 === 0 && y! % 100 !== 0) || y! % 400 === 0
  if (d! < 1 || d! > (mo === 2 && leap ? 29 : DIM[mo! - 1]!) || h! > 23 || mi! > 59 || se! > 59)
    return undefined
  let off = 0
  if (m[9] !== undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return undefined
    off = (oh * 3600 + om * 60) * (m[9] === "-" ? -1 : 1)
  }
  const nsec = m[7] === undefined ? 0 : Number(m[7].padEnd(9, "0"))
  return { sec: days(y!, mo!, d!) * 86400 + h! * 3600 + mi! * 60 + se! - off, nsec }
}

/** Unix seconds of Go's zero time (0001-01-01T00:00:00Z). */
const GO_ZERO_SEC = -62135596800

/** True for what containers/storage treats as "no time": absent, Go's zero time, or the Unix epoch. */
export const isUnsetTime = (t: GoTime | undefined): boolean =>
  t === undefined || (t.nsec === 0 && (t.sec === 0 || t.sec === GO_ZERO_SEC))

/** `time.Unix(sec, nsec)` normalisation. */
const unix = (sec: number, nsec: number): GoTime => {
  const carry = Math.floor(nsec / 1e9)
  return { sec: sec + carry, nsec: nsec - carry * 1e9 }
}

const PAX_TIME = /^([+-]?)(\d+)(?:\.(\d*))?$/

/** Go archive/tar `parsePAXTime`: seconds, optional fraction truncated to nanoseconds; undefined when malformed. */
export const parsePaxTime = (s: string): GoTime | undefined => {
  const m = PAX_TIME.exec(s)
  if (m === null) return undefined
  const whole = Number(m[2])
  if (!Number.isSafeInteger(whole)) return undefined
  const neg = m[1] === "-"
  const secs = neg ? -whole : whole
  const frac = (m[3] ?? "").slice(0, 9)
  if (frac === "") return unix(secs, 0)
  const ns = Number(frac.padEnd(9, "0"))
  return unix(secs, neg ? -ns : ns)
}

const latin1 = new TextDecoder("latin1")

/** Go archive/tar `parseNumeric` of a header field (octal, or base-256 when the high bit is set). */
const parseNumeric = (b: Uint8Array): number | undefined => {
  if (b.length > 0 && (b[0]! & 0x80) !== 0) {
    const inv = (b[0]! & 0x40) !== 0 ? 0xff : 0
    let x = 0n
    for (let i = 0; i < b.length; i++) {
      let c = b[i]! ^ inv
      if (i === 0) c &= 0x7f
      if (x >> 56n > 0n) return undefined
      x = (x << 8n) | BigInt(c)
    }
    if (x >> 63n > 0n) return undefined
    const v = inv === 0xff ? -x - 1n : x
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(v)
  }
  let s = 0
  let e = b.length
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--
  if (s === e) return 0
  let nul = b.indexOf(0, s)
  if (nul < 0 || nul > e) nul = e
  const text = latin1.decode(b.subarray(s, nul))
  if (!/^[0-7]+$/.test(text)) return undefined
  const v = Number.parseInt(text, 8)
  return Number.isSafeInteger(v) ? v : undefined
}

const magicIs = (b: Uint8Array, at: number, s: string) => {
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false
  return true
}

/** The header block that describes the entry: the last block of its raw header bytes. */
const mainBlock = (raw: Uint8Array): Uint8Array => raw.subarray(raw.length - BLOCK)

/** atime/ctime from the header block itself (GNU and STAR formats), as Go's reader sets them. */
const blockTimes = (raw: Uint8Array): { atime?: GoTime; ctime?: GoTime } => {
  if (raw.length < BLOCK) return {}
  const b = mainBlock(raw)
  if (magicIs(b, 257, "ustar ") && magicIs(b, 263, " \0")) {
    // GNU: a field counts when its first byte is not NUL; a malformed one clears both (Go's pre-1.8 fallback)
    const out: { atime?: GoTime; ctime?: GoTime } = {}
    if (b[345] !== 0) {
      const v = parseNumeric(b.subarray(345, 357))
      if (v === undefined) return {}
      out.atime = { sec: v, nsec: 0 }
    }
    if (b[357] !== 0) {
      const v = parseNumeric(b.subarray(357, 369))
      if (v === undefined) return {}
      out.ctime = { sec: v, nsec: 0 }
    }
    return out
  }
  if (magicIs(b, 257, "ustar\0") && magicIs(b, 508, "tar\0")) {
    const a = parseNumeric(b.subarray(476, 488))
    const c = parseNumeric(b.subarray(488, 500))
    return {
      ...(a === undefined ? {} : { atime: { sec: a, nsec: 0 } }),
      ...(c === undefined ? {} : { ctime: { sec: c, nsec: 0 } }),
    }
  }
  return {}
}

const paxString = (h: TarHeader, key: string): string | undefined => {
  const v = h.pax.get(key)
  return v === undefined || v.length === 0 ? undefined : latin1.decode(v)
}

/** modtime, accesstime and changetime of an entry as Go's tar reader gives them to containers/storage. */
export const entryTimes = (
  h: TarHeader,
  raw: Uint8Array,
): { mtime: GoTime; atime?: GoTime; ctime?: GoTime } => {
  const fromBlock = blockTimes(raw)
  const pm = paxString(h, "mtime")
  const pa = paxString(h, "atime")
  const pc = paxString(h, "ctime")
  const mtime = (pm === undefined ? undefined : parsePaxTime(pm)) ?? unix(Math.floor(h.mtime), 0)
  const atime = (pa === undefined ? undefined : parsePaxTime(pa)) ?? fromBlock.atime
  const ctime = (pc === undefined ? undefined : parsePaxTime(pc)) ?? fromBlock.ctime
  return { mtime, ...(atime ? { atime } : {}), ...(ctime ? { ctime } : {}) }
}

const b64 = (v: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]!)
  return btoa(s)
}

/**
 * The containers/storage TOC entry for a tar header (`NewFileMetadata`): type, raw name and link name, mode,
 * size, uid, gid, the three times (omitted only when absent, as `timeIfNotZero`), device numbers and
 * `SCHILY.xattr.*` as base64; never `userName`/`groupName`. A string explains why the entry cannot be written.
 */
export const storageTocEntry = (h: TarHeader, raw: Uint8Array): TocEntry | string => {
  const type = storageEntryType(h.typeflag)
  if (type === undefined) return `unsupported tar entry type ${JSON.stringify(h.typeflag)}`
  const e: TocEntry = { type, name: h.name }
  if (h.linkname !== "") e.linkName = h.linkname
  if (h.mode !== 0) e.mode = h.mode
  if (h.size !== 0) e.size = h.size
  if (h.uid !== 0) e.uid = h.uid
  if (h.gid !== 0) e.gid = h.gid
  const t = entryTimes(h, raw)
  for (const [key, v] of [
    ["modtime", t.mtime],
    ["accesstime", t.atime],
    ["changetime", t.ctime],
  ] as const) {
    if (v === undefined || (v.sec === GO_ZERO_SEC && v.nsec === 0)) continue
    const s = formatGoTime(v)
    if (s === undefined) return `${key} ${v.sec} is outside the years 0..9999 that Go can encode`
    e[key] = s
  }
  if (h.devmajor !== 0) e.devMajor = h.devmajor
  if (h.devminor !== 0) e.devMinor = h.devminor
  if (h.xattrs.size > 0) {
    const x: Record<string, string> = {}
    for (const [k, v] of h.xattrs) x[k] = b64(v)
    e.xattrs = x
  }
  return e
}

const utf8 = new TextEncoder()

const cString = (b: Uint8Array): Uint8Array => {
  const nul = b.indexOf(0)
  return nul < 0 ? b : b.subarray(0, nul)
}

/**
 * The raw bytes of an entry's name as Go's reader yields them (GNU long name, else PAX `path`, else the header's
 * name with its USTAR/STAR prefix): what tar-split records, `name_raw` when they are not UTF-8.
 */
export const rawEntryName = (h: TarHeader, raw: Uint8Array): Uint8Array => {
  if (!h.name.includes("\ufffd")) return utf8.encode(h.name)
  let longName: Uint8Array | undefined
  let at = 0
  while (at + BLOCK < raw.length) {
    const flag = raw[at + 156]
    const size = parseNumeric(raw.subarray(at + 124, at + 136)) ?? 0
    if (flag === 0x4c) longName = cString(raw.subarray(at + BLOCK, at + BLOCK + size))
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK
  }
  if (longName !== undefined && longName.length > 0) return longName
  const path = h.pax.get("path")
  if (path !== undefined && path.length > 0) return path
  const b = mainBlock(raw)
  const name = cString(b.subarray(0, 100))
  let prefix: Uint8Array | undefined
  if (magicIs(b, 257, "ustar\0"))
    prefix = cString(magicIs(b, 508, "tar\0") ? b.subarray(345, 476) : b.subarray(345, 500))
  if (prefix === undefined || prefix.length === 0) return name
  const out = new Uint8Array(prefix.length + 1 + name.length)
  out.set(prefix)
  out[prefix.length] = 0x2f
  out.set(name, prefix.length + 1)
  return out
}

/**
 * Go's `path.Clean` (and `filepath.Clean` on Linux): what tar-split compares to reject duplicate paths.
 *
 * @example
 * goCleanPath("./a//b/../c/") // "a/c"
 */
export const goCleanPath = (p: string): string => {
  if (p === "") return "."
  const rooted = p.startsWith("/")
  const out: Array<string> = []
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop()
      else if (!rooted) out.push("..")
      continue
    }
    out.push(part)
  }
  const s = (rooted ? "/" : "") + out.join("/")
  return s === "" ? (rooted ? "/" : ".") : s
}
