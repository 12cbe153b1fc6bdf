// Full verification of a containers/storage zstd:chunked layer: everything verifyLayer checks, plus what a
// containers/storage partial pull relies on (FORMATS §8.2 "c/storage reader checks"): the tar-split's digest,
// its one-to-one agreement with the TOC, and the tar rebuilt from tar-split and verified file contents having
// the diffID of the blob.
import * as Effect from "effect/Effect"
import { LayerError, Sha256 } from "@lazypull/codec"
import {
  chunkBytes,
  type OpenedLayer,
  type VerifyOptions,
  type VerifyReport,
  verifyLayer,
} from "@lazypull/estargz"
import { TarParser } from "@lazypull/tar"
import { cleanEntryName, type TocEntry } from "@lazypull/toc"
import { Crc64 } from "./Crc64.ts"
import {
  parseStorageAnnotations,
  STORAGE_FORMAT,
  type StorageLayout,
  storageLayerFacts,
  storageLayout,
} from "./StorageDialect.ts"
import { type GoTime, isUnsetTime, parseGoTime, storageTocEntry } from "./StorageEntry.ts"
import { LineSplitter, parseTarSplitLine, TAR_SPLIT_SEGMENT } from "./TarSplit.ts"

/** Options of {@link verifyStorageLayer}. */
export interface StorageVerifyOptions extends VerifyOptions {
  /** The layer descriptor's annotations: when given, they must agree with the footer and the TOC digest. */
  readonly annotations?: Readonly<Record<string, string>>
  /** Longest tar-split line accepted (default 8 MiB). */
  readonly maxTarSplitLine?: number
}

/** What {@link verifyStorageLayer} found. */
export interface StorageVerifyReport extends VerifyReport {
  /** sha256 of the compressed tar-split frame (the TOC's `tarSplitDigest`). */
  readonly tarSplitDigest: string
  /** tar-split lines. */
  readonly tarSplitEntries: number
  readonly layout: StorageLayout
}

const READ_BLOCK = 1 << 20
/** A file whose chunks span at most this many compressed bytes is fetched in one read. */
const COALESCE = 8 << 20

const fail = (
  layer: OpenedLayer,
  reason: LayerError["reason"],
  message: string,
  extra: { offset?: number; entry?: string } = {},
) => new LayerError({ reason, format: STORAGE_FORMAT, message: `${layer.name}: ${message}`, ...extra })

const TIME_KEYS = ["modtime", "accesstime", "changetime"] as const

/** A TOC time for comparison: unset when absent, zero or the epoch; a string when it does not parse. */
const timeOf = (v: string | undefined): GoTime | undefined | string => {
  if (v === undefined) return undefined
  const t = parseGoTime(v)
  if (t === undefined) return `${JSON.stringify(v)} is not an RFC 3339 time`
  return isUnsetTime(t) ? undefined : t
}

/**
 * The first attribute in which a TOC entry differs from the entry the tar header implies, as containers/storage
 * compares them (`ensureFileMetadataAttributesMatch`): digests, offsets and chunk fields are not compared.
 */
const attributeMismatch = (toc: TocEntry, want: TocEntry): string | undefined => {
  if (toc.type !== want.type) return `type ${toc.type} != ${want.type}`
  if (toc.name !== want.name) return `name ${JSON.stringify(toc.name)} != ${JSON.stringify(want.name)}`
  if ((toc.linkName ?? "") !== (want.linkName ?? ""))
    return `linkName ${JSON.stringify(toc.linkName ?? "")} != ${JSON.stringify(want.linkName ?? "")}`
  for (const k of ["mode", "size", "uid", "gid", "devMajor", "devMinor"] as const)
    if ((toc[k] ?? 0) !== (want[k] ?? 0)) return `${k} ${toc[k] ?? 0} != ${want[k] ?? 0}`
  for (const k of TIME_KEYS) {
    const a = timeOf(toc[k])
    if (typeof a === "string") return `${k} ${a}`
    const b = timeOf(want[k])
    if (typeof b === "string") return `${k} ${b}`
    if (a === undefined && b === undefined) continue
    if (a === undefined || b === undefined || a.sec !== b.sec || a.nsec !== b.nsec)
      return `${k} ${toc[k] ?? "unset"} != ${want[k] ?? "unset"}`
  }
  const xa = toc.xattrs ?? {}
  const xb = want.xattrs ?? {}
  const ka = Object.keys(xa).sort()
  const kb = Object.keys(xb).sort()
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i] || xa[k] !== xb[k]))
    return `xattrs ${JSON.stringify(xa)} != ${JSON.stringify(xb)}`
  return undefined
}

const padding = (size: number) => (512 - (size % 512)) % 512

const readerOf = (layer: OpenedLayer) => (off: number, len: number) =>
  layer.reader.readAt(off, len).pipe(
    Effect.mapError((e) =>
      fail(layer, "Io", `reading [${e.offset}, ${e.offset + e.length}): ${e.message}`, {
        offset: e.offset,
      }),
    ),
  )

/**
 * What containers/storage checks before trusting a tar-split: the TOC names it by digest, the compressed frame
 * has that digest, and the TOC has no duplicate names. Returns the TOC's entries by raw name.
 */
const authenticateTarSplit = (
  layer: OpenedLayer,
  layout: StorageLayout,
): Effect.Effect<{ byName: Map<string, TocEntry>; tarSplitDigest: string }, LayerError, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const want = layer.toc.tarSplitDigest
    const ts = layout.tarSplit
    const read = readerOf(layer)
    if (want === undefined)
      return yield* Effect.fail(
        fail(
          layer,
          "BadToc",
          "the TOC has no tarSplitDigest: the tar-split cannot be authenticated (containers/storage would not pull it partially)",
        ),
      )

    // the compressed tar-split must have the digest the (verified) TOC names, before anything is inflated
    const h = sha.make()
    for (let off = 0; off < ts.compressedLen; off += READ_BLOCK)
      h.update(yield* read(ts.offset + off, Math.min(READ_BLOCK, ts.compressedLen - off)))
    const tarSplitDigest = `sha256:${h.hex()}`
    if (tarSplitDigest !== want)
      return yield* Effect.fail(
        fail(
          layer,
          "TocDigestMismatch",
          `the tar-split frame has digest ${tarSplitDigest}, the TOC says ${want}`,
          {
            offset: ts.offset,
          },
        ),
      )

    // the TOC's entries by raw name (duplicates rejected, as containers/storage does)
    const byName = new Map<string, TocEntry>()
    const cleanNames = new Set<string>()
    for (const e of layer.toc.entries) {
      if (e.type === "chunk") continue
      if (byName.has(e.name))
        return yield* Effect.fail(
          fail(layer, "BadToc", `the TOC has duplicate entries for ${JSON.stringify(e.name)}`, {
            entry: e.name,
          }),
        )
      const clean = cleanEntryName(e.name)
      if (cleanNames.has(clean))
        return yield* Effect.fail(
          fail(
            layer,
            "BadToc",
            `the TOC has two entries for the path ${JSON.stringify(clean)} (last: ${JSON.stringify(e.name)})`,
            {
              entry: e.name,
            },
          ),
        )
      byName.set(e.name, e)
      cleanNames.add(clean)
    }

    return { byName, tarSplitDigest }
  })

/**
 * Walks the (authenticated) tar-split: compares every header with the TOC and rebuilds the tar with every file's
 * content fetched by chunk and digest-checked; returns the rebuilt tar's digest and size.
 */
const rebuildFromTarSplit = (
  layer: OpenedLayer,
  layout: StorageLayout,
  byName: Map<string, TocEntry>,
  maxLine: number,
): Effect.Effect<{ digest: string; size: number; entries: number }, LayerError, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const ts = layout.tarSplit
    const read = readerOf(layer)

    // walk the tar-split: compare each header with the TOC, rebuild the tar
    const rebuilt = sha.make()
    let size = 0
    let position = 0
    let pendingPadding = 0
    let last: { name: string; size: number; entry: TocEntry } | undefined
    const mismatch = (message: string, entry?: string) =>
      fail(
        layer,
        "StreamMismatch",
        `tar-split entry ${position}: ${message}`,
        entry === undefined ? {} : { entry },
      )

    const onSegment = (payload: Uint8Array): LayerError | undefined => {
      rebuilt.update(payload)
      size += payload.length
      if (payload.length < pendingPadding)
        return mismatch(`expected ${pendingPadding} bytes of padding, the segment has ${payload.length}`)
      const p = new TarParser()
      p.push(payload.subarray(pendingPadding))
      p.end()
      pendingPadding = 0
      last = undefined
      const ev = p.next()
      if (ev === undefined || ev._tag === "End" || ev._tag === "Trailer") return undefined
      if (ev._tag === "Error")
        return mismatch(
          `the segment does not start with a tar header (containers/storage rejects it too): ${ev.error.message}`,
        )
      if (ev._tag !== "Entry") return mismatch("the segment does not start with a tar header")
      const hdr = ev.header
      const expected = storageTocEntry(hdr, ev.raw)
      if (typeof expected === "string") return mismatch(`${hdr.name}: ${expected}`, hdr.name)
      const e = byName.get(hdr.name)
      if (e === undefined) return mismatch(`${JSON.stringify(hdr.name)} is not in the TOC`, hdr.name)
      byName.delete(hdr.name)
      const diff = attributeMismatch(e, expected)
      if (diff !== undefined)
        return mismatch(`${hdr.name}: the TOC and the tar header disagree: ${diff}`, hdr.name)
      pendingPadding = padding(hdr.size)
      last = { name: hdr.name, size: hdr.size, entry: e }
      return undefined
    }

    const onFile = (
      name: string,
      fileSize: number,
      crc: Uint8Array | null,
    ): Effect.Effect<void, LayerError, Sha256> =>
      Effect.gen(function* () {
        const l = last
        last = undefined
        if (l === undefined || l.name !== name)
          return yield* Effect.fail(
            mismatch(
              `file ${JSON.stringify(name)} does not follow its header${l === undefined ? "" : ` (${JSON.stringify(l.name)})`}`,
              name,
            ),
          )
        if (fileSize !== l.size)
          return yield* Effect.fail(mismatch(`${name}: size ${fileSize}, the header says ${l.size}`, name))
        if (fileSize === 0) {
          if (crc !== null && !(crc.length === 8 && crc.every((b) => b === 0)))
            return yield* Effect.fail(mismatch(`${name}: an empty file with a CRC-64`, name))
          return
        }
        if (crc === null || crc.length !== 8)
          return yield* Effect.fail(mismatch(`${name}: the payload is not an 8-byte CRC-64`, name))
        const node = layer.index.lookup(name)
        if (node === undefined || node.entry !== l.entry || node.chunks.length === 0)
          return yield* Effect.fail(mismatch(`${name}: no content in the TOC`, name))
        const chunks = node.chunks
        const first = chunks[0]!.offset
        const end = chunks[chunks.length - 1]!.compressedEnd
        const contiguous = chunks.every((c, i) => i === 0 || c.offset >= chunks[i - 1]!.offset)
        const whole = contiguous && end - first <= COALESCE ? yield* read(first, end - first) : undefined
        const c64 = new Crc64()
        for (const c of chunks) {
          const compressed =
            whole !== undefined
              ? whole.subarray(c.offset - first, c.compressedEnd - first)
              : yield* read(c.offset, c.compressedEnd - c.offset)
          const data = yield* chunkBytes(layer, node, c, compressed)
          rebuilt.update(data)
          c64.update(data)
          size += data.length
        }
        const got = c64.sum()
        if (got.some((b, i) => b !== crc[i]))
          return yield* Effect.fail(
            mismatch(`${name}: content CRC-64 ${c64.hex()} differs from the tar-split's`, name),
          )
      })

    const inflater = yield* layer.decompressor.inflater()
    const lines = new LineSplitter(maxLine)
    let inflated = 0
    const handle = (outs: ReadonlyArray<Uint8Array>): Effect.Effect<void, LayerError, Sha256> =>
      Effect.gen(function* () {
        for (const o of outs) {
          inflated += o.length
          if (inflated > ts.uncompressedLen)
            return yield* Effect.fail(
              fail(
                layer,
                "StreamMismatch",
                `the tar-split inflates to more than the ${ts.uncompressedLen} bytes the footer says`,
                {
                  offset: ts.offset,
                },
              ),
            )
          for (const line of lines.push(o)) yield* onLine(line)
          if (lines.overflow)
            return yield* Effect.fail(
              fail(layer, "TooLarge", `a tar-split line exceeds ${maxLine} bytes`, { offset: ts.offset }),
            )
        }
      })
    const onLine = (line: Uint8Array): Effect.Effect<void, LayerError, Sha256> =>
      Effect.gen(function* () {
        if (line.length === 0) return
        const e = parseTarSplitLine(line, position)
        if ("problem" in e)
          return yield* Effect.fail(
            fail(layer, "BadToc", `tar-split line ${position}: ${e.problem}`, { offset: ts.offset }),
          )
        if (e.type === TAR_SPLIT_SEGMENT) {
          const err = onSegment(e.payload)
          if (err) return yield* Effect.fail(err)
        } else yield* onFile(e.name, e.size, e.payload)
        position++
      })
    for (let off = 0; off < ts.compressedLen; off += READ_BLOCK) {
      const block = yield* read(ts.offset + off, Math.min(READ_BLOCK, ts.compressedLen - off))
      yield* handle(yield* inflater.push(block))
    }
    yield* handle(yield* inflater.end())
    for (const line of lines.end()) yield* onLine(line)
    if (inflated !== ts.uncompressedLen)
      return yield* Effect.fail(
        fail(
          layer,
          "StreamMismatch",
          `the tar-split inflates to ${inflated} bytes, the footer says ${ts.uncompressedLen}`,
          {
            offset: ts.offset,
          },
        ),
      )
    if (byName.size > 0) {
      const names = [...byName.keys()].slice(0, 5).map((n) => JSON.stringify(n))
      return yield* Effect.fail(
        fail(
          layer,
          "StreamMismatch",
          `the TOC has entries the tar-split lacks: ${names.join(", ")}${byName.size > 5 ? ", ..." : ""}`,
          {
            entry: [...byName.keys()][0]!,
          },
        ),
      )
    }
    return { digest: `sha256:${rebuilt.hex()}`, size, entries: position }
  })

/**
 * Verifies a containers/storage zstd:chunked layer completely: what `verifyLayer` checks (every chunk by its
 * digest, whole-file digests, the decompressed stream against the TOC, diffID and size), then the tar-split:
 * its compressed sha256 against the TOC's `tarSplitDigest`, its headers against the TOC one to one (names,
 * types, sizes, modes, owners, times, devices, xattrs; duplicate names rejected), every file's CRC-64, and the
 * tar rebuilt from tar-split and chunk contents against the diffID of the decompressed blob.
 *
 * @example
 * const layer = yield* openStorageLayer(reader, descriptor.annotations)
 * const report = yield* verifyStorageLayer(layer, { diffId: config.rootfs.diff_ids[i] })
 */
export const verifyStorageLayer = (
  layer: OpenedLayer,
  options: StorageVerifyOptions = {},
): Effect.Effect<StorageVerifyReport, LayerError, Sha256> =>
  Effect.gen(function* () {
    const layout = yield* storageLayout(layer)
    if (options.annotations !== undefined) {
      const a = yield* parseStorageAnnotations(options.annotations, layer.reader.size)
      if (a.tocDigest !== layer.tocDigest)
        return yield* Effect.fail(
          fail(
            layer,
            "TocDigestMismatch",
            `the compressed TOC has digest ${layer.tocDigest}, the annotation says ${a.tocDigest}`,
            {
              offset: layout.toc.offset,
            },
          ),
        )
      const same = (x: typeof a.toc, y: typeof a.toc) =>
        x.offset === y.offset &&
        x.compressedLen === y.compressedLen &&
        x.uncompressedLen === y.uncompressedLen
      if (!same(a.toc, layout.toc) || (a.tarSplit !== undefined && !same(a.tarSplit, layout.tarSplit)))
        return yield* Effect.fail(
          fail(layer, "BadFooter", "the footer and the position annotations disagree"),
        )
    }
    const { byName, tarSplitDigest } = yield* authenticateTarSplit(layer, layout)
    const [report, ts] = yield* Effect.all(
      [
        verifyLayer(layer, options),
        rebuildFromTarSplit(layer, layout, byName, options.maxTarSplitLine ?? 8 << 20),
      ],
      { concurrency: 2 },
    )
    if (ts.digest !== report.diffId || ts.size !== report.uncompressedSize)
      return yield* Effect.fail(
        fail(
          layer,
          "StreamMismatch",
          `the tar rebuilt from the tar-split is ${ts.size} bytes with digest ${ts.digest}, the blob decompresses to ${report.uncompressedSize} bytes with digest ${report.diffId}`,
        ),
      )
    return {
      ...report,
      files: storageLayerFacts(layer),
      tarSplitDigest,
      tarSplitEntries: ts.entries,
      layout,
    }
  })
