// The containers/storage dialect of zstd:chunked (FORMATS §8.2, flavour A): what podman, buildah and skopeo
// write with `--compression-format zstd:chunked` and what containers/storage pulls partially. Read side:
// footer, annotations, the Decompressor that lets openLayer open these blobs, and the file facts.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type Decompressor,
  Decompressors,
  type FooterInfo,
  LayerError,
  type Sha256,
  ZstdEngine,
} from "@lazypull/codec"
import {
  type FileFact,
  layerFacts,
  makeDecompressor as makeGzipDecompressor,
  type OpenedLayer,
  type OpenOptions,
  openLayer,
  TocSizeLimit,
} from "@lazypull/estargz"
import type { RangeReader } from "@lazypull/range"
import { EMPTY_DIGEST } from "@lazypull/toc"
import { parseStorageFooter, STORAGE_FOOTER_PAYLOAD, type StorageFooter } from "./Footer.ts"
import { makeDecompressor as makeStargzDecompressor, zstdStreams } from "./StargzDialect.ts"

/** Format name of the containers/storage dialect (in errors, FooterInfo and verification reports). */
export const STORAGE_FORMAT = "zstd:chunked/storage"

/** `sha256:` + hex of the compressed TOC frame: the trust anchor of a containers/storage partial pull. */
export const STORAGE_MANIFEST_CHECKSUM_ANNOTATION = "io.github.containers.zstd-chunked.manifest-checksum"
/** `tocOffset:compressedLen:uncompressedLen:1` of the TOC frame (offsets past the skippable header). */
export const STORAGE_MANIFEST_POSITION_ANNOTATION = "io.github.containers.zstd-chunked.manifest-position"
/** `offset:compressedLen:uncompressedLen` of the tar-split frame. */
export const STORAGE_TARSPLIT_POSITION_ANNOTATION = "io.github.containers.zstd-chunked.tarsplit-position"

/** Bytes the footer takes at the end of the blob: its 8-byte skippable header and the 64-byte payload. */
export const STORAGE_FOOTER_SIZE = STORAGE_FOOTER_PAYLOAD + 8

/** Where a compressed section (TOC or tar-split) lies in the blob. */
export interface SectionPosition {
  /** First byte of the compressed data (past the 8-byte skippable header). */
  readonly offset: number
  readonly compressedLen: number
  readonly uncompressedLen: number
}

/** A containers/storage footer with the layout invariants of FORMATS §8.2 checked. */
export interface StorageLayout {
  readonly toc: SectionPosition
  readonly tarSplit: SectionPosition
  /** Where the payload frames end: the start of the TOC's skippable frame. */
  readonly dataEnd: number
}

const isSkippableHeader = (b: Uint8Array, at: number, len: number): boolean =>
  (b[at]! & 0xf0) === 0x50 &&
  b[at + 1] === 0x2a &&
  b[at + 2] === 0x4d &&
  b[at + 3] === 0x18 &&
  new DataView(b.buffer, b.byteOffset + at + 4, 4).getUint32(0, true) === len

/**
 * Reads the 72-byte containers/storage footer at the end of `tail` (which ends at the blob end): undefined
 * when the magic is not `GNUlInUx`, a string when it is but the footer is inconsistent (skippable header,
 * manifest type 1, `tarSplitOffset = tocOffset + tocCompressedLen + 8`, footer right after the tar-split).
 *
 * @example
 * const layout = readStorageFooter(blob.subarray(blob.length - 72), blob.length)
 */
export const readStorageFooter = (tail: Uint8Array, blobSize: number): StorageLayout | string | undefined => {
  const f: StorageFooter | string | undefined = parseStorageFooter(tail, blobSize)
  if (f === undefined || typeof f === "string") return f
  const payload = tail.subarray(tail.length - STORAGE_FOOTER_PAYLOAD)
  const type = new DataView(payload.buffer, payload.byteOffset + 24, 8).getBigUint64(0, true)
  if (type !== 1n) return `manifest type ${type}, expected 1`
  if (tail.length >= STORAGE_FOOTER_SIZE && !isSkippableHeader(tail, tail.length - STORAGE_FOOTER_SIZE, 64))
    return "the footer is not in a 64-byte skippable frame"
  if (f.tarSplitOffset !== f.tocOffset + f.tocCompressedLen + 8)
    return `tar-split at ${f.tarSplitOffset}, expected right after the TOC frame at ${f.tocOffset + f.tocCompressedLen + 8}`
  if (f.tarSplitOffset + f.tarSplitCompressedLen !== blobSize - STORAGE_FOOTER_SIZE)
    return `the tar-split ends at ${f.tarSplitOffset + f.tarSplitCompressedLen}, the footer frame starts at ${blobSize - STORAGE_FOOTER_SIZE}`
  if (f.tocCompressedLen === 0) return "the TOC frame is empty"
  return {
    toc: { offset: f.tocOffset, compressedLen: f.tocCompressedLen, uncompressedLen: f.tocUncompressedLen },
    tarSplit: {
      offset: f.tarSplitOffset,
      compressedLen: f.tarSplitCompressedLen,
      uncompressedLen: f.tarSplitUncompressedLen,
    },
    dataEnd: f.tocOffset - 8,
  }
}

const fail = (
  reason: LayerError["reason"],
  message: string,
  extra: { offset?: number; entry?: string } = {},
) => new LayerError({ reason, format: STORAGE_FORMAT, message, ...extra })

/**
 * The containers/storage Decompressor: recognises the 64-byte `GNUlInUx` footer; its TOC digest is sha256 of
 * the compressed TOC frame (`tocDigestOf: "region"`, FORMATS §12 #8), so `openLayer` checks the
 * manifest-checksum annotation before inflating anything.
 *
 * @example
 * const layer = yield* openLayer(reader, { tocDigest: annotations[STORAGE_MANIFEST_CHECKSUM_ANNOTATION] })
 */
export const makeStorageDecompressor = (): Effect.Effect<Decompressor, never, ZstdEngine> =>
  Effect.map(ZstdEngine, (zstd) => {
    const streams = zstdStreams(zstd, STORAGE_FORMAT)
    const decompressor: Decompressor = {
      name: STORAGE_FORMAT,
      footerSize: STORAGE_FOOTER_SIZE,
      tocDigestOf: "region",
      parseFooter: (tail, blobSize) =>
        Effect.suspend(() => {
          const f = readStorageFooter(tail, blobSize)
          if (f === undefined) return Effect.succeed(undefined)
          if (typeof f === "string")
            return Effect.fail(fail("BadFooter", f, { offset: Math.max(0, blobSize - STORAGE_FOOTER_SIZE) }))
          const info: FooterInfo = {
            format: STORAGE_FORMAT,
            footerSize: STORAGE_FOOTER_SIZE,
            tocOffset: f.toc.offset,
            tocEnd: f.toc.offset + f.toc.compressedLen,
            tocUncompressedSize: f.toc.uncompressedLen,
            external: false,
            dataEnd: f.dataEnd,
          }
          return Effect.succeed(info)
        }),
      decodeToc: (region, footer) =>
        Effect.gen(function* () {
          const limit = yield* TocSizeLimit
          const want = footer.tocUncompressedSize ?? 0
          if (want > limit)
            return yield* Effect.fail(
              fail("TooLarge", `the footer says the TOC has ${want} bytes, more than the limit of ${limit}`, {
                offset: footer.tocOffset,
              }),
            )
          const json = yield* streams.decompress(region, want + 1)
          if (json.length !== want)
            return yield* Effect.fail(
              fail("BadToc", `the TOC inflates to ${json.length} bytes, the footer says ${want}`, {
                offset: footer.tocOffset,
              }),
            )
          return json
        }),
      decompress: streams.decompress,
      inflater: streams.inflater,
    }
    return decompressor
  })

/** Decompressors for every layer kind lazypull reads: eStargz (gzip), stargz-dialect and containers/storage zstd:chunked. */
export const layerAllDecompressors = Layer.effect(
  Decompressors,
  Effect.gen(function* () {
    return [yield* makeGzipDecompressor(), yield* makeStargzDecompressor(), yield* makeStorageDecompressor()]
  }),
)

/** The containers/storage annotations of a layer descriptor, parsed. */
export interface StorageAnnotations {
  /** `manifest-checksum`: sha256 of the compressed TOC frame. */
  readonly tocDigest: string
  readonly toc: SectionPosition
  /** Absent when the descriptor has no `tarsplit-position` (writers before containers/storage 1.47). */
  readonly tarSplit: SectionPosition | undefined
}

const POSITION = /^(0|[1-9][0-9]*)$/

const parsePosition = (value: string, parts: 3 | 4): Array<number> | undefined => {
  const fields = value.split(":")
  if (fields.length !== parts || !fields.every((f) => POSITION.test(f))) return undefined
  const nums = fields.map(Number)
  return nums.every(Number.isSafeInteger) ? nums : undefined
}

/**
 * Parses and bounds-checks the `io.github.containers.zstd-chunked.*` annotations against the blob size: the
 * TOC (and tar-split) must lie past a skippable header and end before the 72-byte footer.
 *
 * @example
 * const a = parseStorageAnnotations(descriptor.annotations, descriptor.size)
 */
export const parseStorageAnnotations = (
  annotations: Readonly<Record<string, string>>,
  blobSize: number,
): Effect.Effect<StorageAnnotations, LayerError> =>
  Effect.suspend(() => {
    const checksum = annotations[STORAGE_MANIFEST_CHECKSUM_ANNOTATION]
    const position = annotations[STORAGE_MANIFEST_POSITION_ANNOTATION]
    if (checksum === undefined || position === undefined)
      return Effect.fail(
        fail(
          "BadOption",
          `not a containers/storage zstd:chunked descriptor: ${checksum === undefined ? STORAGE_MANIFEST_CHECKSUM_ANNOTATION : STORAGE_MANIFEST_POSITION_ANNOTATION} is missing`,
        ),
      )
    if (!/^sha256:[0-9a-f]{64}$/.test(checksum))
      return Effect.fail(
        fail(
          "BadOption",
          `${STORAGE_MANIFEST_CHECKSUM_ANNOTATION} ${JSON.stringify(checksum)} is not sha256:<64 hex>`,
        ),
      )
    const limit = blobSize - STORAGE_FOOTER_SIZE
    const section = (key: string, value: string, parts: 3 | 4): SectionPosition | LayerError => {
      const nums = parsePosition(value, parts)
      if (nums === undefined)
        return fail(
          "BadOption",
          `${key} ${JSON.stringify(value)} is not ${parts === 4 ? "offset:length:uncompressed:1" : "offset:length:uncompressed"}`,
        )
      const [offset, compressedLen, uncompressedLen, type] = nums as [number, number, number, number?]
      if (parts === 4 && type !== 1) return fail("BadOption", `${key} has manifest type ${type}, expected 1`)
      if (offset < 8 || compressedLen === 0 || offset + compressedLen > limit)
        return fail(
          "BadToc",
          `${key} says [${offset}, ${offset + compressedLen}), outside the blob's metadata area [8, ${Math.max(8, limit)}) of a ${blobSize}-byte blob`,
          { offset },
        )
      return { offset, compressedLen, uncompressedLen }
    }
    const toc = section(STORAGE_MANIFEST_POSITION_ANNOTATION, position, 4)
    if (toc instanceof LayerError) return Effect.fail(toc)
    const ts = annotations[STORAGE_TARSPLIT_POSITION_ANNOTATION]
    const tarSplit = ts === undefined ? undefined : section(STORAGE_TARSPLIT_POSITION_ANNOTATION, ts, 3)
    if (tarSplit instanceof LayerError) return Effect.fail(tarSplit)
    return Effect.succeed({ tocDigest: checksum, toc, tarSplit })
  })

/** A containers/storage layer opened through its annotations. */
export interface StorageLayer extends OpenedLayer {
  /** Where footer and annotations put the TOC and the tar-split. */
  readonly layout: StorageLayout
}

const sameSection = (a: SectionPosition, b: SectionPosition) =>
  a.offset === b.offset && a.compressedLen === b.compressedLen && a.uncompressedLen === b.uncompressedLen

/**
 * Opens a containers/storage zstd:chunked layer from its descriptor annotations: checks them against the blob
 * size, opens it (TOC verified against the manifest-checksum before it is inflated) and requires the footer to
 * agree with the annotations.
 *
 * @example
 * const layer = yield* openStorageLayer(reader, descriptor.annotations)
 * const bytes = yield* readFile(layer, "etc/os-release")
 */
export const openStorageLayer = (
  reader: RangeReader,
  annotations: Readonly<Record<string, string>>,
  options: Omit<OpenOptions, "tocDigest" | "externalToc"> = {},
): Effect.Effect<StorageLayer, LayerError, ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const a = yield* parseStorageAnnotations(annotations, reader.size)
    const d = yield* makeStorageDecompressor()
    const layer = yield* openLayer(reader, { ...options, tocDigest: a.tocDigest }).pipe(
      Effect.provideService(Decompressors, [d]),
    )
    const layout = yield* storageLayout(layer)
    if (
      !sameSection(layout.toc, a.toc) ||
      (a.tarSplit !== undefined && !sameSection(layout.tarSplit, a.tarSplit))
    )
      return yield* Effect.fail(
        fail(
          "BadFooter",
          `${layer.name}: the footer puts the TOC at ${layout.toc.offset}:${layout.toc.compressedLen}:${layout.toc.uncompressedLen} and the tar-split at ${layout.tarSplit.offset}:${layout.tarSplit.compressedLen}:${layout.tarSplit.uncompressedLen}, the annotations disagree`,
          { offset: reader.size - STORAGE_FOOTER_SIZE },
        ),
      )
    return { ...layer, layout }
  })

/** The footer layout of an opened containers/storage layer (reads the 72-byte tail again). */
export const storageLayout = (layer: OpenedLayer): Effect.Effect<StorageLayout, LayerError> =>
  Effect.gen(function* () {
    const size = layer.reader.size
    if (layer.decompressor.name !== STORAGE_FORMAT || size < STORAGE_FOOTER_SIZE)
      return yield* Effect.fail(
        fail("BadFooter", `${layer.name} is a ${layer.decompressor.name} layer, not ${STORAGE_FORMAT}`),
      )
    const tail = yield* layer.reader
      .readAt(size - STORAGE_FOOTER_SIZE, STORAGE_FOOTER_SIZE)
      .pipe(Effect.mapError((e) => fail("Io", `${layer.name}: ${e.message}`, { offset: e.offset })))
    const f = readStorageFooter(tail, size)
    if (f === undefined || typeof f === "string")
      return yield* Effect.fail(
        fail("BadFooter", `${layer.name}: ${f ?? "no containers/storage footer"}`, {
          offset: size - STORAGE_FOOTER_SIZE,
        }),
      )
    return f
  })

/**
 * The per-file facts of a containers/storage layer (as `layerFacts`), with the digest of empty regular files
 * filled in as sha256("") the way the containers/storage reader substitutes it (the TOC leaves it out).
 */
export const storageLayerFacts = (layer: OpenedLayer): Array<FileFact> =>
  layerFacts(layer).map((f) =>
    f.type === "reg" && f.size === 0 && f.sha256 === "" ? { ...f, sha256: EMPTY_DIGEST } : f,
  )
