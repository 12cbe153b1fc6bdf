import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { type Decompressor, Decompressors, type FooterInfo, LayerError, Sha256 } from "@lazypull/codec"
import type { RangeReader } from "@lazypull/range"
import { type ChunkRef, parseToc, type Toc, type TocError, TocIndex, type TocNode } from "@lazypull/toc"

/** Options of {@link openLayer}. */
export interface OpenOptions {
  /** Expected `containerd.io/snapshot/stargz/toc.digest`; the TOC is rejected when it differs. */
  readonly tocDigest?: string
  /** The TOC blob for external-TOC layers (the `-esgztoc` image's layer), or raw TOC JSON. */
  readonly externalToc?: Uint8Array
  /** Tail bytes fetched speculatively in the first read (default 64 KiB): a small TOC arrives with the footer. */
  readonly tailSize?: number
  /** Largest TOC accepted, compressed and uncompressed (default 150 MiB, as containers/storage). */
  readonly maxTocBytes?: number
  /** A name for messages (layer digest or file name). */
  readonly name?: string
}

/** An opened lazy-pullable layer: footer, verified TOC and its index, and the reader to fetch chunks with. */
export interface OpenedLayer {
  readonly name: string
  readonly reader: RangeReader
  readonly decompressor: Decompressor
  readonly footer: FooterInfo
  readonly tocJson: Uint8Array
  readonly tocDigest: string
  readonly toc: Toc
  readonly index: TocIndex
}

const DEFAULT_TAIL = 64 << 10
const DEFAULT_MAX_TOC = 150 << 20

/**
 * The largest TOC JSON the current {@link openLayer} accepts. `Decompressor.decodeToc` implementations read it to
 * bound their inflation, so a small TOC member that inflates to gigabytes (a decompression bomb) fails with
 * TooLarge after `limit` bytes instead of being inflated whole.
 *
 * @example
 * const limit = yield* TocSizeLimit // 150 MiB unless openLayer's maxTocBytes says otherwise
 */
export const TocSizeLimit = Context.Reference<number>("@lazypull/estargz/TocSizeLimit", {
  defaultValue: () => DEFAULT_MAX_TOC,
})

/** Reasons that end {@link openLayer} at once instead of letting the next decompressor try. */
const FINAL_REASONS: ReadonlySet<LayerError["reason"]> = new Set([
  "TocDigestMismatch",
  "TooLarge",
  "Io",
  "BadOption",
])

/** The same error with the layer's name in front of its message. */
const named = (name: string, e: LayerError, message = e.message): LayerError =>
  new LayerError({
    reason: e.reason,
    format: e.format,
    ...(e.offset === undefined ? {} : { offset: e.offset }),
    ...(e.entry === undefined ? {} : { entry: e.entry }),
    message: `${name}: ${message}`,
  })

const badOption = (name: string, message: string) =>
  new LayerError({ reason: "BadOption", format: "layer", message: `${name}: ${message}` })

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0

const ioError = (format: string, name: string) => (e: { message: string; offset: number; length: number }) =>
  new LayerError({
    reason: "Io",
    format,
    offset: e.offset,
    message: `${name}: reading [${e.offset}, ${e.offset + e.length}): ${e.message}`,
  })

const sha256Hex = (sha: Sha256["Service"], data: Uint8Array) => {
  const h = sha.make()
  h.update(data)
  return `sha256:${h.hex()}`
}

/** The bytes up to the end of the first JSON value (FORMATS §12 #6: retry the digest without trailing bytes). */
const trimJson = (json: Uint8Array): Uint8Array => {
  let end = json.length
  while (
    end > 0 &&
    (json[end - 1] === 0x20 || json[end - 1] === 0x0a || json[end - 1] === 0x0d || json[end - 1] === 0x09)
  )
    end--
  return json.subarray(0, end)
}

/**
 * Opens a layer blob: reads the tail (one request for footer and, usually, the TOC), probes the
 * decompressors in order, decodes and digest-checks the TOC, and indexes it.
 *
 * @example
 * const layer = yield* openLayer(reader, { tocDigest: annotations["containerd.io/snapshot/stargz/toc.digest"] })
 * const bytes = yield* readFile(layer, "etc/os-release")
 */
export const openLayer = (
  reader: RangeReader,
  options: OpenOptions = {},
): Effect.Effect<OpenedLayer, LayerError, Decompressors | Sha256> =>
  Effect.gen(function* () {
    const decompressors = yield* Decompressors
    const sha = yield* Sha256
    const name = options.name ?? reader.source
    const maxToc = options.maxTocBytes ?? DEFAULT_MAX_TOC
    const wantTail = options.tailSize ?? DEFAULT_TAIL
    if (!(isCount(maxToc) && maxToc > 0))
      return yield* Effect.fail(badOption(name, `maxTocBytes ${maxToc} is not a positive integer`))
    if (!isCount(wantTail))
      return yield* Effect.fail(badOption(name, `tailSize ${wantTail} is not a non-negative integer`))
    const size = reader.size
    const minFooter = decompressors.reduce((m, d) => Math.max(m, d.footerSize), 0)
    const tailLen = Math.min(size, Math.max(wantTail, minFooter))
    const tailStart = size - tailLen
    const tail = yield* reader.readAt(tailStart, tailLen).pipe(Effect.mapError(ioError("layer", name)))

    // The reference tries the next decompressor when a footer or its TOC does not parse (ERRATA 7). The first
    // recognised footer's problem is the one reported, with its reason, offset and entry.
    const problems: Array<{ format: string; error: LayerError | undefined }> = []
    for (const d of decompressors) {
      const parsed = yield* Effect.result(d.parseFooter(tail, size))
      if (parsed._tag === "Failure") {
        problems.push({ format: d.name, error: parsed.failure })
        continue
      }
      const footer = parsed.success
      if (!footer) {
        problems.push({ format: d.name, error: undefined })
        continue
      }
      const opened = yield* Effect.result(loadToc(reader, d, footer, tail, tailStart, options, maxToc, sha))
      if (opened._tag === "Success") return opened.success
      if (FINAL_REASONS.has(opened.failure.reason)) return yield* Effect.fail(named(name, opened.failure))
      problems.push({ format: d.name, error: opened.failure })
    }
    const first = problems.find((p) => p.error !== undefined)?.error
    const summary = problems.map((p) => `${p.format}: ${p.error?.message ?? "no footer"}`).join("; ")
    if (first !== undefined)
      return yield* Effect.fail(named(name, first, problems.length === 1 ? first.message : summary))
    return yield* Effect.fail(
      new LayerError({
        reason: "BadFooter",
        format: decompressors.map((d) => d.name).join("|"),
        offset: Math.max(0, size - minFooter),
        message: `${name}: not a lazy-pullable layer, no footer in the last ${tailLen} bytes (${summary})`,
      }),
    )
  })

const loadToc = (
  reader: RangeReader,
  d: Decompressor,
  footer: FooterInfo,
  tail: Uint8Array,
  tailStart: number,
  options: OpenOptions,
  maxToc: number,
  sha: Sha256["Service"],
): Effect.Effect<OpenedLayer, LayerError> =>
  Effect.gen(function* () {
    const external = footer.external
    if (!external && options.externalToc !== undefined)
      return yield* Effect.fail(
        new LayerError({
          reason: "BadOption",
          format: d.name,
          offset: footer.tocOffset,
          message:
            "an external TOC was given, but this layer carries its own TOC (its footer is not the external-TOC footer)",
        }),
      )
    const where = external ? "external TOC" : `TOC at offset ${footer.tocOffset}`
    const at = external ? {} : { offset: footer.tocOffset }
    const tooLarge = (what: string, n: number) =>
      new LayerError({
        reason: "TooLarge",
        format: d.name,
        ...at,
        message: `${where}: ${what} of ${n} bytes exceeds the limit of ${maxToc}`,
      })
    let json: Uint8Array
    // sha256 of the compressed region, for formats whose TOC digest covers it (checked before inflating)
    let regionDigest: string | undefined
    if (external) {
      const ext = options.externalToc
      if (!ext)
        return yield* Effect.fail(
          new LayerError({
            reason: "BadToc",
            format: d.name,
            message: "the TOC of this layer is external; pass the TOC blob (the -esgztoc image layer)",
          }),
        )
      if (ext.length > maxToc) return yield* Effect.fail(tooLarge("external TOC blob", ext.length))
      // a TOC blob (one gzip member holding the TOC tar), else the raw TOC JSON
      const compressed = ext.length >= 2 && ext[0] === 0x1f && ext[1] === 0x8b
      json = compressed
        ? yield* d.decodeToc(ext, footer).pipe(Effect.provideService(TocSizeLimit, maxToc))
        : ext
    } else {
      const len = footer.tocEnd - footer.tocOffset
      if (len > maxToc) return yield* Effect.fail(tooLarge("TOC region", len))
      const region =
        footer.tocOffset >= tailStart
          ? tail.subarray(footer.tocOffset - tailStart, footer.tocEnd - tailStart)
          : yield* reader.readAt(footer.tocOffset, len).pipe(Effect.mapError(ioError(d.name, where)))
      if (d.tocDigestOf === "region") {
        regionDigest = sha256Hex(sha, region)
        if (options.tocDigest !== undefined && regionDigest !== options.tocDigest)
          return yield* Effect.fail(
            new LayerError({
              reason: "TocDigestMismatch",
              format: d.name,
              ...at,
              message: `${where}: digest of the compressed TOC is ${regionDigest}, want ${options.tocDigest}`,
            }),
          )
      }
      json = yield* d.decodeToc(region, footer).pipe(Effect.provideService(TocSizeLimit, maxToc))
    }
    if (json.length > maxToc) return yield* Effect.fail(tooLarge("TOC JSON", json.length))
    let tocDigest = regionDigest ?? sha256Hex(sha, json)
    if (regionDigest === undefined && options.tocDigest !== undefined && tocDigest !== options.tocDigest) {
      const trimmed = trimJson(json)
      const alt = sha256Hex(sha, trimmed)
      if (alt === options.tocDigest) {
        json = trimmed
        tocDigest = alt
      } else
        return yield* Effect.fail(
          new LayerError({
            reason: "TocDigestMismatch",
            format: d.name,
            ...at,
            message: `${where}: TOC digest is ${tocDigest}, want ${options.tocDigest}`,
          }),
        )
    }
    const badToc = (e: TocError) =>
      new LayerError({
        reason: e.reason === "TooLarge" ? "TooLarge" : "BadToc",
        format: d.name,
        ...at,
        ...(e.entry === "" ? {} : { entry: e.entry }),
        message: `${where}: ${e.message}`,
      })
    const toc = yield* parseToc(json, { maxBytes: maxToc }).pipe(Effect.mapError(badToc))
    const index = yield* TocIndex.build(toc, { dataEnd: footer.dataEnd }).pipe(Effect.mapError(badToc))
    return {
      name: options.name ?? reader.source,
      reader,
      decompressor: d,
      footer,
      tocJson: json,
      tocDigest,
      toc,
      index,
    }
  })

/** Upper bound of what a compressed range may inflate to (deflate and zstd expand at most ~1032x). */
const inflateBound = (compressed: number, needed: number) =>
  // deflate expands at most ~1032x; zstd has no such bound (a zero run is a few bytes), so a chunk may
  // also bring up to 64 MiB of what follows it in its member (padding and the next tar headers)
  Math.min(2 ** 31 - 1, Math.max(needed + (64 << 20), compressed * 1100 + 65536))

/** Inflates one chunk's compressed range and returns exactly its verified bytes. */
export const chunkBytes = (
  layer: OpenedLayer,
  node: TocNode,
  chunk: ChunkRef,
  compressed: Uint8Array,
): Effect.Effect<Uint8Array, LayerError, Sha256> =>
  Effect.gen(function* () {
    const d = layer.decompressor
    const where = `${layer.name}: ${node.name}: chunk at file offset ${chunk.chunkOffset} (blob offset ${chunk.offset})`
    const fail = (reason: LayerError["reason"], message: string) =>
      new LayerError({
        reason,
        format: d.name,
        offset: chunk.offset,
        entry: node.name,
        message: `${where} ${message}`,
      })
    const want = chunk.chunkDigest ?? (node.chunks.length === 1 ? node.entry.digest : undefined)
    if (want === undefined) return yield* Effect.fail(fail("BadToc", "has no chunkDigest in the TOC"))
    const need = chunk.innerOffset + chunk.chunkSize
    const raw = yield* d
      .decompress(compressed, inflateBound(compressed.length, need))
      .pipe(Effect.mapError((e) => fail(e.reason, `does not inflate: ${e.message}`)))
    if (raw.length < need)
      return yield* Effect.fail(fail("Truncated", `inflates to ${raw.length} bytes, need ${need}`))
    const bytes = raw.subarray(chunk.innerOffset, need)
    const sha = yield* Sha256
    const got = sha256Hex(sha, bytes)
    if (got !== want)
      return yield* Effect.fail(fail("ChunkDigestMismatch", `has digest ${got}, want ${want}`))
    return bytes
  })

/** The node that holds a path's content (hardlinks resolved). */
export const resolveFile = (layer: OpenedLayer, path: string): Effect.Effect<TocNode, LayerError> => {
  const node = layer.index.lookup(path)
  if (!node)
    return Effect.fail(
      new LayerError({
        reason: "NotFound",
        format: layer.decompressor.name,
        entry: path,
        message: `${layer.name}: ${path}: no such file`,
      }),
    )
  const target = node.target ?? node
  if (target.type !== "reg")
    return Effect.fail(
      new LayerError({
        reason: "NotFound",
        format: layer.decompressor.name,
        entry: path,
        message: `${layer.name}: ${path} is a ${target.type}, not a regular file`,
      }),
    )
  return Effect.succeed(target)
}

/** Options of {@link readFile}. */
export interface ReadFileOptions {
  readonly offset?: number
  readonly length?: number
}

/**
 * Reads a file (or a byte range of it) lazily: fetches only the chunks it needs in one ranged read per run
 * of adjacent chunks, inflates and verifies every chunk before returning bytes. Memory follows the bytes that
 * really inflated, never the sizes the TOC claims.
 */
export const readFile = (
  layer: OpenedLayer,
  path: string,
  options: ReadFileOptions = {},
): Effect.Effect<Uint8Array, LayerError, Sha256> =>
  Effect.gen(function* () {
    for (const key of ["offset", "length"] as const) {
      const v = options[key]
      if (v !== undefined && !isCount(v))
        return yield* Effect.fail(
          new LayerError({
            reason: "BadOption",
            format: layer.decompressor.name,
            entry: path,
            message: `${layer.name}: ${path}: ${key} ${v} is not a non-negative integer`,
          }),
        )
    }
    const node = yield* resolveFile(layer, path)
    const size = node.entry.size ?? 0
    const start = Math.min(size, options.offset ?? 0)
    const end = Math.min(size, options.length === undefined ? size : start + options.length)
    if (end <= start) return new Uint8Array(0)
    const chunks = node.chunks.filter((c) => c.chunkOffset < end && c.chunkOffset + c.chunkSize > start)
    const pieces: Array<Uint8Array> = []
    // coalesce chunks whose compressed ranges follow each other into one read
    let i = 0
    while (i < chunks.length) {
      let j = i
      let last = chunks[i]!.compressedEnd
      while (j + 1 < chunks.length) {
        const next = chunks[j + 1]!
        if (next.offset < chunks[j]!.offset || next.offset > last) break
        last = Math.max(last, next.compressedEnd)
        j++
      }
      const base = chunks[i]!.offset
      const bytes = yield* layer.reader
        .readAt(base, last - base)
        .pipe(Effect.mapError(ioError(layer.decompressor.name, `${layer.name}: ${node.name}`)))
      for (let k = i; k <= j; k++) {
        const c = chunks[k]!
        const data = yield* chunkBytes(
          layer,
          node,
          c,
          bytes.subarray(c.offset - base, c.compressedEnd - base),
        )
        const from = Math.max(start, c.chunkOffset)
        const to = Math.min(end, c.chunkOffset + c.chunkSize)
        pieces.push(data.subarray(from - c.chunkOffset, to - c.chunkOffset))
      }
      i = j + 1
    }
    const out = new Uint8Array(end - start)
    let at = 0
    for (const p of pieces) {
      out.set(p, at)
      at += p.length
    }
    return out
  })

/** What one lazy read cost: ranged reads issued and compressed bytes fetched. */
export interface ReadCost {
  readonly reads: number
  readonly bytesFetched: number
}

/**
 * {@link readFile} plus what it cost on the layer's reader (requests and bytes), e.g. to show that a lazy
 * read fetched only the file's chunks.
 *
 * @example
 * const { bytes, cost } = yield* readFileWithCost(layer, "etc/os-release") // cost.reads === 1
 */
export const readFileWithCost = (
  layer: OpenedLayer,
  path: string,
  options: ReadFileOptions = {},
): Effect.Effect<{ readonly bytes: Uint8Array; readonly cost: ReadCost }, LayerError, Sha256> =>
  Effect.suspend(() => {
    const reads = layer.reader.stats.reads
    const fetched = layer.reader.stats.bytes
    return Effect.map(readFile(layer, path, options), (bytes) => ({
      bytes,
      cost: { reads: layer.reader.stats.reads - reads, bytesFetched: layer.reader.stats.bytes - fetched },
    }))
  })
