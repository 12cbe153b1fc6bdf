// tar-split metadata (github.com/vbatts/tar-split `storage.Entry` as NDJSON): what containers/storage stores
// next to the TOC so that the exact tar stream, headers, padding and trailing bytes included, can be rebuilt
// from the files' contents (FORMATS §8.2 "tar-split section").

/** tar-split entry type of a file-content placeholder. */
export const TAR_SPLIT_FILE = 1
/** tar-split entry type of raw bytes (headers, padding, end-of-archive, trailing bytes). */
export const TAR_SPLIT_SEGMENT = 2

/** One decoded tar-split line. */
export type TarSplitEntry =
  | {
      readonly type: typeof TAR_SPLIT_SEGMENT
      readonly payload: Uint8Array
      readonly position: number
    }
  | {
      readonly type: typeof TAR_SPLIT_FILE
      /** The name as text (`name`, or `name_raw` decoded with U+FFFD for invalid bytes). */
      readonly name: string
      /** The raw name bytes when the line carried `name_raw` (not valid UTF-8). */
      readonly nameRaw: Uint8Array | undefined
      readonly size: number
      /** CRC-64/ISO of the content (8 bytes), or null for an empty file. */
      readonly payload: Uint8Array | null
      readonly position: number
    }

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const B64_CODES = new Uint8Array(64)
for (let i = 0; i < 64; i++) B64_CODES[i] = B64.charCodeAt(i)
const B64_VALUES = new Int16Array(256).fill(-1)
for (let i = 0; i < 64; i++) B64_VALUES[B64.charCodeAt(i)] = i

/** A growable byte buffer for building NDJSON without intermediate strings for the large parts. */
class ByteBuilder {
  buf = new Uint8Array(1 << 16)
  length = 0

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.length + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }

  ascii(s: string): void {
    this.reserve(s.length)
    const b = this.buf
    let at = this.length
    for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i)
    this.length = at
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length)
    this.buf.set(data, this.length)
    this.length += data.length
  }

  /** Standard base64 with padding. */
  base64(p: Uint8Array): void {
    const n = p.length
    this.reserve(Math.ceil(n / 3) * 4)
    const out = this.buf
    let at = this.length
    let i = 0
    const end3 = n - (n % 3)
    for (; i < end3; i += 3) {
      const v = (p[i]! << 16) | (p[i + 1]! << 8) | p[i + 2]!
      out[at++] = B64_CODES[v >>> 18]!
      out[at++] = B64_CODES[(v >>> 12) & 63]!
      out[at++] = B64_CODES[(v >>> 6) & 63]!
      out[at++] = B64_CODES[v & 63]!
    }
    if (n - i === 1) {
      const c0 = p[i]!
      out[at++] = B64_CODES[c0 >>> 2]!
      out[at++] = B64_CODES[(c0 & 3) << 4]!
      out[at++] = 0x3d
      out[at++] = 0x3d
    } else if (n - i === 2) {
      const v = (p[i]! << 8) | p[i + 1]!
      out[at++] = B64_CODES[v >>> 10]!
      out[at++] = B64_CODES[(v >>> 4) & 63]!
      out[at++] = B64_CODES[(v << 2) & 63]!
      out[at++] = 0x3d
    }
    this.length = at
  }

  take(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

/** Standard base64 (with padding) of one buffer. */
export const base64Encode = (data: Uint8Array): string => {
  const b = new ByteBuilder()
  b.base64(data)
  let s = ""
  const out = b.buf
  for (let i = 0; i < b.length; i += 8192)
    s += String.fromCharCode(...out.subarray(i, Math.min(b.length, i + 8192)))
  return s
}

/**
 * Standard base64 with padding, decoded as Go's `base64.StdEncoding` does for a JSON `[]byte` (CR and LF ignored,
 * padding required, unused low bits of the last character not checked); undefined when malformed.
 */
export const base64Decode = (input: string): Uint8Array | undefined => {
  const s = input.includes("\n") || input.includes("\r") ? input.replace(/[\r\n]/g, "") : input
  if (s.length % 4 !== 0) return undefined
  let pad = 0
  if (s.length > 0 && s.charCodeAt(s.length - 1) === 0x3d) pad = s.charCodeAt(s.length - 2) === 0x3d ? 2 : 1
  const out = new Uint8Array((s.length / 4) * 3 - pad)
  const value = (i: number): number => {
    const c = s.charCodeAt(i)
    return c > 0x7f ? -1 : B64_VALUES[c]!
  }
  let at = 0
  for (let i = 0; i < s.length; i += 4) {
    const groupPad = i + 4 === s.length ? pad : 0
    const a = value(i)
    const b = value(i + 1)
    const c = groupPad === 2 ? 0 : value(i + 2)
    const d = groupPad >= 1 ? 0 : value(i + 3)
    if (a < 0 || b < 0 || c < 0 || d < 0) return undefined
    out[at++] = (a << 2) | (b >>> 4)
    if (groupPad < 2) out[at++] = ((b & 15) << 4) | (c >>> 2)
    if (groupPad < 1) out[at++] = ((c & 3) << 6) | d
  }
  return out
}

const HEX = "0123456789abcdef"

/**
 * A string as Go's encoding/json writes it (HTML escaping on: `<`, `>`, `&` as `\u003c`…; U+2028/U+2029
 * escaped; `\b \f \n \r \t` short forms, other control characters as `\u00xx`).
 */
export const goJsonString = (s: string): string => {
  let out = '"'
  let from = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let esc: string | undefined
    if (c < 0x20) {
      esc =
        c === 0x08
          ? "\\b"
          : c === 0x0c
            ? "\\f"
            : c === 0x0a
              ? "\\n"
              : c === 0x0d
                ? "\\r"
                : c === 0x09
                  ? "\\t"
                  : `\\u00${HEX[c >> 4]}${HEX[c & 15]}`
    } else if (c === 0x22) esc = '\\"'
    else if (c === 0x5c) esc = "\\\\"
    else if (c === 0x3c) esc = "\\u003c"
    else if (c === 0x3e) esc = "\\u003e"
    else if (c === 0x26) esc = "\\u0026"
    else if (c === 0x2028) esc = "\\u2028"
    else if (c === 0x2029) esc = "\\u2029"
    if (esc !== undefined) {
      out += s.slice(from, i) + esc
      from = i + 1
    }
  }
  return out + s.slice(from) + '"'
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lossyUtf8 = new TextDecoder("utf-8", { ignoreBOM: true })

/** The bytes as text when they are valid UTF-8, else undefined. */
export const validUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * Writes tar-split NDJSON as `storage.NewJSONPacker` does: one `json.Encoder` line per entry (keys `type`,
 * `name`/`name_raw`, `size`, `payload`, `position`; `omitempty` on the names and size), positions from 0.
 *
 * @example
 * const w = new TarSplitWriter(); w.segment([header]); w.file(nameBytes, 5, crc64(content)); const ndjson = w.take()
 */
export class TarSplitWriter {
  private readonly out = new ByteBuilder()
  private position = 0

  /** Bytes written so far. */
  get length(): number {
    return this.out.length
  }

  /** Entries written so far. */
  get entries(): number {
    return this.position
  }

  /** A type-2 line holding the concatenation of `parts` (skipped when they are empty, as tar-split does). */
  segment(parts: ReadonlyArray<Uint8Array>): void {
    let n = 0
    for (const p of parts) n += p.length
    if (n === 0) return
    let data: Uint8Array
    if (parts.length === 1) data = parts[0]!
    else {
      data = new Uint8Array(n)
      let at = 0
      for (const p of parts) {
        data.set(p, at)
        at += p.length
      }
    }
    this.out.ascii('{"type":2,"payload":"')
    this.out.base64(data)
    this.out.ascii(`","position":${this.position++}}\n`)
  }

  /**
   * A type-1 line for a tar entry: `nameBytes` are the raw name bytes from the header (`name` when they are
   * UTF-8, else `name_raw`), `crc` the CRC-64 of the content (null for an empty file).
   */
  file(nameBytes: Uint8Array, size: number, crc: Uint8Array | null): void {
    const out = this.out
    out.ascii('{"type":1')
    if (nameBytes.length > 0) {
      const text = validUtf8(nameBytes)
      if (text !== undefined) {
        out.ascii(',"name":')
        out.bytes(utf8.encode(goJsonString(text)))
      } else {
        out.ascii(',"name_raw":"')
        out.base64(nameBytes)
        out.ascii('"')
      }
    }
    if (size !== 0) out.ascii(`,"size":${size}`)
    if (crc === null) out.ascii(',"payload":null')
    else {
      out.ascii(',"payload":"')
      out.base64(crc)
      out.ascii('"')
    }
    out.ascii(`,"position":${this.position++}}\n`)
  }

  /** The NDJSON written so far. */
  take(): Uint8Array {
    return this.out.take()
  }
}

/** Why a tar-split line was rejected. */
export interface TarSplitProblem {
  readonly problem: string
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v)

/** Decodes one NDJSON line (without its newline); `position` is the position it must carry. */
export const parseTarSplitLine = (line: Uint8Array, position: number): TarSplitEntry | TarSplitProblem => {
  const text = validUtf8(line)
  if (text === undefined) return { problem: "line is not UTF-8" }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    return { problem: `not JSON: ${(e as Error).message}` }
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { problem: "not a JSON object" }
  const o = v as Record<string, unknown>
  if (o.position !== position) return { problem: `position ${String(o.position)}, expected ${position}` }
  if (o.type === TAR_SPLIT_SEGMENT) {
    if (typeof o.payload !== "string") return { problem: "segment without a base64 payload" }
    const payload = base64Decode(o.payload)
    if (payload === undefined) return { problem: "segment payload is not base64" }
    return { type: TAR_SPLIT_SEGMENT, payload, position }
  }
  if (o.type !== TAR_SPLIT_FILE) return { problem: `unknown entry type ${JSON.stringify(o.type)}` }
  const size = o.size ?? 0
  if (!isInt(size) || size < 0)
    return { problem: `size ${JSON.stringify(o.size)} is not a non-negative integer` }
  let nameRaw: Uint8Array | undefined
  let name = ""
  if (o.name_raw !== undefined && o.name_raw !== null && o.name_raw !== "") {
    if (typeof o.name_raw !== "string") return { problem: "name_raw is not base64" }
    nameRaw = base64Decode(o.name_raw)
    if (nameRaw === undefined) return { problem: "name_raw is not base64" }
    name = lossyUtf8.decode(nameRaw)
  } else if (o.name !== undefined && o.name !== null) {
    if (typeof o.name !== "string") return { problem: "name is not a string" }
    name = o.name
  }
  let payload: Uint8Array | null = null
  if (o.payload !== undefined && o.payload !== null) {
    if (typeof o.payload !== "string") return { problem: "file payload is not base64" }
    const p = base64Decode(o.payload)
    if (p === undefined) return { problem: "file payload is not base64" }
    payload = p
  }
  return { type: TAR_SPLIT_FILE, name, nameRaw, size, payload, position }
}

/**
 * Splits a stream of NDJSON pieces into lines (newline excluded); a line longer than `maxLine` bytes is
 * reported instead of buffered.
 *
 * @example
 * const lines = new LineSplitter(1 << 20); for (const l of lines.push(piece)) handle(l); for (const l of lines.end()) handle(l)
 */
export class LineSplitter {
  private parts: Array<Uint8Array> = []
  private partsLen = 0
  /** Set once a line exceeded the limit. */
  overflow = false

  constructor(private readonly maxLine: number) {}

  /** Complete lines found in `piece` (views into it, or fresh copies when a line spans pieces). */
  push(piece: Uint8Array): Array<Uint8Array> {
    const lines: Array<Uint8Array> = []
    let from = 0
    for (;;) {
      const nl = piece.indexOf(0x0a, from)
      if (nl < 0) break
      if (this.partsLen > 0) {
        this.parts.push(piece.subarray(from, nl))
        lines.push(this.joined())
      } else lines.push(piece.subarray(from, nl))
      from = nl + 1
    }
    if (from < piece.length) {
      // a copy: the caller may reuse `piece`
      this.parts.push(piece.slice(from))
      this.partsLen += piece.length - from
      if (this.partsLen > this.maxLine) this.overflow = true
    }
    for (const l of lines) if (l.length > this.maxLine) this.overflow = true
    return lines
  }

  /** The last line when the stream does not end with a newline. */
  end(): Array<Uint8Array> {
    return this.partsLen > 0 ? [this.joined()] : []
  }

  private joined(): Uint8Array {
    let n = 0
    for (const p of this.parts) n += p.length
    const out = new Uint8Array(n)
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    this.parts = []
    this.partsLen = 0
    return out
  }
}
