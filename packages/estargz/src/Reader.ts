import { Effect } from "effect"
import { type Decompressor, Decompressors, type FooterInfo, LayerError, Sha256 } from "@lazypull/codec"
import type { RangeReader } from "@lazypull/range"
import { parseToc, type ChunkRef, type Toc, TocIndex, type TocNode } from "@lazypull/toc"

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

const ioError = (format: string, name: string) => (e: { message: string; offset: number }) =>
  new LayerError({ reason: "Io", format, offset: e.offset, message: `${name}: ${e.message}` })

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
    const size = reader.size
    const minFooter = Math.max(...decompressors.map((d) => d.footerSize))
    const tailLen = Math.min(size, Math.max(options.tailSize ?? DEFAULT_TAIL, minFooter))
    const tailStart = size - tailLen
    const tail = yield* reader.readAt(tailStart, tailLen).pipe(Effect.mapError(ioError("layer", name)))

    const problems: Array<string> = []
    for (const d of decompressors) {
      const footer = yield* d.parseFooter(tail, size).pipe(
        Effect.catch((e) => {
          problems.push(`${d.name}: ${e.message}`)
          return Effect.succeed(undefined)
        }),
      )
      if (!footer) {
        problems.push(`${d.name}: no footer`)
        continue
      }
      const opened = yield* loadToc(reader, d, footer, tail, tailStart, options, name, maxToc, sha).pipe(
        Effect.map((r) => ({ ok: true as const, r })),
        Effect.catch((e) =>
          // a digest mismatch is final; other TOC failures let the next format try (as the reference does)
          e.reason === "TocDigestMismatch" || e.reason === "TooLarge" || e.reason === "Io"
            ? Effect.fail(e)
            : Effect.succeed({ ok: false as const, e }),
        ),
      )
      if (opened.ok) return opened.r
      problems.push(`${d.name}: ${opened.e.message}`)
    }
    return yield* Effect.fail(
      new LayerError({
        reason: problems.some((p) => p.includes("TOC")) ? "BadToc" : "BadFooter",
        format: decompressors.map((d) => d.name).join("|"),
        offset: Math.max(0, size - minFooter),
        message: `${name}: not a lazy-pullable layer (${problems.join("; ")})`,
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
  name: string,
  maxToc: number,
  sha: Sha256["Service"],
): Effect.Effect<OpenedLayer, LayerError> =>
  Effect.gen(function* () {
    let json: Uint8Array
    if (footer.external) {
      if (!options.externalToc)
        return yield* Effect.fail(
          new LayerError({
            reason: "BadToc",
            format: d.name,
            message: `${name}: the TOC of this layer is external; pass the TOC blob (the -esgztoc image layer)`,
          }),
        )
      const ext = options.externalToc
      json = ext[0] === 0x7b ? ext : yield* d.decodeToc(ext, footer)
    } else {
      const len = footer.tocEnd - footer.tocOffset
      if (len > maxToc)
        return yield* Effect.fail(
          new LayerError({
            reason: "TooLarge",
            format: d.name,
            offset: footer.tocOffset,
            message: `${name}: TOC region of ${len} bytes exceeds the limit of ${maxToc}`,
          }),
        )
      const region =
        footer.tocOffset >= tailStart
          ? tail.subarray(footer.tocOffset - tailStart, footer.tocEnd - tailStart)
          : yield* reader.readAt(footer.tocOffset, len).pipe(Effect.mapError(ioError(d.name, name)))
      json = yield* d.decodeToc(region, footer)
    }
    if (json.length > maxToc)
      return yield* Effect.fail(
        new LayerError({
          reason: "TooLarge",
          format: d.name,
          offset: footer.tocOffset,
          message: `${name}: TOC JSON of ${json.length} bytes exceeds the limit of ${maxToc}`,
        }),
      )
    let tocDigest = sha256Hex(sha, json)
    if (options.tocDigest !== undefined && tocDigest !== options.tocDigest) {
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
            offset: footer.tocOffset,
            message: `${name}: TOC digest is ${tocDigest}, want ${options.tocDigest}`,
          }),
        )
    }
    const toc = yield* parseToc(json, { maxBytes: maxToc }).pipe(
      Effect.mapError(
        (e) =>
          new LayerError({
            reason: "BadToc",
            format: d.name,
            offset: footer.tocOffset,
            entry: e.entry,
            message: `${name}: TOC: ${e.message}`,
          }),
      ),
    )
    const index = yield* TocIndex.build(toc, { dataEnd: footer.dataEnd }).pipe(
      Effect.mapError(
        (e) =>
          new LayerError({
            reason: "BadToc",
            format: d.name,
            offset: footer.tocOffset,
            entry: e.entry,
            message: `${name}: TOC: ${e.message}`,
          }),
      ),
    )
    return { name, reader, decompressor: d, footer, tocJson: json, tocDigest, toc, index }
  })

/** Upper bound of what a compressed range may inflate to (deflate and zstd expand at most ~1032x). */
const inflateBound = (compressed: number, needed: number) =>
  Math.min(2 ** 31 - 1, Math.max(needed, compressed * 1100 + 65536))

/** Inflates one chunk's compressed range and returns exactly its verified bytes. */
export const chunkBytes = (
  layer: OpenedLayer,
  node: TocNode,
  chunk: ChunkRef,
  compressed: Uint8Array,
): Effect.Effect<Uint8Array, LayerError, Sha256> =>
  Effect.gen(function* () {
    const d = layer.decompressor
    const need = chunk.innerOffset + chunk.chunkSize
    const raw = yield* d.decompress(compressed, inflateBound(compressed.length, need)).pipe(
      Effect.mapError(
        (e) =>
          new LayerError({
            reason: e.reason,
            format: e.format,
            offset: chunk.offset,
            entry: node.name,
            message: `${layer.name}: ${node.name}: ${e.message}`,
          }),
      ),
    )
    if (raw.length < need)
      return yield* Effect.fail(
        new LayerError({
          reason: "Truncated",
          format: d.name,
          offset: chunk.offset,
          entry: node.name,
          message: `${layer.name}: chunk of ${node.name} at offset ${chunk.offset} inflates to ${raw.length} bytes, need ${need}`,
        }),
      )
    const bytes = raw.subarray(chunk.innerOffset, need)
    const want = chunk.chunkDigest ?? (node.chunks.length === 1 ? node.entry.digest : undefined)
    if (want === undefined)
      return yield* Effect.fail(
        new LayerError({
          reason: "ChunkDigestMismatch",
          format: d.name,
          offset: chunk.offset,
          entry: node.name,
          message: `${layer.name}: chunk of ${node.name} at offset ${chunk.offset} has no chunkDigest`,
        }),
      )
    const sha = yield* Sha256
    const got = sha256Hex(sha, bytes)
    if (got !== want)
      return yield* Effect.fail(
        new LayerError({
          reason: "ChunkDigestMismatch",
          format: d.name,
          offset: chunk.offset,
          entry: node.name,
          message: `${layer.name}: chunk of ${node.name} at file offset ${chunk.chunkOffset} (blob offset ${chunk.offset}) has digest ${got}, want ${want}`,
        }),
      )
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
 * of adjacent chunks, inflates and verifies every chunk before returning bytes.
 */
export const readFile = (
  layer: OpenedLayer,
  path: string,
  options: ReadFileOptions = {},
): Effect.Effect<Uint8Array, LayerError, Sha256> =>
  Effect.gen(function* () {
    const node = yield* resolveFile(layer, path)
    const size = node.entry.size ?? 0
    const start = Math.max(0, Math.min(size, options.offset ?? 0))
    const end = Math.min(size, options.length === undefined ? size : start + Math.max(0, options.length))
    const out = new Uint8Array(end - start)
    if (end <= start) return out
    const chunks = node.chunks.filter((c) => c.chunkOffset < end && c.chunkOffset + c.chunkSize > start)
    // coalesce chunks whose compressed ranges touch into one read
    let i = 0
    while (i < chunks.length) {
      let j = i
      while (j + 1 < chunks.length && chunks[j + 1]!.offset <= chunks[j]!.compressedEnd) j++
      const base = chunks[i]!.offset
      const last = Math.max(...chunks.slice(i, j + 1).map((c) => c.compressedEnd))
      const bytes = yield* layer.reader
        .readAt(base, last - base)
        .pipe(Effect.mapError(ioError(layer.decompressor.name, layer.name)))
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
        out.set(data.subarray(from - c.chunkOffset, to - c.chunkOffset), from - start)
      }
      i = j + 1
    }
    return out
  })
