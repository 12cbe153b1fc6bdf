// Multi-member gzip framing (RFC 1952) around fflate's raw-deflate `Inflate`.
//
// fflate's own `Gunzip` stream never checks CRC32/ISIZE and accepts a stream cut inside a
// trailer or between members, so the member framing is done here: headers and trailers are
// parsed and verified by this module, and only the deflate body goes to fflate. Knowing where
// a deflate body ends needs two fields of fflate's `Inflate` state (`s` and `p`, the same ones
// its `Gunzip` uses); the pinned fflate 0.8.3 is covered by the conformance suite.
import { Inflate } from "fflate"
import { crc32 } from "./Crc32.ts"

/** Why the framing failed; mapped to `CodecError` at the engine boundary. */
export class GunzipFailure {
  constructor(
    readonly reason: "Corrupt" | "Truncated" | "Engine",
    readonly message: string,
  ) {}
}

/** The two private fields of fflate's `Inflate` read here. */
interface InflateInternals {
  /** Decoder state: `f` = the final block was started, `l` = a block is in progress, `p` = bit offset in `p`. */
  readonly s: { readonly f?: number; readonly l?: unknown; readonly p?: number }
  /** Unconsumed input, starting at the byte that holds bit `s.p`. */
  readonly p: Uint8Array
}

const EMPTY = new Uint8Array(0)
/** Input handed to fflate per call: bounds the output of one call (deflate expands at most ~1032x). */
const SLICE = 64 * 1024
/** Longest gzip header accepted (FEXTRA is at most 64 KiB; FNAME/FCOMMENT have no limit in the RFC). */
const MAX_HEADER = 1024 * 1024

const HEADER = 0
const BODY = 1
const TRAILER = 2
const BETWEEN = 3
const PADDING = 4
const DONE = 5

const corrupt = (message: string) => new GunzipFailure("Corrupt", message)

/**
 * Length of the gzip header at the start of `b`, or -1 when `b` ends inside it.
 * Rejects a wrong magic/method/flag byte as soon as it is present.
 */
const parseHeader = (b: Uint8Array, member: number): number => {
  const n = b.length
  if ((n > 0 && b[0] !== 0x1f) || (n > 1 && b[1] !== 0x8b)) {
    throw corrupt(`member ${member}: not a gzip header (magic ${hex(b, 0, Math.min(n, 2))})`)
  }
  if (n > 2 && b[2] !== 8) throw corrupt(`member ${member}: compression method ${b[2]} is not deflate`)
  if (n > 3 && (b[3]! & 0xe0) !== 0) throw corrupt(`member ${member}: reserved header flag bits set`)
  if (n < 10) return -1
  const flg = b[3]!
  let p = 10
  if (flg & 4) {
    if (n < 12) return -1
    p = 12 + (b[10]! | (b[11]! << 8))
    if (n < p) return -1
  }
  for (const bit of [8, 16]) {
    if (flg & bit) {
      const z = b.indexOf(0, p)
      if (z < 0) return -1
      p = z + 1
    }
  }
  if (flg & 2) {
    if (n < p + 2) return -1
    const want = b[p]! | (b[p + 1]! << 8)
    if ((crc32(b.subarray(0, p)) & 0xffff) !== want) throw corrupt(`member ${member}: header CRC16 mismatch`)
    p += 2
  }
  return p
}

const hex = (b: Uint8Array, from: number, to: number): string =>
  Array.from(b.subarray(from, to), (x) => x.toString(16).padStart(2, "0")).join("") || "(none)"

const readU32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0

/**
 * An incremental decoder for a whole multi-member gzip stream that verifies every member's
 * header, CRC32 and ISIZE. Zero bytes after the last member are accepted as padding (as zlib
 * and GNU gzip do); anything else after a member must be another member.
 * Methods throw `GunzipFailure`; the engine turns that into a `CodecError`.
 */
export class MultiMemberGunzip {
  /** Total bytes produced so far (for output bounds). */
  outputBytes = 0
  /** Members completed so far. */
  members = 0
  private phase = HEADER
  private pending: Uint8Array = EMPTY
  private inflate: Inflate | undefined
  private crc = 0
  private isize = 0
  private readonly trailer = new Uint8Array(8)
  private trailerLength = 0
  private out: Array<Uint8Array> = []
  private failed: GunzipFailure | undefined
  private readonly onData = (d: Uint8Array): void => {
    if (d.length === 0) return
    this.crc = crc32(d, this.crc)
    this.isize = (this.isize + d.length) >>> 0
    this.outputBytes += d.length
    this.out.push(d)
  }

  /** Feeds compressed bytes; the output is collected for `take`. */
  push(chunk: Uint8Array): void {
    this.guard(() => {
      if (this.phase === DONE) throw new GunzipFailure("Engine", "push after end")
      this.feed(chunk)
    })
  }

  /** Ends the stream; throws "Truncated" unless it stopped right after a member (or its padding). */
  finish(): void {
    this.guard(() => {
      switch (this.phase) {
        case HEADER:
          throw new GunzipFailure(
            "Truncated",
            this.members === 0 && this.pending.length === 0
              ? "no gzip member in the input"
              : `stream ends inside the header of member ${this.members}`,
          )
        case BODY:
          throw new GunzipFailure(
            "Truncated",
            `stream ends inside the deflate data of member ${this.members}`,
          )
        case TRAILER:
          throw new GunzipFailure("Truncated", `stream ends inside the trailer of member ${this.members}`)
        case DONE:
          throw new GunzipFailure("Engine", "end called twice")
      }
      this.phase = DONE
    })
  }

  /** Returns and forgets the output produced since the last call. */
  take(): Array<Uint8Array> {
    const out = this.out
    this.out = []
    return out
  }

  private guard(f: () => void): void {
    if (this.failed) throw this.failed
    try {
      f()
    } catch (e) {
      this.failed = toFailure(e, this.members)
      this.inflate = undefined
      this.out = []
      throw this.failed
    }
  }

  private feed(chunk: Uint8Array): void {
    let buf = chunk
    let pos = 0
    while (pos < buf.length) {
      switch (this.phase) {
        case HEADER:
          pos = this.header(buf, pos)
          break
        case BODY: {
          const end = Math.min(buf.length, pos + SLICE)
          const inflate = this.inflate!
          inflate.push(buf.subarray(pos, end))
          const st = inflate as unknown as InflateInternals
          if (st.s.f && !st.s.l) {
            // The deflate stream ended: what fflate did not consume belongs to the trailer.
            const rest = st.p.subarray(st.s.p ? 1 : 0)
            this.inflate = undefined
            this.phase = TRAILER
            this.trailerLength = 0
            if (rest.length <= end - pos) {
              pos = end - rest.length
            } else {
              buf = concat(rest, buf.subarray(end))
              pos = 0
            }
          } else {
            pos = end
          }
          break
        }
        case TRAILER: {
          const k = Math.min(8 - this.trailerLength, buf.length - pos)
          this.trailer.set(buf.subarray(pos, pos + k), this.trailerLength)
          this.trailerLength += k
          pos += k
          if (this.trailerLength === 8) this.checkTrailer()
          break
        }
        case BETWEEN:
          this.phase = buf[pos] === 0 ? PADDING : HEADER
          break
        case PADDING:
          for (; pos < buf.length; pos++) {
            if (buf[pos] !== 0)
              throw corrupt(`non-zero byte in the zero padding after member ${this.members - 1}`)
          }
          break
      }
    }
  }

  private header(buf: Uint8Array, pos: number): number {
    const prev = this.pending.length
    if (prev === 0) {
      const rest = buf.subarray(pos)
      const len = parseHeader(rest, this.members)
      if (len >= 0) {
        this.startBody()
        return pos + len
      }
      if (rest.length > MAX_HEADER)
        throw corrupt(`member ${this.members}: header longer than ${MAX_HEADER} bytes`)
      this.pending = rest.slice()
      return buf.length
    }
    const take = Math.min(buf.length - pos, MAX_HEADER + 1 - prev)
    const merged = concat(this.pending, buf.subarray(pos, pos + take))
    const len = parseHeader(merged, this.members)
    if (len >= 0) {
      this.pending = EMPTY
      this.startBody()
      return pos + (len - prev)
    }
    if (merged.length > MAX_HEADER)
      throw corrupt(`member ${this.members}: header longer than ${MAX_HEADER} bytes`)
    this.pending = merged
    return pos + take
  }

  private startBody(): void {
    this.inflate = new Inflate(this.onData)
    this.crc = 0
    this.isize = 0
    this.phase = BODY
  }

  private checkTrailer(): void {
    const crc = readU32(this.trailer, 0)
    const isize = readU32(this.trailer, 4)
    if (crc !== this.crc) {
      throw corrupt(
        `member ${this.members}: CRC32 mismatch (trailer ${crc.toString(16)}, data ${this.crc.toString(16)})`,
      )
    }
    if (isize !== this.isize) {
      throw corrupt(`member ${this.members}: ISIZE mismatch (trailer ${isize}, data ${this.isize})`)
    }
    this.members++
    this.phase = BETWEEN
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const r = new Uint8Array(a.length + b.length)
  r.set(a)
  r.set(b, a.length)
  return r
}

/** fflate throws `Error`s with a numeric `code` (FlateErrorCode). */
const toFailure = (e: unknown, member: number): GunzipFailure => {
  if (e instanceof GunzipFailure) return e
  const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined
  const message = e instanceof Error ? e.message : String(e)
  switch (code) {
    case 0:
      return new GunzipFailure("Truncated", `member ${member}: ${message}`)
    case 1:
    case 2:
    case 3:
    case 6:
      return corrupt(`member ${member}: ${message}`)
    default:
      return new GunzipFailure("Engine", `member ${member}: ${message}`)
  }
}
