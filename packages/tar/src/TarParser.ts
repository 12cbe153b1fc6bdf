import type { TarFormat, TarHeader } from "./Header.ts"
import { decodeBlock, isProblem, type RawBlock } from "./internal/Block.ts"
import { BLOCK, decodeUtf8, isZeroBlock } from "./internal/Fields.ts"
import { parsePaxInt, parsePaxRecords, parsePaxTime } from "./internal/Pax.ts"
import { TarError } from "./TarError.ts"

/**
 * What the parser reports, in stream order. Byte arrays in events may be views into the chunks
 * given to `push` (see TarParser for their lifetime).
 */
export type TarEvent =
  /** A complete entry header; `raw` holds all of its header blocks (extension headers included) as in the input. */
  | {
      readonly _tag: "Entry"
      readonly header: TarHeader
      readonly raw: Uint8Array
      readonly offset: number
      readonly dataOffset: number
    }
  /** A piece of the current entry's payload (`header.size` bytes in total). */
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  /** A piece of the padding after the payload, up to the next 512-byte boundary. */
  | { readonly _tag: "Padding"; readonly bytes: Uint8Array }
  /** A piece of the end-of-archive blocks or of anything after them; `offset` is the stream offset of `bytes[0]`. */
  | { readonly _tag: "Trailer"; readonly bytes: Uint8Array; readonly offset: number }
  /** Clean end: `offset` is the stream length; `sawEndBlocks` tells whether an end-of-archive zero block was seen. */
  | { readonly _tag: "End"; readonly offset: number; readonly sawEndBlocks: boolean }
  /** The stream was rejected; the parser produces nothing after this. */
  | { readonly _tag: "Error"; readonly error: TarError }

/** Parser limits. */
export interface TarParserOptions {
  /** Most bytes of extension records (PAX 'x', GNU 'L'/'K' payloads) one entry may carry; default 1 MiB. */
  readonly maxMetaBytes?: number
}

const DEFAULT_MAX_META = 1 << 20

const S_HEADER = 0
const S_META = 1
const S_DATA = 2
const S_PADDING = 3
const S_ZERO = 4
const S_TRAILER = 5
const S_DONE = 6

const T_X = 0x78 // 'x' PAX extended header
const T_G = 0x67 // 'g' PAX global header
const T_L = 0x4c // 'L' GNU long name
const T_K = 0x4b // 'K' GNU long link

const EMPTY_MAP: ReadonlyMap<string, Uint8Array> = new Map()
const XATTR_PREFIX = "SCHILY.xattr."

const describeType = (t: number): string =>
  t >= 0x20 && t < 0x7f ? `'${String.fromCharCode(t)}'` : `0x${t.toString(16).padStart(2, "0")}`

/**
 * Incremental, synchronous push parser for tar streams (v7, ustar, PAX, GNU), Go archive/tar rules.
 *
 * `push` never copies: chunks are queued and event byte arrays (`Data`, `Padding`, `Trailer`, and
 * `raw` when a header lies inside one chunk) are subarrays of them. They stay valid as long as the
 * caller does not overwrite a pushed chunk; a caller that reuses its buffers must drain `next()`
 * (until it returns undefined) before refilling one. Header blocks or extension records that straddle
 * chunks are copied into fresh arrays owned by the events.
 *
 * @example
 * const p = new TarParser()
 * p.push(bytes); p.end()
 * for (let ev = p.next(); ev !== undefined; ev = p.next()) if (ev._tag === "Entry") console.log(ev.header.name)
 */
export class TarParser {
  private readonly maxMeta: number
  private chunks: Array<Uint8Array> = []
  private ci = 0
  private cpos = 0
  private ended = false
  private state = S_HEADER
  /** Stream offset of the next unread byte. */
  private pos = 0
  private pending: Array<TarEvent> = []
  // a header block being assembled across chunks
  private blockBuf: Uint8Array | undefined = undefined
  private blockFill = 0
  // the entry being assembled
  private rawParts: Array<Uint8Array> = []
  private rawLen = 0
  private entryOffset = 0
  private entryName = ""
  private paxRecords: Map<string, Uint8Array> | undefined = undefined
  private longName: string | undefined = undefined
  private longLink: string | undefined = undefined
  private metaTotal = 0
  // an extension record being read
  private metaBuf: Uint8Array = new Uint8Array(0)
  private metaFill = 0
  private metaSize = 0
  private metaType = 0
  private metaOffset = 0
  // payload / padding
  private remaining = 0
  private padAfter = 0
  // first end-of-archive block
  private zeroBlock: Uint8Array = new Uint8Array(0)
  private zeroOffset = 0

  /** Creates a parser; `maxMetaBytes` bounds the extension records buffered per entry. */
  constructor(options?: TarParserOptions) {
    const m = options?.maxMetaBytes
    this.maxMeta = m !== undefined && m >= 0 ? m : DEFAULT_MAX_META
  }

  /** Queues more input (not copied; ignored after `end()` or once the parser is done). */
  push(chunk: Uint8Array): void {
    if (this.ended || this.state === S_DONE || chunk.length === 0) return
    this.chunks.push(chunk)
  }

  /** Declares the end of input: `next()` then runs to End or Error. */
  end(): void {
    this.ended = true
  }

  /** The next event, or undefined when more input is needed (or after End/Error). */
  next(): TarEvent | undefined {
    if (this.pending.length > 0) return this.pending.shift()
    for (;;) {
      switch (this.state) {
        case S_HEADER: {
          const start = this.pos - this.blockFill
          const b = this.takeBlock()
          if (b === undefined) return this.ended ? this.eofAtHeader(start) : undefined
          const ev = this.onBlock(b, start)
          if (ev !== undefined) return ev
          break
        }
        case S_META: {
          if (!this.fillMeta()) {
            return this.ended
              ? this.fail(
                  "Truncated",
                  this.metaOffset,
                  `input ends at ${this.pos} inside the extension record of the header at ${this.metaOffset}`,
                )
              : undefined
          }
          const ev = this.onMeta()
          if (ev !== undefined) return ev
          break
        }
        case S_DATA:
        case S_PADDING: {
          const c = this.current()
          if (c === undefined) {
            return this.ended
              ? this.fail(
                  "Truncated",
                  this.entryOffset,
                  `input ends at ${this.pos} inside the ${this.state === S_DATA ? "payload" : "padding"} of ${JSON.stringify(this.entryName)}`,
                )
              : undefined
          }
          const n = Math.min(this.remaining, c.length - this.cpos)
          const bytes = c.subarray(this.cpos, this.cpos + n)
          this.cpos += n
          this.pos += n
          this.remaining -= n
          if (this.state === S_DATA) {
            if (this.remaining === 0) {
              if (this.padAfter > 0) {
                this.state = S_PADDING
                this.remaining = this.padAfter
              } else this.state = S_HEADER
            }
            return { _tag: "Data", bytes }
          }
          if (this.remaining === 0) this.state = S_HEADER
          return { _tag: "Padding", bytes }
        }
        case S_ZERO: {
          const start = this.pos - this.blockFill
          const b = this.takeBlock()
          if (b === undefined) {
            if (!this.ended) return undefined
            if (this.blockFill > 0) {
              return this.fail(
                "Truncated",
                start,
                `input ends at ${this.pos} inside the second end-of-archive block`,
              )
            }
            this.state = S_DONE
            this.pending.push({ _tag: "End", offset: this.pos, sawEndBlocks: true })
            return { _tag: "Trailer", bytes: this.zeroBlock, offset: this.zeroOffset }
          }
          if (!isZeroBlock(b)) {
            return this.fail(
              "BadHeader",
              start,
              `a lone zero block at ${this.zeroOffset} is followed by a non-zero block`,
            )
          }
          this.state = S_TRAILER
          this.pending.push({ _tag: "Trailer", bytes: b, offset: start })
          return { _tag: "Trailer", bytes: this.zeroBlock, offset: this.zeroOffset }
        }
        case S_TRAILER: {
          const c = this.current()
          if (c === undefined) {
            if (!this.ended) return undefined
            this.state = S_DONE
            return { _tag: "End", offset: this.pos, sawEndBlocks: true }
          }
          const offset = this.pos
          const bytes = this.cpos === 0 ? c : c.subarray(this.cpos)
          this.pos += bytes.length
          this.cpos = c.length
          return { _tag: "Trailer", bytes, offset }
        }
        default:
          return undefined
      }
    }
  }

  /** The chunk holding the next unread byte, dropping consumed chunks. */
  private current(): Uint8Array | undefined {
    while (this.ci < this.chunks.length) {
      const c = this.chunks[this.ci]!
      if (this.cpos < c.length) return c
      this.ci++
      this.cpos = 0
    }
    if (this.ci > 0) {
      this.chunks = []
      this.ci = 0
    }
    return undefined
  }

  /** The next 512-byte block: a view into the input when it lies in one chunk, else a fresh copy. */
  private takeBlock(): Uint8Array | undefined {
    if (this.blockFill === 0) {
      const c = this.current()
      if (c === undefined) return undefined
      if (c.length - this.cpos >= BLOCK) {
        const b = c.subarray(this.cpos, this.cpos + BLOCK)
        this.cpos += BLOCK
        this.pos += BLOCK
        return b
      }
      this.blockBuf = new Uint8Array(BLOCK)
    }
    const buf = this.blockBuf!
    while (this.blockFill < BLOCK) {
      const c = this.current()
      if (c === undefined) return undefined
      const n = Math.min(BLOCK - this.blockFill, c.length - this.cpos)
      buf.set(c.subarray(this.cpos, this.cpos + n), this.blockFill)
      this.blockFill += n
      this.cpos += n
      this.pos += n
    }
    this.blockBuf = undefined
    this.blockFill = 0
    return buf
  }

  /** Copies input into the extension record buffer; true once it is complete. */
  private fillMeta(): boolean {
    const buf = this.metaBuf
    while (this.metaFill < buf.length) {
      const c = this.current()
      if (c === undefined) return false
      const n = Math.min(buf.length - this.metaFill, c.length - this.cpos)
      buf.set(c.subarray(this.cpos, this.cpos + n), this.metaFill)
      this.metaFill += n
      this.cpos += n
      this.pos += n
    }
    return true
  }

  private fail(
    reason: TarError["reason"],
    offset: number,
    message: string,
    entry = this.entryName,
  ): TarEvent {
    this.state = S_DONE
    this.chunks = []
    this.ci = 0
    this.cpos = 0
    this.pending = []
    return { _tag: "Error", error: new TarError({ reason, offset, entry, message }) }
  }

  private eofAtHeader(start: number): TarEvent {
    if (this.blockFill > 0) {
      return this.fail(
        "Truncated",
        start,
        `input ends at ${this.pos} inside the header block at ${start}`,
        "",
      )
    }
    if (this.rawParts.length > 0) {
      return this.fail(
        "Truncated",
        this.entryOffset,
        `input ends at ${this.pos} after extension headers, before the header they describe`,
        "",
      )
    }
    this.state = S_DONE
    return { _tag: "End", offset: this.pos, sawEndBlocks: false }
  }

  private resetEntry(): void {
    this.rawParts = []
    this.rawLen = 0
    this.paxRecords = undefined
    this.longName = undefined
    this.longLink = undefined
    this.metaTotal = 0
  }

  private onBlock(b: Uint8Array, offset: number): TarEvent | undefined {
    if (this.rawParts.length === 0) {
      this.entryOffset = offset
      this.entryName = ""
    }
    if (isZeroBlock(b)) {
      if (this.rawParts.length > 0) {
        return this.fail("BadHeader", offset, "end-of-archive block right after extension headers", "")
      }
      this.zeroBlock = b
      this.zeroOffset = offset
      this.state = S_ZERO
      return undefined
    }
    const r = decodeBlock(b)
    if (isProblem(r)) return this.fail(r.reason, offset, r.message, r.name)
    const t = r.typeflag
    if (t === T_X || t === T_L || t === T_K) {
      if (r.size < 0) return this.fail("BadHeader", offset, `negative size ${r.size}`, "")
      this.metaTotal += r.size
      if (this.metaTotal > this.maxMeta) {
        return this.fail(
          "TooLarge",
          offset,
          `extension records of one entry exceed maxMetaBytes (${this.maxMeta})`,
          "",
        )
      }
      this.rawParts.push(b)
      this.rawLen += BLOCK
      this.metaType = t
      this.metaSize = r.size
      this.metaOffset = offset
      this.metaBuf = new Uint8Array(Math.ceil(r.size / BLOCK) * BLOCK)
      this.metaFill = 0
      this.state = S_META
      return undefined
    }
    if (t === T_G) return this.fail("Unsupported", offset, "global PAX headers ('g') are not supported", "")
    if (t !== 0 && (t < 0x30 || t > 0x36)) {
      return this.fail("Unsupported", offset, `unsupported typeflag ${describeType(t)}`, r.name)
    }
    return this.finishEntry(b, offset, r)
  }

  private onMeta(): TarEvent | undefined {
    const buf = this.metaBuf
    const payload = buf.subarray(0, this.metaSize)
    this.rawParts.push(buf)
    this.rawLen += buf.length
    this.state = S_HEADER
    if (this.metaType === T_X) {
      const recs = parsePaxRecords(payload)
      if (!(recs instanceof Map)) return this.fail(recs.reason, this.metaOffset, recs.message, "")
      for (const k of recs.keys()) {
        if (k.startsWith("GNU.sparse.")) {
          // name the file: the sparse name record, else the PAX path
          const nameBytes = recs.get("GNU.sparse.name") ?? recs.get("path")
          const entry = nameBytes ? decodeUtf8(nameBytes, 0, nameBytes.length) : ""
          return this.fail(
            "Unsupported",
            this.metaOffset,
            `${entry || "entry"}: PAX sparse files (${k}) are not supported`,
            entry,
          )
        }
      }
      this.paxRecords = recs
      return undefined
    }
    let end = 0
    while (end < payload.length && payload[end] !== 0) end++
    const s = decodeUtf8(payload, 0, end)
    if (this.metaType === T_L) this.longName = s
    else this.longLink = s
    return undefined
  }

  private finishEntry(b: Uint8Array, offset: number, r: RawBlock): TarEvent {
    let { name, linkname, uname, gname, uid, gid, size, mtime } = r
    let format: TarFormat = r.magic
    let xattrs = EMPTY_MAP
    const pax = this.paxRecords
    if (pax !== undefined) {
      format = "pax"
      let xa: Map<string, Uint8Array> | undefined
      for (const [k, v] of pax) {
        if (k.startsWith(XATTR_PREFIX)) {
          if (xa === undefined) xa = new Map()
          xa.set(k.slice(XATTR_PREFIX.length), v)
          continue
        }
        if (v.length === 0) continue // an empty value keeps the header field, as in Go
        switch (k) {
          case "path":
            name = decodeUtf8(v, 0, v.length)
            break
          case "linkpath":
            linkname = decodeUtf8(v, 0, v.length)
            break
          case "uname":
            uname = decodeUtf8(v, 0, v.length)
            break
          case "gname":
            gname = decodeUtf8(v, 0, v.length)
            break
          case "uid":
          case "gid":
          case "size": {
            const x = parsePaxInt(v)
            if (x === undefined) return this.fail("BadPax", offset, `PAX ${k} is not an integer`, name)
            if (Number.isNaN(x))
              return this.fail("TooLarge", offset, `PAX ${k} exceeds Number.MAX_SAFE_INTEGER`, name)
            if (k === "uid") uid = x
            else if (k === "gid") gid = x
            else size = x
            break
          }
          case "mtime":
          case "atime":
          case "ctime": {
            const x = parsePaxTime(v)
            if (x === undefined) return this.fail("BadPax", offset, `PAX ${k} is not a time`, name)
            if (Number.isNaN(x))
              return this.fail("TooLarge", offset, `PAX ${k} exceeds Number.MAX_SAFE_INTEGER`, name)
            if (k === "mtime") mtime = x
            break
          }
        }
      }
      if (xa !== undefined) xattrs = xa
    }
    if (this.longName !== undefined && this.longName !== "") name = this.longName
    if (this.longLink !== undefined && this.longLink !== "") linkname = this.longLink
    this.entryName = name
    let t = r.typeflag
    if (t === 0) t = name.endsWith("/") ? 0x35 : 0x30
    // Links, directories, devices and FIFOs carry no payload whatever their size field says (as in Go).
    const payloadSize = t === 0x30 ? size : 0
    if (payloadSize < 0) return this.fail("BadHeader", offset, `negative size ${size}`, name)
    this.rawParts.push(b)
    this.rawLen += BLOCK
    let raw: Uint8Array
    if (this.rawParts.length === 1) raw = b
    else {
      raw = new Uint8Array(this.rawLen)
      let p = 0
      for (const part of this.rawParts) {
        raw.set(part, p)
        p += part.length
      }
    }
    const header: TarHeader = {
      name,
      typeflag: String.fromCharCode(t),
      mode: r.mode,
      uid,
      gid,
      size: payloadSize,
      mtime,
      linkname,
      uname,
      gname,
      devmajor: r.devmajor,
      devminor: r.devminor,
      format,
      xattrs,
      pax: pax ?? EMPTY_MAP,
    }
    const entryOffset = this.entryOffset
    this.resetEntry()
    if (payloadSize > 0) {
      this.state = S_DATA
      this.remaining = payloadSize
      this.padAfter = (BLOCK - (payloadSize % BLOCK)) % BLOCK
    } else this.state = S_HEADER
    return { _tag: "Entry", header, raw, offset: entryOffset, dataOffset: entryOffset + raw.length }
  }
}
