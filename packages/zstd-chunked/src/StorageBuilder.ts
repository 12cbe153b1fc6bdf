// Writes containers/storage zstd:chunked blobs (FORMATS §8.2): one pass over the input tar, every byte into the
// frames unchanged (so the blob decompresses to the input tar and the diffID stays), frames cut at payload
// starts and at content-defined chunk boundaries, then the TOC, the tar-split and the 64-byte footer in
// skippable frames.
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  type CodecError,
  type GzipInflater,
  GzipEngine,
  LayerError,
  Sha256,
  type Sha256Hasher,
  ZstdEngine,
} from "@lazypull/codec"
import { type BlobSink, OrderedWriter } from "@lazypull/estargz"
import type { RangeReader } from "@lazypull/range"
import { TarParser } from "@lazypull/tar"
import { serializeToc, type TocEntry } from "@lazypull/toc"
import { Crc64 } from "./Crc64.ts"
import { makeStorageFooter, skippableFrame } from "./Footer.ts"
import { type ChunkSink, ContentChunker } from "./Rollsum.ts"
import { goCleanPath, rawEntryName, storageTocEntry } from "./StorageEntry.ts"
import {
  STORAGE_FORMAT,
  STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
  STORAGE_MANIFEST_POSITION_ANNOTATION,
  STORAGE_TARSPLIT_POSITION_ANNOTATION,
} from "./StorageDialect.ts"
import { TarSplitWriter } from "./TarSplit.ts"

/**
 * Default zstd level of {@link buildStorageLayer}. containers/storage uses 10 when its caller passes none; 3 (zstd's
 * own default) compresses several times faster for a few percent more bytes, and the level does not change the
 * format. Pass `level: 10` to match podman's output size.
 */
export const STORAGE_DEFAULT_LEVEL = 3

/** Options of {@link buildStorageLayer}. */
export interface StorageBuildOptions {
  /** zstd level, 1..22 (default {@link STORAGE_DEFAULT_LEVEL}). */
  readonly level?: number
  /** Frames compressing at once (default 4). Output bytes do not depend on it. */
  readonly parallelism?: number
}

/** What {@link buildStorageLayer} wrote. */
export interface StorageBuildResult {
  readonly blobDigest: string
  readonly blobSize: number
  /** sha256 of the compressed TOC frame (the manifest-checksum annotation). */
  readonly tocDigest: string
  /** sha256 of the input tar, which is also what the blob decompresses to. */
  readonly diffId: string
  readonly uncompressedSize: number
  /** The three `io.github.containers.zstd-chunked.*` annotations. */
  readonly annotations: Readonly<Record<string, string>>
  /** TOC entries, chunk entries included. */
  readonly tocEntries: number
  /** tar-split lines. */
  readonly tarSplitEntries: number
}

/** Largest frame handed to the compressor: a longer chunk (or run of headers) continues in further frames. */
export const MAX_FRAME = 4 << 20
const FIRST_FRAME_CAPACITY = 64 << 10
const MAX_INFLIGHT_FRAMES = 64
const READ_BLOCK = 1 << 20
/** Raw bytes per tar-split segment after the end-of-archive (as tar-split reads the rest in 1 MiB pieces). */
const TRAILER_SEGMENT = 1 << 20

const bad = (
  reason: LayerError["reason"],
  message: string,
  extra: { offset?: number; entry?: string } = {},
) => new LayerError({ reason, format: STORAGE_FORMAT, message, ...extra })

const codecError = (what: string, offset?: number) => (e: CodecError) =>
  bad(
    e.reason === "Truncated"
      ? "BadInput"
      : e.reason === "TooLarge"
        ? "TooLarge"
        : e.reason === "Corrupt"
          ? "BadInput"
          : "Io",
    `${what}: ${e.message}`,
    offset === undefined ? {} : { offset },
  )

const ZEROS = new Uint8Array(64 << 10)

/**
 * Payload frames: bytes are copied into the current frame; `cut` closes it (a no-op when it is empty), frames
 * compress in parallel and reach the sink in order. `starts[i]` is the blob offset of frame i once written.
 */
class Frames {
  /** Frames closed so far: the index the next frame will have. */
  closed = 0
  /** Staging buffer of the current frame, reused: `cut` hands over an exact copy. */
  private buf = new Uint8Array(FIRST_FRAME_CAPACITY)
  private len = 0
  private ready: Array<Uint8Array> = []
  private readonly writer: OrderedWriter

  constructor(
    private readonly compress: (data: Uint8Array) => Effect.Effect<Uint8Array, LayerError>,
    sink: BlobSink,
    maxInflightBytes: number,
    blobHash: Sha256Hasher,
  ) {
    this.writer = new OrderedWriter(sink, blobHash, maxInflightBytes, MAX_INFLIGHT_FRAMES)
  }

  /** Blob offset of each written frame; after `finish`, one more entry: the end of the payload frames. */
  get starts(): Array<number> {
    return this.writer.offsets
  }

  get compressedSize(): number {
    return this.writer.size
  }

  append(src: Uint8Array, start = 0, end = src.length): void {
    while (start < end) {
      if (this.len === this.buf.length) {
        if (this.len === MAX_FRAME) this.cut()
        else {
          const next = new Uint8Array(Math.min(MAX_FRAME, this.buf.length * 2))
          next.set(this.buf.subarray(0, this.len))
          this.buf = next
        }
      }
      const n = Math.min(end - start, this.buf.length - this.len)
      this.buf.set(src.subarray(start, start + n), this.len)
      this.len += n
      start += n
    }
  }

  appendZeros(count: number): void {
    while (count > 0) {
      const n = Math.min(count, ZEROS.length)
      this.append(ZEROS, 0, n)
      count -= n
    }
  }

  cut(): void {
    if (this.len === 0) return
    this.ready.push(this.buf.slice(0, this.len))
    this.len = 0
    this.closed++
  }

  /** Starts compressing the closed frames, waiting for the oldest while too much is in flight. */
  pump(): Effect.Effect<void, LayerError> {
    const ready = this.ready
    this.ready = []
    return Effect.forEach(ready, (data) => this.writer.submit(this.compress(data), data.length), {
      discard: true,
    })
  }

  /** Closes the last frame and writes everything; afterwards `starts[closed]` is the end of the payload frames. */
  finish(): Effect.Effect<void, LayerError> {
    this.cut()
    return this.pump().pipe(
      Effect.andThen(this.writer.drainAll()),
      Effect.andThen(Effect.sync(() => this.writer.offsets.push(this.writer.size))),
    )
  }
}

/** A TOC field that holds a frame index until the frames are written. */
interface Fixup {
  readonly entry: TocEntry
  readonly field: "offset" | "endOffset"
  readonly frame: number
}

interface Chunk {
  readonly chunkOffset: number
  readonly size: number
  readonly digest: string
  readonly zeros: boolean
  readonly frame: number
}

/** The regular file whose payload is being chunked. */
interface OpenFile {
  readonly entry: TocEntry
  readonly nameBytes: Uint8Array
  readonly size: number
  remaining: number
  readonly chunker: ContentChunker
  readonly crc: Crc64
  readonly whole: Sha256Hasher
  readonly chunks: Array<Chunk>
  /** Content bytes chunked so far. */
  written: number
  /** The chunk being filled: its hasher, file offset and first frame. */
  chunkHash: Sha256Hasher | undefined
  chunkStart: number
  chunkFrame: number
}

/** The compressed sections after the payload frames, and the annotations that point at them. */
export interface StorageTail {
  /** SKIP(TOC) SKIP(tar-split) SKIP(footer). */
  readonly bytes: Uint8Array
  readonly tocDigest: string
  readonly annotations: Readonly<Record<string, string>>
}

/**
 * Lays out what follows the payload frames (FORMATS §8.2): the compressed TOC and tar-split, each in a skippable
 * frame, then the 64-byte footer in one; `dataEnd` is where the TOC's skippable frame starts.
 *
 * @example
 * const tail = storageTail(sha, dataEnd, tocFrame, tocJson.length, tarSplitFrame, tarSplit.length)
 */
export const storageTail = (
  sha: Sha256["Service"],
  dataEnd: number,
  tocFrame: Uint8Array,
  tocLength: number,
  tarSplitFrame: Uint8Array,
  tarSplitLength: number,
): StorageTail => {
  const tocOffset = dataEnd + 8
  const tarSplitOffset = tocOffset + tocFrame.length + 8
  const footer = makeStorageFooter({
    tocOffset,
    tocCompressedLen: tocFrame.length,
    tocUncompressedLen: tocLength,
    tarSplitOffset,
    tarSplitCompressedLen: tarSplitFrame.length,
    tarSplitUncompressedLen: tarSplitLength,
  })
  const parts = [skippableFrame(tocFrame), skippableFrame(tarSplitFrame), skippableFrame(footer)]
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    bytes.set(p, at)
    at += p.length
  }
  const h = sha.make()
  h.update(tocFrame)
  const tocDigest = `sha256:${h.hex()}`
  return {
    bytes,
    tocDigest,
    annotations: {
      [STORAGE_MANIFEST_CHECKSUM_ANNOTATION]: tocDigest,
      [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${tocOffset}:${tocFrame.length}:${tocLength}:1`,
      [STORAGE_TARSPLIT_POSITION_ANNOTATION]: `${tarSplitOffset}:${tarSplitFrame.length}:${tarSplitLength}`,
    },
  }
}

const EMPTY_ENTRIES = new TextEncoder().encode('{"version":1,"entries":null')

/**
 * The TOC JSON as containers/storage writes it: compact, its key order, and `"entries":null` when there are
 * none (Go encodes the nil slice of an empty layer as null).
 */
export const storageTocJson = (entries: Array<TocEntry>, tarSplitDigest: string): Uint8Array => {
  const json = serializeToc({ version: 1, entries, tarSplitDigest }, "compact")
  if (entries.length > 0) return json
  const prefix = '{"version":1,"entries":[]'.length
  const out = new Uint8Array(EMPTY_ENTRIES.length + json.length - prefix)
  out.set(EMPTY_ENTRIES)
  out.set(json.subarray(prefix), EMPTY_ENTRIES.length)
  return out
}

const isGzip = (b: Uint8Array) => b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08
const isZstd = (b: Uint8Array) =>
  b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd

/**
 * Converts a layer (tar, tar+gzip or tar+zstd, detected by magic) into a containers/storage zstd:chunked blob,
 * streaming: one pass over the input, memory bounded by the frames in flight plus the TOC and tar-split.
 * Fails with `Unsupported` for what containers/storage cannot write either: entry types other than
 * reg/link/symlink/char/block/dir/fifo, sparse files, global PAX headers and duplicate paths.
 *
 * @example
 * const r = yield* buildStorageLayer(reader, { level: 3 }, { write: (b) => file.append(b) })
 * // r.annotations carries manifest-checksum, manifest-position and tarsplit-position
 */
export const buildStorageLayer = (
  input: RangeReader,
  options: StorageBuildOptions,
  sink: BlobSink,
): Effect.Effect<StorageBuildResult, LayerError, ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const level = options.level ?? STORAGE_DEFAULT_LEVEL
    if (!Number.isSafeInteger(level) || level < 1 || level > 22)
      return yield* Effect.fail(bad("BadOption", `zstd level ${level} is not an integer in 1..22`))
    const parallelism = options.parallelism ?? 4
    if (!Number.isSafeInteger(parallelism) || parallelism < 1 || parallelism > 64)
      return yield* Effect.fail(bad("BadOption", `parallelism ${parallelism} is not an integer in 1..64`))
    const zstd = yield* ZstdEngine
    const sha = yield* Sha256
    const compress = (data: Uint8Array) =>
      zstd.compress(data, level).pipe(Effect.mapError(codecError("compressing a frame")))

    const blobHash = sha.make()
    const diffHash = sha.make()
    const frames = new Frames(compress, sink, parallelism * MAX_FRAME, blobHash)
    const tarSplit = new TarSplitWriter()
    const entries: Array<TocEntry> = []
    const fixups: Array<Fixup> = []
    const seen = new Set<string>()
    const parser = new TarParser()

    let file: OpenFile | undefined
    /** Raw bytes since the last segment: padding, end-of-archive blocks, trailing bytes (copies). */
    let pending: Array<Uint8Array> = []
    /** The type-1 line of the last entry, written once its content's CRC is known. */
    let fileLine: { nameBytes: Uint8Array; size: number; crc: Uint8Array | null } | undefined
    /** Input bytes the parser has accounted for in events. */
    let accounted = 0
    let total = 0

    const flushFileLine = () => {
      if (fileLine !== undefined) tarSplit.file(fileLine.nameBytes, fileLine.size, fileLine.crc)
      fileLine = undefined
    }

    // receives the chunks of the open file: hashes, CRC and frames
    const begin = (o: OpenFile): Sha256Hasher => {
      const h = sha.make()
      o.chunkHash = h
      o.chunkStart = o.written
      o.chunkFrame = frames.closed
      return h
    }
    const chunkSink: ChunkSink = {
      data: (src, start, end) => {
        const o = file!
        const h = o.chunkHash ?? begin(o)
        const part = src.subarray(start, end)
        h.update(part)
        o.whole.update(part)
        o.crc.update(part)
        frames.append(src, start, end)
        o.written += end - start
      },
      zeros: (count) => {
        const o = file!
        const h = o.chunkHash ?? begin(o)
        for (let left = count; left > 0; ) {
          const part = ZEROS.subarray(0, Math.min(left, ZEROS.length))
          h.update(part)
          o.whole.update(part)
          o.crc.update(part)
          left -= part.length
        }
        frames.appendZeros(count)
        o.written += count
      },
      end: (zeros) => {
        const o = file!
        o.chunks.push({
          chunkOffset: o.chunkStart,
          size: o.written - o.chunkStart,
          digest: `sha256:${o.chunkHash!.hex()}`,
          zeros,
          frame: o.chunkFrame,
        })
        o.chunkHash = undefined
        frames.cut()
      },
    }

    /** The file's content is complete: last chunk closed, TOC fields and the tar-split line prepared. */
    const closeFile = (o: OpenFile) => {
      o.chunker.finish()
      const e = o.entry
      e.digest = `sha256:${o.whole.hex()}`
      fixups.push({ entry: e, field: "offset", frame: o.chunks[0]!.frame })
      fixups.push({ entry: e, field: "endOffset", frame: frames.closed })
      if (o.chunks.length > 1) {
        o.chunks.forEach((c, i) => {
          let target: TocEntry
          if (i === 0) target = e
          else {
            target = { type: "chunk", name: e.name, chunkOffset: c.chunkOffset }
            entries.push(target)
            fixups.push({ entry: target, field: "offset", frame: c.frame })
          }
          target.chunkSize = c.size
          target.chunkDigest = c.digest
          if (c.zeros) target.chunkType = "zeros"
        })
      }
      fileLine = { nameBytes: o.nameBytes, size: o.size, crc: o.crc.sum() }
      file = undefined
    }

    const drain = (): LayerError | undefined => {
      for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
        switch (ev._tag) {
          case "Error":
            return bad(ev.error.reason === "Unsupported" ? "Unsupported" : "BadInput", ev.error.message, {
              offset: ev.error.offset,
              ...(ev.error.entry === "" ? {} : { entry: ev.error.entry }),
            })
          case "Entry": {
            if (ev.offset !== accounted)
              return bad("BadInput", `internal: header at ${ev.offset}, expected ${accounted}`, {
                offset: ev.offset,
              })
            const h = ev.header
            const made = storageTocEntry(h, ev.raw)
            if (typeof made === "string")
              return bad("Unsupported", `${h.name}: ${made}`, { offset: ev.offset, entry: h.name })
            const clean = goCleanPath(h.name)
            if (seen.has(clean))
              return bad(
                "Unsupported",
                `${h.name}: duplicate path ${JSON.stringify(clean)} (tar-split, and so containers/storage, refuses duplicates)`,
                { offset: ev.offset, entry: h.name },
              )
            seen.add(clean)
            flushFileLine()
            pending.push(ev.raw)
            tarSplit.segment(pending)
            pending = []
            frames.append(ev.raw)
            accounted += ev.raw.length
            entries.push(made)
            const nameBytes = rawEntryName(h, ev.raw)
            if (made.type === "reg" && h.size > 0) {
              // the first payload byte ends the current frame
              frames.cut()
              const o: OpenFile = {
                entry: made,
                nameBytes,
                size: h.size,
                remaining: h.size,
                chunker: new ContentChunker(chunkSink),
                crc: new Crc64(),
                whole: sha.make(),
                chunks: [],
                written: 0,
                chunkHash: undefined,
                chunkStart: 0,
                chunkFrame: 0,
              }
              file = o
            } else fileLine = { nameBytes, size: h.size, crc: null }
            break
          }
          case "Data": {
            const o = file
            if (o === undefined) return bad("BadInput", "internal: payload outside a regular file")
            o.chunker.push(ev.bytes)
            o.remaining -= ev.bytes.length
            accounted += ev.bytes.length
            if (o.remaining === 0) closeFile(o)
            break
          }
          case "Padding":
          case "Trailer":
            pending.push(ev.bytes.slice())
            frames.append(ev.bytes)
            accounted += ev.bytes.length
            break
          case "End": {
            if (ev.offset !== accounted || accounted !== total)
              return bad(
                "BadInput",
                `internal: the tar ends at ${ev.offset}, ${accounted} of ${total} bytes framed`,
              )
            flushFileLine()
            // padding, end-of-archive and trailing bytes: one segment, further 1 MiB pieces for long trailers
            let rest = concat(pending)
            pending = []
            // (the first segment also holds the last padding and the end-of-archive blocks: at most 1535 bytes)
            const first = Math.min(rest.length, TRAILER_SEGMENT + 2048)
            tarSplit.segment([rest.subarray(0, first)])
            rest = rest.subarray(first)
            while (rest.length > 0) {
              tarSplit.segment([rest.subarray(0, TRAILER_SEGMENT)])
              rest = rest.subarray(Math.min(rest.length, TRAILER_SEGMENT))
            }
            break
          }
        }
      }
      return undefined
    }

    // the input, decompressed when it is gzip or zstd
    const head = yield* input
      .readAt(0, Math.min(4, input.size))
      .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
    let inflater: GzipInflater | undefined
    let codec = "input"
    if (isGzip(head)) {
      codec = "input gzip"
      const gz = yield* Effect.serviceOption(GzipEngine)
      if (Option.isNone(gz))
        return yield* Effect.fail(
          bad("Unsupported", "the input is gzip-compressed and no GzipEngine is provided"),
        )
      inflater = yield* gz.value.inflater().pipe(Effect.mapError(codecError(codec)))
    } else if (isZstd(head)) {
      codec = "input zstd"
      inflater = yield* zstd.inflater().pipe(Effect.mapError(codecError(codec)))
    }
    const feed = (pieces: ReadonlyArray<Uint8Array>): Effect.Effect<void, LayerError> =>
      Effect.gen(function* () {
        for (const p of pieces) {
          if (p.length === 0) continue
          diffHash.update(p)
          total += p.length
          parser.push(p)
          const err = drain()
          if (err) return yield* Effect.fail(err)
          yield* frames.pump()
        }
      })
    for (let off = 0; off < input.size; off += READ_BLOCK) {
      const block = yield* input
        .readAt(off, Math.min(READ_BLOCK, input.size - off))
        .pipe(Effect.mapError((e) => bad("Io", e.message, { offset: e.offset })))
      if (inflater === undefined) yield* feed([block])
      else yield* feed(yield* inflater.push(block).pipe(Effect.mapError(codecError(codec, off))))
    }
    if (inflater !== undefined)
      yield* feed(yield* inflater.end().pipe(Effect.mapError(codecError(codec, input.size))))
    parser.end()
    const err = drain()
    if (err) return yield* Effect.fail(err)
    yield* frames.finish()

    for (const f of fixups) f.entry[f.field] = frames.starts[f.frame]!
    const dataEnd = frames.compressedSize
    const tsBytes = tarSplit.take()
    const tsFrame = yield* zstd
      .compress(tsBytes, level)
      .pipe(Effect.mapError(codecError("compressing the tar-split")))
    const tsHash = sha.make()
    tsHash.update(tsFrame)
    const tocJson = storageTocJson(entries, `sha256:${tsHash.hex()}`)
    const tocFrame = yield* zstd
      .compress(tocJson, level)
      .pipe(Effect.mapError(codecError("compressing the TOC")))
    const tail = storageTail(sha, dataEnd, tocFrame, tocJson.length, tsFrame, tsBytes.length)
    blobHash.update(tail.bytes)
    yield* sink.write(tail.bytes)
    return {
      blobDigest: `sha256:${blobHash.hex()}`,
      blobSize: dataEnd + tail.bytes.length,
      tocDigest: tail.tocDigest,
      diffId: `sha256:${diffHash.hex()}`,
      uncompressedSize: total,
      annotations: tail.annotations,
      tocEntries: entries.length,
      tarSplitEntries: tarSplit.entries,
    } satisfies StorageBuildResult
  })

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
