import * as Effect from "effect/Effect"
import { Decompressors, type GzipEngine, type LayerError, Sha256, type ZstdEngine } from "@lazypull/codec"
import {
  layerFacts,
  makeDecompressor as makeGzipDecompressor,
  type OpenedLayer,
  openLayer,
  TOC_DIGEST_ANNOTATION,
  UNCOMPRESSED_SIZE_ANNOTATION,
  verifyLayer,
} from "@lazypull/estargz"
import {
  blobPath,
  DOCKER_MANIFEST,
  decodeManifest,
  type Image,
  isManifest,
  layerReader,
  type OciError,
  type OciLayout,
  readBlob,
  resolveManifest,
  verifyBlob,
} from "@lazypull/oci"
import {
  MANIFEST_CHECKSUM_ANNOTATION,
  MANIFEST_POSITION_ANNOTATION,
  makeDecompressor as makeStargzZstdDecompressor,
  openStorageLayer,
  STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
  STORAGE_MANIFEST_POSITION_ANNOTATION,
  STORAGE_TARSPLIT_POSITION_ANNOTATION,
  verifyStorageLayer,
} from "@lazypull/zstd-chunked"
import { ImageError } from "./ImageError.ts"

/** Annotation of a TOC image's layer naming the eStargz layer blob it is the TOC of (FORMATS §7.3). */
export const TOC_LAYER_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/layer.digest"
/** Suffix of the tag of an external-TOC image (FORMATS §7.3). */
export const TOC_IMAGE_SUFFIX = "-esgztoc"

/** What a layer turned out to be. */
export type LayerFormat =
  | "estargz"
  | "estargz-external"
  | "zstd:chunked"
  | "zstd:chunked/storage"
  | "gzip"
  | "zstd"
  | "tar"

/** The verdict on one layer. */
export interface LayerVerdict {
  readonly index: number
  readonly digest: string
  readonly mediaType: string
  readonly size: number
  /** The layer format found (for a failed lazy layer: the format its annotations claim). */
  readonly format: LayerFormat
  /** Lazy-pullable: annotations, footer, TOC digest, every chunk, diffID and size all check out. */
  readonly lazy: boolean
  /** Why the layer is not lazy-pullable (absent when `lazy`). */
  readonly reason?: string
  readonly tocDigest?: string
  readonly files?: number
  readonly chunks?: number
  readonly diffId?: string
  readonly uncompressedSize?: number
}

/** The result of {@link checkImage}. */
export interface CheckReport {
  /** The image source's name. */
  readonly image: string
  /** The manifest checked (undefined for docker archives). */
  readonly manifestDigest: string | undefined
  /** Every layer lazy-pullable. */
  readonly ok: boolean
  readonly layers: ReadonlyArray<LayerVerdict>
}

/** Options of {@link checkImage}. */
export interface CheckOptions {
  /** TOC blobs of external-TOC layers, by eStargz layer digest (see {@link externalTocsOf}). */
  readonly externalTocs?: ReadonlyMap<string, Uint8Array>
  /** Layers checked at once (default 1; each check already uses two streams). */
  readonly concurrency?: number
}

const SHA256 = /^sha256:[0-9a-f]{64}$/
const DECIMAL = /^(0|[1-9][0-9]*)$/

type Requirements = GzipEngine | ZstdEngine | Sha256

/** Not lazy-pullable, with the reason. */
class NotLazy {
  constructor(
    readonly format: LayerFormat,
    readonly reason: string,
  ) {}
}

const layerProblem = (e: LayerError): string =>
  `${e.message}${e.reason === "Io" ? "" : ` (${e.reason}${e.offset !== undefined ? ` at offset ${e.offset}` : ""}${e.entry !== undefined && !e.message.includes(e.entry) ? `, entry ${JSON.stringify(e.entry)}` : ""})`}`

/**
 * Checks that every layer of an image is lazy-pullable, the way a snapshotter would rely on it and more: the
 * layer annotations (eStargz, or one of the two zstd:chunked families, never both), the blob's digest and size,
 * footer and TOC digest, every chunk digest, the decompressed stream as a tar against the TOC, and diffID and
 * uncompressed size against the config and the annotation. A layer that fails gets `lazy: false` and the reason;
 * only an unreadable source fails the effect.
 *
 * @example
 * const report = yield* checkImage(image) // report.ok, report.layers[i].reason
 */
export const checkImage = (
  image: Image,
  options: CheckOptions = {},
): Effect.Effect<CheckReport, ImageError, Requirements> =>
  Effect.gen(function* () {
    const layers = yield* Effect.forEach(
      image.layers.map((_, index) => index),
      (index) => checkLayer(image, index, options),
      { concurrency: options.concurrency ?? 1 },
    )
    return {
      image: image.source.name,
      manifestDigest: image.manifestDescriptor?.digest,
      ok: layers.every((l) => l.lazy),
      layers,
    }
  })

const checkLayer = (
  image: Image,
  index: number,
  options: CheckOptions,
): Effect.Effect<LayerVerdict, ImageError, Requirements> =>
  Effect.gen(function* () {
    const layer = image.layers[index]!
    const d = layer.descriptor
    const base = { index, digest: d.digest, mediaType: d.mediaType, size: d.size }
    const outcome = yield* Effect.result(inspectLayer(image, index, options))
    if (outcome._tag === "Success") return { ...base, lazy: true, ...outcome.success }
    const f = outcome.failure
    if (f instanceof NotLazy) return { ...base, format: f.format, lazy: false, reason: f.reason }
    return yield* Effect.fail(f)
  })

const ioFailure = (image: Image, index: number, e: { readonly message: string }) =>
  new ImageError({
    reason: "Io",
    image: image.source.name,
    layer: index,
    digest: image.layers[index]?.descriptor.digest,
    message: e.message,
  })

const inspectLayer = (
  image: Image,
  index: number,
  options: CheckOptions,
): Effect.Effect<
  Omit<LayerVerdict, "index" | "digest" | "mediaType" | "size" | "lazy">,
  NotLazy | ImageError,
  Requirements
> =>
  Effect.gen(function* () {
    const layer = image.layers[index]!
    const d = layer.descriptor
    const a = d.annotations ?? {}
    const plain: LayerFormat = layer.compression === "none" ? "tar" : layer.compression
    const notLazy = (format: LayerFormat, reason: string): Effect.Effect<never, NotLazy> =>
      Effect.fail(new NotLazy(format, reason))

    // 1. annotations: what the runtime sees before it fetches a byte
    const storageKeys = [
      STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
      STORAGE_MANIFEST_POSITION_ANNOTATION,
      STORAGE_TARSPLIT_POSITION_ANNOTATION,
    ].filter((k) => a[k] !== undefined)
    const stargzKeys = [
      TOC_DIGEST_ANNOTATION,
      UNCOMPRESSED_SIZE_ANNOTATION,
      MANIFEST_CHECKSUM_ANNOTATION,
      MANIFEST_POSITION_ANNOTATION,
    ].filter((k) => a[k] !== undefined)
    if (layer.compression === "none")
      return yield* notLazy(
        "tar",
        "an uncompressed tar layer has no TOC; convert it to eStargz or zstd:chunked",
      )
    if (storageKeys.length === 0 && stargzKeys.length === 0)
      return yield* notLazy(
        plain,
        `a plain ${layer.compression} layer: no ${layer.compression === "gzip" ? TOC_DIGEST_ANNOTATION : `${TOC_DIGEST_ANNOTATION} or ${STORAGE_MANIFEST_CHECKSUM_ANNOTATION}`} annotation`,
      )
    let format: LayerFormat
    if (layer.compression === "gzip") {
      if (storageKeys.length > 0 || a[MANIFEST_CHECKSUM_ANNOTATION] !== undefined)
        return yield* notLazy(plain, "a gzip layer with zstd:chunked annotations")
      format = "estargz"
    } else {
      if (storageKeys.length > 0 && stargzKeys.length > 0)
        return yield* notLazy(
          "zstd:chunked",
          `both zstd:chunked annotation families (${[...storageKeys, ...stargzKeys].join(", ")}): readers of each refuse such a layer`,
        )
      format = storageKeys.length > 0 ? "zstd:chunked/storage" : "zstd:chunked"
    }
    if (
      image.manifest.mediaType === DOCKER_MANIFEST ||
      image.manifestDescriptor?.mediaType === DOCKER_MANIFEST
    )
      return yield* notLazy(
        format,
        "a Docker schema-2 manifest: runtimes ignore layer annotations there; convert with --oci",
      )
    let tocDigest: string | undefined
    let uncompressedSize: number | undefined
    if (format !== "zstd:chunked/storage") {
      const required =
        format === "estargz"
          ? [TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION]
          : [
              TOC_DIGEST_ANNOTATION,
              UNCOMPRESSED_SIZE_ANNOTATION,
              MANIFEST_CHECKSUM_ANNOTATION,
              MANIFEST_POSITION_ANNOTATION,
            ]
      const missing = required.filter((k) => a[k] === undefined)
      if (missing.length > 0) return yield* notLazy(format, `annotation ${missing.join(", ")} missing`)
      tocDigest = a[TOC_DIGEST_ANNOTATION]!
      if (!SHA256.test(tocDigest))
        return yield* notLazy(
          format,
          `${TOC_DIGEST_ANNOTATION} ${JSON.stringify(tocDigest)} is not sha256:<64 hex>`,
        )
      const us = a[UNCOMPRESSED_SIZE_ANNOTATION]!
      if (!DECIMAL.test(us) || !Number.isSafeInteger(Number(us)))
        return yield* notLazy(
          format,
          `${UNCOMPRESSED_SIZE_ANNOTATION} ${JSON.stringify(us)} is not a byte count`,
        )
      uncompressedSize = Number(us)
    }

    // 2. the blob is the one the descriptor names
    const blob = yield* Effect.result(verifyBlob(image.source, d))
    if (blob._tag === "Failure") {
      const e = blob.failure
      if (e.reason === "DigestMismatch" || e.reason === "SizeMismatch" || e.reason === "NotFound")
        return yield* notLazy(format, e.message)
      return yield* Effect.fail(ioFailure(image, index, e))
    }

    // 3. footer, TOC digest, every chunk, the stream, diffID and size
    const reader = layerReader(image.source, layer.path, d.size)
    const name = `layer ${index} (${d.digest})`
    const lazyFailure = (e: LayerError): Effect.Effect<never, NotLazy | ImageError> =>
      e.reason === "Io" ? Effect.fail(ioFailure(image, index, e)) : notLazy(format, layerProblem(e))
    const diffId = layer.diffId
    if (format === "zstd:chunked/storage") {
      const opened = yield* openStorageLayer(reader, a, { name }).pipe(Effect.catch(lazyFailure))
      const report = yield* verifyStorageLayer(opened, {
        ...(diffId !== undefined ? { diffId } : {}),
        annotations: a,
      }).pipe(Effect.catch(lazyFailure))
      if (diffId === undefined) return yield* notLazy(format, "the config lists no diffID for this layer")
      return {
        format,
        tocDigest: report.tocDigest,
        files: report.files.length,
        chunks: report.chunkCount,
        diffId: report.diffId,
        uncompressedSize: report.uncompressedSize,
      }
    }
    const decompressor =
      format === "estargz" ? yield* makeGzipDecompressor() : yield* makeStargzZstdDecompressor()
    const externalToc = options.externalTocs?.get(d.digest)
    const opened: OpenedLayer = yield* openLayer(reader, {
      name,
      tocDigest: tocDigest!,
      ...(externalToc !== undefined ? { externalToc } : {}),
    }).pipe(
      Effect.provideService(Decompressors, [decompressor]),
      Effect.catch((e: LayerError) =>
        e.reason === "BadToc" && e.message.includes("external") && externalToc === undefined
          ? notLazy(
              "estargz-external",
              `the TOC is external and no ${TOC_IMAGE_SUFFIX} image holds it (${e.message})`,
            )
          : lazyFailure(e),
      ),
    )
    if (opened.footer.external) format = "estargz-external"
    if (format === "zstd:chunked") {
      // the position annotation and checksum must describe the TOC frame the footer points at
      const f = opened.footer
      const want = `${f.tocOffset}:${f.tocEnd - f.tocOffset}:${f.tocUncompressedSize ?? opened.tocJson.length}:1`
      if (a[MANIFEST_POSITION_ANNOTATION] !== want)
        return yield* notLazy(
          format,
          `${MANIFEST_POSITION_ANNOTATION} is ${a[MANIFEST_POSITION_ANNOTATION]}, the footer says ${want}`,
        )
      const region = yield* reader
        .readAt(f.tocOffset, f.tocEnd - f.tocOffset)
        .pipe(Effect.mapError((e) => ioFailure(image, index, e)))
      const sha = yield* Sha256
      const h = sha.make()
      h.update(region)
      const checksum = `sha256:${h.hex()}`
      if (a[MANIFEST_CHECKSUM_ANNOTATION] !== checksum)
        return yield* notLazy(
          format,
          `${MANIFEST_CHECKSUM_ANNOTATION} is ${a[MANIFEST_CHECKSUM_ANNOTATION]}, the TOC frame hashes to ${checksum}`,
        )
    }
    const report = yield* verifyLayer(opened, {
      ...(diffId !== undefined ? { diffId } : {}),
      ...(uncompressedSize !== undefined ? { uncompressedSize } : {}),
    }).pipe(Effect.catch(lazyFailure))
    if (diffId === undefined) return yield* notLazy(format, "the config lists no diffID for this layer")
    return {
      format,
      tocDigest: report.tocDigest,
      files: layerFacts(opened).length,
      chunks: report.chunkCount,
      diffId: report.diffId,
      uncompressedSize: report.uncompressedSize,
    }
  })

/**
 * The TOC blobs of an OCI layout's external-TOC image (`<ref>-esgztoc`, FORMATS §7.3), by eStargz layer digest;
 * empty when the layout has no such image.
 *
 * @example
 * const tocs = yield* externalTocsOf(layout, "latest"); yield* checkImage(image, { externalTocs: tocs })
 */
export const externalTocsOf = (
  layout: OciLayout,
  ref: string | undefined,
): Effect.Effect<ReadonlyMap<string, Uint8Array>, ImageError, Sha256> =>
  Effect.gen(function* () {
    const out = new Map<string, Uint8Array>()
    if (ref === undefined) return out
    const src = layout.source
    const fail = (e: OciError) =>
      new ImageError({
        reason: "BadImage",
        image: src.name,
        path: e.path,
        digest: e.digest,
        message: e.message,
      })
    const found = yield* Effect.result(resolveManifest(layout, { ref: `${ref}${TOC_IMAGE_SUFFIX}` }))
    if (found._tag === "Failure") {
      if (found.failure.reason === "NotFound") return out
      return yield* Effect.fail(fail(found.failure))
    }
    const md = found.success
    if (!isManifest(md.mediaType)) return out
    const manifest = yield* readBlob(src, md).pipe(
      Effect.flatMap((bytes) =>
        decodeManifest(bytes, { image: src.name, path: blobPath(md.digest), digest: md.digest }),
      ),
      Effect.mapError(fail),
    )
    for (const l of manifest.layers) {
      const target = l.annotations?.[TOC_LAYER_DIGEST_ANNOTATION]
      if (target === undefined) continue
      out.set(target, yield* readBlob(src, l).pipe(Effect.mapError(fail)))
    }
    return out
  })
