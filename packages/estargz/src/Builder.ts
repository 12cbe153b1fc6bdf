import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import {
  type Compressor,
  type GzipInflater,
  ZstdEngine,
  LayerError,
  type StreamingMember,
  Scratch,
  Sha256,
  type Sha256Hasher,
  GzipEngine,
} from "@lazypull/codec"
import type { RangeReader } from "@lazypull/range"
import { encodeHeader, paddingFor, TarParser, type TarHeader } from "@lazypull/tar"
import {
  cleanEntryName,
  EMPTY_DIGEST,
  entryTypeOf,
  formatModtime,
  LANDMARK_DIGEST,
  LANDMARK_NO_PREFETCH,
  LANDMARK_PREFETCH,
  serializeToc,
  TOC_FILE_NAME,
  type EntryType,
  type TocEntry,
} from "@lazypull/toc"
import { prioritize } from "./Prioritized.ts"
import { codecToLayer } from "./GzipFormat.ts"

/** Default chunk size: 4 MiB, as the reference (used when the option is absent or <= 0). */
export const DEFAULT_CHUNK_SIZE = 4 << 20

/** Annotation keys every eStargz-style layer carries. */
export const TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
export const UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size"

/** Options of {@link buildLayer}; names follow ctr-remote's `--estargz-*` flags. */
export interface BuildOptions {
  /** Uncompressed chunk size (default 4 MiB; <= 0 means default). */
  readonly chunkSize?: number
  /** Pack chunks into shared members until a member has this many compressed bytes (innerOffset; 0 = off). */
  readonly minChunkSize?: number
  /** Put the TOC in a separate blob and end the layer with the 46-byte footer. */
  readonly externalToc?: boolean
  /** With externalToc: pass the input tar through byte for byte, so the diffID stays the same. */
  readonly keepDiffId?: boolean
  /** Paths to put first (prefetched), e.g. from a ctr-remote record file. */
  readonly prioritizedFiles?: ReadonlyArray<string>
  /** Fail when a prioritized path is missing (default false: report it in `missedPrioritized`, as ctr-remote convert). */
  readonly strictPrioritized?: boolean
  /** Chunks' worth of data compressing at once (default 4: memory stays ~ parallelism x chunk size). Output bytes do not depend on it. */
  readonly parallelism?: number
}

/**
 * What a Compressor may add to say how many members may be in flight at once in `buildLayer` (default 16):
 * one whose members mostly compress at once or on other threads, each holding little memory until written
 * (zstd:chunked), lets more small members queue so that the other threads never wait for work.
 */
export interface MembersInFlight {
  readonly membersInFlight?: number
}

/** Where the blob goes, chunk by chunk, in order. */
export interface BlobSink {
  write(bytes: Uint8Array): Effect.Effect<void, LayerError>
}

/** Written members smaller than this are gathered and reach the sink together, in one write. */
const COALESCE_BELOW = 256 << 10
/** A gathered run of small members is written once it holds this many bytes. */
const COALESCE_BYTES = 1 << 20

/**
 * Members (or frames) compressing at once and reaching the sink in submission order: each compression starts
 * immediately, `offsets[i]` is the blob offset of the i-th once written, and memory is bounded by the bytes
 * and the number in flight. Consecutive small members are handed to the sink as one write (a layer of small
 * files makes tens of thousands of tiny frames); the bytes are the same. Shared by the eStargz/zstd:chunked
 * builder and the containers/storage builder.
 */
export class OrderedWriter {
  /** Blob offset of each written member, in submission order. */
  readonly offsets: Array<number> = []
  /** Compressed bytes written so far (including those gathered for the next sink write). */
  size = 0
  private readonly inflight: Array<{
    fiber: Fiber.Fiber<Uint8Array, LayerError>
    size: number
    onWritten: (() => void) | undefined
  }> = []
  private inflightBytes = 0
  /** Small members gathered for the next sink write. */
  private gathered: Array<Uint8Array> = []
  private gatheredBytes = 0
  constructor(
    private readonly sink: BlobSink,
    private readonly blobHash: Sha256Hasher,
    private readonly maxInflightBytes: number,
    private readonly maxInflight: number,
  ) {}

  /** Starts `compress` (of `size` uncompressed bytes); `onWritten` runs once its output is on the sink. */
  submit(
    compress: Effect.Effect<Uint8Array, LayerError>,
    size: number,
    onWritten?: () => void,
  ): Effect.Effect<void, LayerError> {
    const self = this
    return Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(compress, { startImmediately: true })
      self.inflight.push({ fiber, size, onWritten })
      self.inflightBytes += size
      // bound memory by bytes and count: many small members may overtake one big one
      while (self.inflightBytes > self.maxInflightBytes || self.inflight.length > self.maxInflight)
        yield* self.drainOne()
    })
  }

  private drainOne(): Effect.Effect<void, LayerError> {
    const self = this
    return Effect.gen(function* () {
      const f = self.inflight.shift()
      if (!f) return
      self.inflightBytes -= f.size
      const bytes = yield* Fiber.join(f.fiber)
      f.onWritten?.()
      self.offsets.push(self.size)
      yield* self.put(bytes)
    })
  }

  /** Waits until every submitted member is written. */
  drainAll(): Effect.Effect<void, LayerError> {
    const self = this
    return Effect.gen(function* () {
      while (self.inflight.length > 0) yield* self.drainOne()
      yield* self.flush()
    })
  }

  /** Writes bytes that are already compressed (TOC, footer) after everything written so far. */
  writeRaw(bytes: Uint8Array): Effect.Effect<void, LayerError> {
    return Effect.flatMap(this.put(bytes), () => this.flush())
  }

  /** Appends `bytes` to the blob: gathered when small, else written after what is gathered. */
  private put(bytes: Uint8Array): Effect.Effect<void, LayerError> {
    this.size += bytes.length
    this.blobHash.update(bytes)
    if (bytes.length >= COALESCE_BELOW)
      return this.gatheredBytes === 0
        ? this.sink.write(bytes)
        : Effect.flatMap(this.flush(), () => this.sink.write(bytes))
    this.gathered.push(bytes)
    this.gatheredBytes += bytes.length
    return this.gatheredBytes >= COALESCE_BYTES ? this.flush() : Effect.void
  }

  /** Hands the gathered members to the sink as one write (a fresh buffer: sinks may keep it). */
  private flush(): Effect.Effect<void, LayerError> {
    const parts = this.gathered
    if (parts.length === 0) return Effect.void
    const total = this.gatheredBytes
    this.gathered = []
    this.gatheredBytes = 0
    if (parts.length === 1) return this.sink.write(parts[0]!)
    const joined = new Uint8Array(total)
    let at = 0
    for (const p of parts) {
      joined.set(p, at)
      at += p.length
    }
    return this.sink.write(joined)
  }
}

/** Everything a converter needs to know about the layer it wrote. */
export interface BuildResult {
  readonly blobDigest: string
  readonly blobSize: number
  readonly tocDigest: string
  readonly diffId: string
  readonly uncompressedSize: number
  readonly annotations: Readonly<Record<string, string>>
  /** The TOC blob (a tar+gzip layer of its own) when `externalToc` is set. */
  readonly externalToc?: { readonly bytes: Uint8Array; readonly digest: string }
  /** Prioritized paths that were not found in the layer. */
  readonly missedPrioritized: ReadonlyArray<string>
  /** Number of TOC entries (chunks included). */
  readonly tocEntries: number
}

/** A layer to convert: random access to its bytes (tar, tar+gzip or tar+zstd, detected by magic). */
export type BuildInput = RangeReader

const FORMAT = "estargz"
/** Members in flight at once, unless the compressor says otherwise (`MembersInFlight`). */
const MAX_INFLIGHT_MEMBERS = 16

const membersInFlight = (compressor: Compressor): number => {
  const n = (compressor as Compressor & MembersInFlight).membersInFlight
  return n !== undefined && Number.isInteger(n) && n >= 1 ? Math.min(n, 1024) : MAX_INFLIGHT_MEMBERS
}

/** Members start in a buffer of this size and move to bigger ones (powers of two up to a chunk) as needed. */
const SMALL_MEMBER = 16 << 10
/** Most spare buffers of the smallest size kept for reuse. */
const MAX_POOLED_SMALL = 64
const READ_BLOCK = 1 << 20

const typeOf = entryTypeOf

const bad = (
  reason: LayerError["reason"],
  message: string,
  extra: { offset?: number; entry?: string } = {},
) => new LayerError({ reason, format: FORMAT, message, ...extra })

const b64 = (v: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < v.length; i++) s += String.fromCharCode(v[i]!)
  return btoa(s)
}

/** Builds TOC entries from tar headers; keeps the per-uid/gid "name if changed" state of the Go writer. */
class EntryMaker {
  private readonly unames = new Map<number, string>()
  private readonly gnames = new Map<number, string>()
  private ifChanged(m: Map<number, string>, id: number, name: string): string | undefined {
    if (name === "" || m.get(id) === name) return undefined
    m.set(id, name)
    return name
  }
  make(h: TarHeader, type: EntryType): TocEntry {
    const e: TocEntry = { name: h.name, type }
    if (type === "reg" && h.size > 0) e.size = h.size
    const mt = formatModtime(h.mtime)
    if (mt !== undefined) e.modtime = mt
    if ((type === "symlink" || type === "hardlink") && h.linkname !== "") e.linkName = h.linkname
    if (h.mode !== 0) e.mode = h.mode
    if (h.uid !== 0) e.uid = h.uid
    if (h.gid !== 0) e.gid = h.gid
    const un = this.ifChanged(this.unames, h.uid, h.uname)
    if (un !== undefined) e.userName = un
    const gn = this.ifChanged(this.gnames, h.gid, h.gname)
    if (gn !== undefined) e.groupName = gn
    if (type === "char" || type === "block") {
      if (h.devmajor !== 0) e.devMajor = h.devmajor
      if (h.devminor !== 0) e.devMinor = h.devminor
    }
    if (h.xattrs.size > 0) {
      const x: Record<string, string> = {}
      for (const [k, v] of h.xattrs) x[k] = b64(v)
      e.xattrs = x
    }
    if (type === "reg") e.digest = EMPTY_DIGEST
    return e
  }
}

/** Where a chunk landed: the member it starts or shares, and how far into that member's output it begins. */
interface ChunkPlace {
  readonly member: number
  readonly innerOffset: number
}

/** Turns the uncompressed stream into compressed members on the sink. */
interface Assembler {
  /** Compressed offset of each member, in order (complete after `finish`). */
  readonly memberOffsets: ReadonlyArray<number>
  readonly compressedSize: number
  readonly uncompressedSize: number
  /** Appends a copy of `bytes` (callers may reuse the buffer afterwards). */
  append(bytes: Uint8Array): void
  /** Appends `n` bytes the caller fills before its next call (read a payload straight into the member). */
  reserve(n: number): Uint8Array
  /** Called before each chunk's payload; `forceNew` for landmarks, which always start a member. */
  startChunk(forceNew: boolean): Effect.Effect<ChunkPlace, LayerError>
  finish(): Effect.Effect<void, LayerError>
  writeRaw(bytes: Uint8Array): Effect.Effect<void, LayerError>
}

/**
 * Classic layout: every chunk starts a member. Keeps members compressing in parallel and writes them to
 * the sink in order; offsets of members are known once they are written.
 */
class ParallelAssembler implements Assembler {
  /** The member being assembled; recycled through the pool once compressed, so little garbage is made. */
  private buf: Uint8Array
  private len = 0
  /**
   * Member buffers come in sizes from 16 KiB (headers, small files) doubling up to `memberSize` (a chunk),
   * so that a member takes at most twice its bytes (a 100 KiB file does not take a 4 MiB buffer). Spare
   * ones are kept for reuse: the smallest in their own list, the others in one list, least recently
   * returned first, dropped beyond the bytes that can be in flight plus one chunk.
   */
  private readonly smallSpare: Array<Uint8Array> = []
  private readonly spare: Array<Uint8Array> = []
  private spareBytes = 0
  private readonly writer: OrderedWriter
  private closed = 0
  uncompressedSize = 0
  constructor(
    private readonly compressor: Compressor,
    sink: BlobSink,
    /** Uncompressed bytes allowed in flight (compressing or waiting to be written in order). */
    private readonly maxInflightBytes: number,
    private readonly diffHash: Sha256Hasher,
    blobHash: Sha256Hasher,
    /** Size of a pooled member buffer: one chunk plus room for the headers that follow it. */
    private readonly memberSize: number,
    /** Members in flight at once (their buffers are pooled up to this many). */
    private readonly maxMembers: number,
  ) {
    this.buf = new Uint8Array(SMALL_MEMBER)
    this.writer = new OrderedWriter(sink, blobHash, maxInflightBytes, maxMembers)
  }

  /** Compressed offset of each member, in order, filled as members are written. */
  get memberOffsets(): ReadonlyArray<number> {
    return this.writer.offsets
  }

  get compressedSize(): number {
    return this.writer.size
  }

  private ensure(n: number): void {
    if (n <= this.buf.length) return
    let size = n
    if (n <= this.memberSize) {
      size = SMALL_MEMBER
      while (size < n) size *= 2
      size = Math.min(size, this.memberSize)
    } else size = Math.max(n, this.buf.length * 2)
    const bigger = this.take(size)
    bigger.set(this.buf.subarray(0, this.len))
    this.recycle(this.buf)
    this.buf = bigger
  }

  /** The smallest spare buffer of at least `size` bytes and at most four times that, else a new one. */
  private take(size: number): Uint8Array {
    if (size === SMALL_MEMBER) return this.smallSpare.pop() ?? new Uint8Array(size)
    let best = -1
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const n = this.spare[i]!.length
      if (n >= size && n <= 4 * size && (best < 0 || n < this.spare[best]!.length)) best = i
    }
    if (best < 0) return new Uint8Array(size)
    const b = this.spare.splice(best, 1)[0]!
    this.spareBytes -= b.length
    return b
  }

  private recycle(b: Uint8Array): void {
    if (b.length === SMALL_MEMBER) {
      if (this.smallSpare.length < Math.min(this.maxMembers, MAX_POOLED_SMALL)) this.smallSpare.push(b)
      return
    }
    if (b.length > this.memberSize) return
    this.spare.push(b)
    this.spareBytes += b.length
    while (this.spareBytes > this.maxInflightBytes + this.memberSize)
      this.spareBytes -= this.spare.shift()!.length
  }

  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.ensure(this.len + bytes.length)
    this.buf.set(bytes, this.len)
    this.len += bytes.length
    this.uncompressedSize += bytes.length
  }

  reserve(n: number): Uint8Array {
    this.ensure(this.len + n)
    const view = this.buf.subarray(this.len, this.len + n)
    this.len += n
    this.uncompressedSize += n
    return view
  }

  startChunk(): Effect.Effect<ChunkPlace, LayerError> {
    return Effect.map(this.cut(), (member) => ({ member, innerOffset: 0 }))
  }

  /** Ends the current member (if it has bytes) and returns the index the next member will have. */
  cut(): Effect.Effect<number, LayerError> {
    const self = this
    return Effect.gen(function* () {
      if (self.len > 0) {
        const data = self.buf.subarray(0, self.len)
        self.diffHash.update(data)
        // the buffer stays untouched until its member is written, then goes back to the pool
        const buf = self.buf
        yield* self.writer.submit(self.compressor.compressMember(data), data.length, () => self.recycle(buf))
        self.buf = self.take(SMALL_MEMBER)
        self.len = 0
        self.closed++
      }
      return self.closed
    })
  }

  /** Closes the last member and waits until everything is written. */
  finish(): Effect.Effect<void, LayerError> {
    return Effect.flatMap(this.cut(), () => this.writer.drainAll())
  }

  /** Writes bytes that are already compressed (TOC member, footer). */
  writeRaw(bytes: Uint8Array): Effect.Effect<void, LayerError> {
    return this.writer.writeRaw(bytes)
  }
}

/**
 * min-chunk-size layout (FORMATS §6.1): one streaming member at a time; before each chunk the deflater is
 * sync-flushed so the compressed position is exact, and a new member starts only when the current one
 * has reached `minChunkSize` compressed bytes (or for a landmark). Chunks that share a member are
 * addressed by `innerOffset`. Sequential, like the reference (which uses one worker for this mode).
 */
class PackingAssembler implements Assembler {
  readonly memberOffsets: Array<number> = [0]
  compressedSize = 0
  uncompressedSize = 0
  private pending: Array<Uint8Array> = []
  private memberUncompressedStart = 0
  constructor(
    private readonly deflater: StreamingMember,
    private readonly minChunkSize: number,
    private readonly sink: BlobSink,
    private readonly diffHash: Sha256Hasher,
    private readonly blobHash: Sha256Hasher,
  ) {}

  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.pending.push(bytes.slice())
    this.uncompressedSize += bytes.length
  }

  reserve(n: number): Uint8Array {
    const b = new Uint8Array(n)
    this.pending.push(b)
    this.uncompressedSize += n
    return b
  }

  private emit(out: ReadonlyArray<Uint8Array>): Effect.Effect<void, LayerError> {
    return Effect.forEach(
      out,
      (b) => {
        this.compressedSize += b.length
        this.blobHash.update(b)
        return this.sink.write(b)
      },
      { discard: true },
    )
  }

  private feed(): Effect.Effect<void, LayerError> {
    const parts = this.pending
    this.pending = []
    for (const p of parts) this.diffHash.update(p)
    return Effect.forEach(parts, (p) => Effect.flatMap(this.deflater.write(p), (out) => this.emit(out)), {
      discard: true,
    })
  }

  startChunk(forceNew: boolean): Effect.Effect<ChunkPlace, LayerError> {
    const self = this
    return Effect.gen(function* () {
      yield* self.feed()
      yield* self.emit(yield* self.deflater.flush())
      const memberStart = self.memberOffsets[self.memberOffsets.length - 1]!
      if (forceNew || self.compressedSize - memberStart >= self.minChunkSize) {
        yield* self.emit(yield* self.deflater.finish())
        self.memberOffsets.push(self.compressedSize)
        self.memberUncompressedStart = self.uncompressedSize
        return { member: self.memberOffsets.length - 1, innerOffset: 0 }
      }
      return {
        member: self.memberOffsets.length - 1,
        innerOffset: self.uncompressedSize - self.memberUncompressedStart,
      }
    })
  }

  finish(): Effect.Effect<void, LayerError> {
    const self = this
    return Effect.gen(function* () {
      yield* self.feed()
      yield* self.emit(yield* self.deflater.finish())
    })
  }

  writeRaw(bytes: Uint8Array): Effect.Effect<void, LayerError> {
    return this.emit([bytes])
  }
}

/** A data entry of the TOC whose `offset` is a member index until the members are written. */
interface PendingOffset {
  readonly entry: TocEntry
  readonly member: number
}

/** One scanned input entry (pass 1). */
interface Scanned {
  readonly header: TarHeader
  readonly clean: string
  readonly type: EntryType
  readonly rawOffset: number
  readonly rawLength: number
  readonly dataOffset: number
  /** Payload bytes in the input (0 for header-only types). */
  readonly payload: number
}

/**
 * Sequential reads through a window: pass 2 reads headers and payloads mostly in input order, so small
 * reads are served from one large read instead of one I/O each. Large reads go straight through, and so
 * does a read with `ahead` false (a header before a large payload, which is read straight into its member:
 * a window there would read the payload's start twice).
 */
const readAhead = (tar: RangeReader) => {
  let winStart = 0
  let win: Uint8Array = new Uint8Array(0)
  // with readInto the window buffer is reused: a returned view is valid until the next call
  const winBuf = tar.readInto ? new Uint8Array(4 * READ_BLOCK) : undefined
  const ioErr = (e: { message: string; offset: number }) => bad("Io", e.message, { offset: e.offset })
  const direct = (offset: number, length: number) => tar.readAt(offset, length).pipe(Effect.mapError(ioErr))
  const read = (offset: number, length: number, ahead = true): Effect.Effect<Uint8Array, LayerError> => {
    if (offset >= winStart && offset + length <= winStart + win.length)
      return Effect.succeed(win.subarray(offset - winStart, offset - winStart + length))
    if (length >= READ_BLOCK || !ahead) return direct(offset, length)
    const n = Math.min(tar.size - offset, Math.max(length, 4 * READ_BLOCK))
    if (winBuf && tar.readInto && n <= winBuf.length) {
      const target = winBuf.subarray(0, n)
      win = new Uint8Array(0)
      return Effect.map(tar.readInto(offset, target).pipe(Effect.mapError(ioErr)), () => {
        win = target
        winStart = offset
        return target.subarray(0, length)
      })
    }
    return Effect.map(direct(offset, n), (bytes) => {
      win = bytes
      winStart = offset
      return bytes.subarray(0, length)
    })
  }
  /** Fills `target` with the bytes at `offset`: from the window, or read straight into it. */
  const into = (offset: number, target: Uint8Array): Effect.Effect<void, LayerError> => {
    if (target.length < READ_BLOCK || !tar.readInto)
      return Effect.map(read(offset, target.length), (b) => target.set(b))
    return tar.readInto(offset, target).pipe(Effect.mapError(ioErr))
  }
  return { read, into }
}

const isGzip = (b: Uint8Array) => b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08
const isZstd = (b: Uint8Array) =>
  b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd

/**
 * Returns random access to the uncompressed tar: the input itself when it is a plain tar, otherwise the
 * decompressed stream spooled to scratch space (the reference spools to a temp file too).
 */
const uncompressedTar = (
  input: RangeReader,
): Effect.Effect<RangeReader, LayerError, GzipEngine | Scratch | Scope.Scope> =>
  Effect.gen(function* () {
    const head = yield* input
      .readAt(0, Math.min(4, input.size))
      .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
    if (!isGzip(head) && !isZstd(head)) return input
    const codec = isGzip(head) ? "input gzip" : "input zstd"
    let inflater: GzipInflater
    if (isGzip(head)) {
      inflater = yield* (yield* GzipEngine).inflater().pipe(Effect.mapError(codecToLayer(FORMAT, codec)))
    } else {
      const zstd = yield* Effect.serviceOption(ZstdEngine)
      if (Option.isNone(zstd))
        return yield* Effect.fail(
          bad("Unsupported", "the input is zstd-compressed and no ZstdEngine is provided"),
        )
      inflater = yield* zstd.value.inflater().pipe(Effect.mapError(codecToLayer(FORMAT, codec)))
    }
    const scratch = yield* (yield* Scratch).create()
    for (let off = 0; off < input.size; off += READ_BLOCK) {
      const n = Math.min(READ_BLOCK, input.size - off)
      const chunk = yield* input
        .readAt(off, n)
        .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
      const out = yield* inflater.push(chunk).pipe(Effect.mapError(codecToLayer(FORMAT, codec, off)))
      for (const o of out) yield* scratch.append(o)
    }
    const rest = yield* inflater.end().pipe(Effect.mapError(codecToLayer(FORMAT, codec, input.size)))
    for (const o of rest) yield* scratch.append(o)
    return yield* scratch.seal()
  })

/** Stands in for payload bytes pass 1 does not read (the parser only counts them). */
const ZERO_BLOCK = new Uint8Array(READ_BLOCK)
/** Pass 1's first read after a skipped payload. */
const HEADER_BLOCK = 16 << 10

/**
 * Pass 1: every entry of the tar with its place in the input; rejects what eStargz cannot carry. Only
 * headers are read: a payload that reaches past the bytes read so far is pushed to the parser as zeros
 * (up to the end of the file, so truncation is still seen), and reading resumes after it with a small
 * read (doubling while no payload is skipped), into one reused buffer when the input can read into one.
 */
const scan = (tar: RangeReader, lossless: boolean): Effect.Effect<Array<Scanned>, LayerError> =>
  Effect.gen(function* () {
    const parser = new TarParser()
    const out: Array<Scanned> = []
    /** File offset of the next byte to hand to the parser. */
    let pos = 0
    /** Bytes of the next read: small after a skipped payload (the next header is at its start), doubling after. */
    let block = READ_BLOCK
    const skipTo = (end: number) => {
      if (pos < end) block = HEADER_BLOCK
      while (pos < end) {
        const n = Math.min(ZERO_BLOCK.length, end - pos)
        parser.push(ZERO_BLOCK.subarray(0, n))
        pos += n
      }
    }
    const drain = (): LayerError | undefined => {
      for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
        if (ev._tag === "Error")
          return bad(ev.error.reason === "Unsupported" ? "Unsupported" : "BadInput", ev.error.message, {
            offset: ev.error.offset,
            entry: ev.error.entry,
          })
        if (ev._tag !== "Entry") continue
        const h = ev.header
        const type = typeOf(h.typeflag)
        if (type === undefined)
          return bad("Unsupported", `unsupported input tar entry type ${JSON.stringify(h.typeflag)}`, {
            offset: ev.offset,
            entry: h.name,
          })
        out.push({
          header: h,
          clean: cleanEntryName(h.name),
          type,
          rawOffset: ev.offset,
          rawLength: ev.raw.length,
          dataOffset: ev.dataOffset,
          payload: type === "reg" ? h.size : 0,
        })
        if (lossless && cleanEntryName(h.name) === TOC_FILE_NAME)
          return bad("BadInput", `input already contains ${TOC_FILE_NAME}; keep-diff-id cannot convert it`, {
            offset: ev.offset,
            entry: h.name,
          })
        skipTo(Math.min(tar.size, ev.dataOffset + h.size))
      }
      return undefined
    }
    // the parser is drained before the buffer is refilled, and keeps no view of it (headers are decoded)
    const buf = tar.readInto ? new Uint8Array(READ_BLOCK) : undefined
    while (pos < tar.size) {
      const n = Math.min(block, tar.size - pos)
      block = Math.min(READ_BLOCK, block * 2)
      let chunk: Uint8Array
      if (buf !== undefined && tar.readInto) {
        chunk = buf.subarray(0, n)
        yield* tar
          .readInto(pos, chunk)
          .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
      } else
        chunk = yield* tar
          .readAt(pos, n)
          .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
      parser.push(chunk)
      pos += n
      const err = drain()
      if (err) return yield* Effect.fail(err)
    }
    parser.end()
    const err = drain()
    if (err) return yield* Effect.fail(err)
    return out
  })

/**
 * Converts a layer to an eStargz-style blob with the given compressor (gzip eStargz, or zstd:chunked's
 * stargz dialect): landmark, prioritized files, fixed-size chunks each starting a member, TOC and footer.
 * Streams: memory stays bounded by `parallelism` x chunk size whatever the layer size.
 */
export const buildLayer = (
  input: BuildInput,
  compressor: Compressor,
  options: BuildOptions,
  sink: BlobSink,
): Effect.Effect<BuildResult, LayerError, Sha256 | GzipEngine | Scratch> =>
  Effect.scoped(
    Effect.gen(function* () {
      const chunkSize = options.chunkSize && options.chunkSize > 0 ? options.chunkSize : DEFAULT_CHUNK_SIZE
      if (!Number.isSafeInteger(chunkSize))
        return yield* Effect.fail(bad("BadOption", `chunk size ${chunkSize}`))
      const lossless = options.keepDiffId === true
      if (lossless && !options.externalToc)
        return yield* Effect.fail(
          bad("BadOption", "keep-diff-id needs external TOC (--estargz-external-toc)"),
        )
      if (lossless && (options.prioritizedFiles?.length ?? 0) > 0)
        return yield* Effect.fail(
          bad("BadOption", "keep-diff-id cannot reorder files (no prioritized files)"),
        )
      const parallelism = Math.max(1, Math.min(64, options.parallelism ?? 4))

      const sha = yield* Sha256
      const diffHash = sha.make()
      const blobHash = sha.make()
      const minChunkSize = options.minChunkSize ?? 0
      if (!Number.isSafeInteger(minChunkSize) || minChunkSize < 0)
        return yield* Effect.fail(bad("BadOption", `min chunk size ${minChunkSize}`))
      let asm: Assembler
      if (minChunkSize > 0) {
        if (!compressor.streamingMember)
          return yield* Effect.fail(bad("BadOption", `${compressor.name} does not support min-chunk-size`))
        asm = new PackingAssembler(
          yield* compressor.streamingMember(),
          minChunkSize,
          sink,
          diffHash,
          blobHash,
        )
      } else
        asm = new ParallelAssembler(
          compressor,
          sink,
          parallelism * chunkSize,
          diffHash,
          blobHash,
          Math.min(chunkSize, 64 << 20) + (64 << 10),
          membersInFlight(compressor),
        )
      const entries: Array<TocEntry> = []
      const pending: Array<PendingOffset> = []
      const maker = new EntryMaker()

      let missedPrioritized: ReadonlyArray<string> = []
      const tar = yield* uncompressedTar(input)
      const scanned = yield* scan(tar, lossless)

      const { read, into } = readAhead(tar)

      /** Writes one regular file's payload in chunks; returns after the padding is appended. */
      const writePayload = (entry: TocEntry, dataOffset: number, size: number) =>
        Effect.gen(function* () {
          // a single-chunk file's digest is its chunk's digest: hash once
          const fileHash = size > chunkSize ? sha.make() : undefined
          let chunkDigest = ""
          for (let co = 0; co < size; co += chunkSize) {
            const len = Math.min(chunkSize, size - co)
            const { member, innerOffset } = yield* asm.startChunk(false)
            // read the payload straight into the member; hash it before anything else is appended
            const data = asm.reserve(len)
            yield* into(dataOffset + co, data)
            const ch = sha.make()
            ch.update(data)
            fileHash?.update(data)
            chunkDigest = `sha256:${ch.hex()}`
            let target: TocEntry
            if (co === 0) target = entry
            else {
              target = { name: entry.name, type: "chunk", chunkOffset: co }
              entries.push(target)
            }
            if (innerOffset > 0) target.innerOffset = innerOffset
            if (len === chunkSize) target.chunkSize = chunkSize
            target.chunkDigest = chunkDigest
            pending.push({ entry: target, member })
          }
          entry.digest = fileHash ? `sha256:${fileHash.hex()}` : chunkDigest
        })

      if (lossless) {
        // keep-diff-id: every input byte in input order (FORMATS §7.5); members start at payloads.
        let pos = 0
        for (const s of scanned) {
          if (s.rawOffset > pos) asm.append(yield* read(pos, s.rawOffset - pos))
          asm.append(yield* read(s.rawOffset, s.rawLength, s.payload < READ_BLOCK))
          const e = maker.make(s.header, s.type)
          entries.push(e)
          pos = s.dataOffset
          if (s.type === "reg" && s.payload > 0) {
            yield* writePayload(e, s.dataOffset, s.payload)
            // the input's own padding bytes, whatever they are
            const padLen = paddingFor(s.payload).length
            const end = Math.min(tar.size, s.dataOffset + s.payload + padLen)
            if (end > s.dataOffset + s.payload)
              asm.append(yield* read(s.dataOffset + s.payload, end - s.dataOffset - s.payload))
            pos = end
          }
        }
        if (tar.size > pos) asm.append(yield* read(pos, tar.size - pos))
      } else {
        // drop landmarks and TOC entries, keep the last of duplicate names at its own position
        const live: Array<Scanned> = []
        const lastByName = new Map<string, number>()
        scanned.forEach((s, i) => {
          if (s.clean === TOC_FILE_NAME || s.clean === LANDMARK_PREFETCH || s.clean === LANDMARK_NO_PREFETCH)
            return
          lastByName.set(s.clean, i)
        })
        scanned.forEach((s, i) => {
          if (lastByName.get(s.clean) === i) live.push(s)
        })

        const prio = options.prioritizedFiles ?? []
        const { moved, missed } = prioritize(
          live.map((s) => ({
            clean: s.clean,
            isHardlink: s.type === "hardlink",
            linkClean: cleanEntryName(s.header.linkname),
          })),
          prio,
        )
        if (options.strictPrioritized && missed.length > 0)
          return yield* Effect.fail(bad("NotFound", `prioritized file not found: ${missed.join(", ")}`))
        const movedSet = new Set(moved)
        const order: Array<number | "landmark"> = []
        if (prio.length === 0) order.push("landmark")
        for (const i of moved) order.push(i)
        if (prio.length > 0) order.push("landmark")
        live.forEach((_, i) => {
          if (!movedSet.has(i)) order.push(i)
        })
        const landmarkName = prio.length > 0 ? LANDMARK_PREFETCH : LANDMARK_NO_PREFETCH

        for (const o of order) {
          if (o === "landmark") {
            asm.append(
              encodeHeader({ name: landmarkName, typeflag: "0", size: 1, mode: 0, mtime: 0 }, "ustar"),
            )
            const { member } = yield* asm.startChunk(true)
            const e: TocEntry = {
              name: landmarkName,
              type: "reg",
              size: 1,
              digest: LANDMARK_DIGEST,
              chunkDigest: LANDMARK_DIGEST,
            }
            entries.push(e)
            pending.push({ entry: e, member })
            asm.append(LANDMARK_PAYLOAD)
            continue
          }
          const s = live[o]!
          asm.append(yield* read(s.rawOffset, s.rawLength, s.payload < READ_BLOCK))
          const e = maker.make(s.header, s.type)
          entries.push(e)
          if (s.type === "reg" && s.payload > 0) {
            yield* writePayload(e, s.dataOffset, s.payload)
            asm.append(paddingFor(s.payload))
          }
        }
        missedPrioritized = missed
      }

      yield* asm.finish()
      for (const p of pending) {
        const off = asm.memberOffsets[p.member]
        if (off === undefined) return yield* Effect.fail(bad("Io", `member ${p.member} was never written`))
        p.entry.offset = off
      }
      const json = serializeToc({ version: 1, entries }, "estargz")
      const tocDigest = `sha256:${hashOf(sha, json)}`
      const tocOffset = asm.compressedSize
      const tail = yield* compressor.writeTocAndFooter(json, tocOffset, options.externalToc === true)
      yield* asm.writeRaw(tail.blobBytes)
      diffHash.update(tail.streamBytes)
      const uncompressedSize = asm.uncompressedSize + tail.streamBytes.length
      return {
        blobDigest: `sha256:${blobHash.hex()}`,
        blobSize: asm.compressedSize,
        tocDigest,
        diffId: `sha256:${diffHash.hex()}`,
        uncompressedSize,
        annotations: {
          [TOC_DIGEST_ANNOTATION]: tocDigest,
          [UNCOMPRESSED_SIZE_ANNOTATION]: String(uncompressedSize),
          ...tail.annotations,
        },
        ...(tail.externalToc
          ? { externalToc: { bytes: tail.externalToc, digest: `sha256:${hashOf(sha, tail.externalToc)}` } }
          : {}),
        missedPrioritized,
        tocEntries: entries.length,
      } satisfies BuildResult
    }),
  )

const LANDMARK_PAYLOAD = (() => {
  const b = new Uint8Array(512)
  b[0] = 0x0f
  return b
})()

const hashOf = (sha: Sha256["Service"], data: Uint8Array): string => {
  const h = sha.make()
  h.update(data)
  return h.hex()
}
