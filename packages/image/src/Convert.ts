import * as Effect from "effect/Effect"
import {
  Decompressors,
  type GzipEngine,
  LayerError,
  type Scratch,
  Sha256,
  type ZstdEngine,
} from "@lazypull/codec"
import {
  type BlobSink,
  buildLayer,
  makeCompressor as makeGzipCompressor,
  makeDecompressor as makeGzipDecompressor,
  openLayer,
  TOC_DIGEST_ANNOTATION,
  UNCOMPRESSED_SIZE_ANNOTATION,
} from "@lazypull/estargz"
import {
  blobPath,
  configPlatform,
  DOCKER_CONFIG,
  DOCKER_LAYER_FOREIGN_GZIP,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  type Descriptor,
  encodeJson,
  type Image,
  type ImageLayer,
  isDigest,
  layerReader,
  type LayoutSource,
  OCI_CONFIG,
  OCI_EMPTY_DIGEST,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_LAYER_NONDIST_GZIP,
  OCI_LAYER_NONDIST_ZSTD,
  OCI_LAYER_ZSTD,
  OCI_MANIFEST,
  verifyBlob,
} from "@lazypull/oci"
import type { RangeReader } from "@lazypull/range"
import type { BlobStore, ImageOutput, StorageError } from "@lazypull/storage"
import {
  buildStorageLayer,
  makeCompressor as makeZstdCompressor,
  makeDecompressor as makeZstdDecompressor,
  MANIFEST_CHECKSUM_ANNOTATION,
  STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
  openStorageLayer,
} from "@lazypull/zstd-chunked"
import { TOC_IMAGE_SUFFIX, TOC_LAYER_DIGEST_ANNOTATION } from "./Check.ts"
import { ImageError } from "./ImageError.ts"
import { type Selection, type SelectOptions, selectImages } from "./Select.ts"

/** eStargz options (ctr-remote's `--estargz-*` flags). */
export interface EstargzConvertOptions {
  /** gzip level 0-9 (default 9, as ctr-remote). */
  readonly level?: number
  /** Chunk size in bytes (default 4 MiB). */
  readonly chunkSize?: number
  /** Pack small files into shared members (innerOffset); 0 = off. */
  readonly minChunkSize?: number
  /** Put each TOC in the `<tag>-esgztoc` image instead of the layer. */
  readonly externalToc?: boolean
  /** With externalToc: keep the decompressed layers byte-identical to the source (same diffIDs). */
  readonly keepDiffId?: boolean
  /** Files to prefetch first, e.g. from a ctr-remote record file; applied to every layer. */
  readonly prioritizedFiles?: ReadonlyArray<string>
}

/** zstd:chunked options (`--zstdchunked-*` flags). */
export interface ZstdChunkedConvertOptions {
  /** zstd level 1-22 (default 3). */
  readonly level?: number
  /** Chunk size (stargz dialect only; default 4 MiB). */
  readonly chunkSize?: number
  /** `stargz` (ctr-remote/nerdctl, the default) or `storage` (podman/containers-storage). */
  readonly dialect?: "stargz" | "storage"
}

/** A progress event of {@link convertImages}. */
export type ConvertProgress =
  | {
      readonly _tag: "LayerStart"
      readonly image: number
      readonly layer: number
      readonly layers: number
      readonly bytes: number
    }
  | {
      readonly _tag: "LayerBytes"
      readonly image: number
      readonly layer: number
      readonly done: number
      readonly bytes: number
    }
  | {
      readonly _tag: "LayerDone"
      readonly image: number
      readonly layer: number
      readonly kept: boolean
      readonly digest: string
      readonly size: number
    }

/** Options of {@link convertImages}. */
export interface ConvertOptions extends SelectOptions {
  /** Target format (default `estargz`). */
  readonly format?: "estargz" | "zstdchunked"
  /** Convert Docker media types to OCI (layer annotations only count in OCI manifests). */
  readonly oci?: boolean
  readonly estargz?: EstargzConvertOptions
  readonly zstdchunked?: ZstdChunkedConvertOptions
  /** Tag of the converted image at the destination (also names the `-esgztoc` image). */
  readonly tag?: string | undefined
  /** Layers converted at once (default 2). */
  readonly layerConcurrency?: number
  /** Chunks compressing at once per layer (default 4). */
  readonly parallelism?: number
  /** Called with progress events (from several fibers; keep it cheap). */
  readonly onProgress?: (event: ConvertProgress) => void
}

/** What happened to one layer. */
export interface ConvertedLayer {
  readonly source: Descriptor
  readonly descriptor: Descriptor
  readonly diffId: string
  /** The layer already was in the target format and was kept as it is. */
  readonly kept: boolean
  /** Prioritized files not found in this layer. */
  readonly missedPrioritized: ReadonlyArray<string>
}

/** One converted image (one platform). */
export interface ConvertedImage {
  readonly platform: string | undefined
  readonly source: Descriptor | undefined
  readonly manifest: Descriptor
  readonly config: Descriptor
  readonly layers: ReadonlyArray<ConvertedLayer>
}

/** The result of {@link convertImages}. */
export interface ConvertResult {
  /** What the destination's index.json now names (a manifest, or an index for several platforms). */
  readonly descriptor: Descriptor
  readonly images: ReadonlyArray<ConvertedImage>
  /** The external-TOC image (`<tag>-esgztoc`), when TOCs are external. */
  readonly tocImage: Descriptor | undefined
  /** Things the user should know (e.g. a Docker manifest that cannot carry annotations). */
  readonly warnings: ReadonlyArray<string>
}

type Requirements = GzipEngine | ZstdEngine | Sha256 | Scratch

/**
 * Converts the selected images of `source` to eStargz or zstd:chunked and writes them to `output`, which makes
 * them appear at its destination only when everything is written and verified (`output.commit`). Layers are
 * converted concurrently and streamed; already-converted layers are kept; manifest, config (`rootfs.diff_ids`)
 * and index are rewritten with everything else they hold kept.
 *
 * @example
 * const result = yield* convertImages(source, output, { format: "estargz", oci: true, tag: "latest-esgz" })
 */
export const convertImages = (
  source: LayoutSource,
  output: ImageOutput,
  options: ConvertOptions = {},
): Effect.Effect<ConvertResult, ImageError, Requirements> =>
  Effect.gen(function* () {
    yield* checkOptions(source, options)
    const selection = yield* selectImages(source, options)
    return yield* convertSelection(selection, output, options)
  })

const checkOptions = (source: LayoutSource, o: ConvertOptions): Effect.Effect<void, ImageError> => {
  const bad = (message: string) =>
    Effect.fail(new ImageError({ reason: "BadOption", image: source.name, message }))
  const e = o.estargz ?? {}
  const z = o.zstdchunked ?? {}
  if (o.format === "zstdchunked") {
    if (e.minChunkSize || e.externalToc || e.keepDiffId)
      return bad("min-chunk-size, external TOC and keep-diff-id are eStargz options")
    if (z.dialect === "storage" && ((e.prioritizedFiles?.length ?? 0) > 0 || (z.chunkSize ?? 0) > 0))
      return bad(
        "the storage dialect chunks by content and keeps the tar as it is: no record file, no chunk size",
      )
    if (z.level !== undefined && !(Number.isInteger(z.level) && z.level >= 1 && z.level <= 22))
      return bad(`zstd level ${z.level}: want 1-22`)
  } else {
    if (e.level !== undefined && !(Number.isInteger(e.level) && e.level >= 0 && e.level <= 9))
      return bad(`gzip level ${e.level}: want 0-9`)
    if (e.keepDiffId && !e.externalToc) return bad("keep-diff-id needs external TOC")
    if (e.keepDiffId && (e.prioritizedFiles?.length ?? 0) > 0) return bad("keep-diff-id cannot reorder files")
  }
  return Effect.void
}

const storageFailure = (image: string, what: string) => (e: StorageError) =>
  new ImageError({ reason: "Io", image, digest: e.digest, path: e.path, message: `${what}: ${e.message}` })

const layerFailure = (image: string, layer: number, digest: string) => (e: LayerError) =>
  new ImageError({
    reason: e.reason === "Io" ? "Io" : e.reason === "BadOption" ? "BadOption" : "BadLayer",
    image,
    layer,
    digest,
    message: `layer ${layer} (${digest}): ${e.message}${e.entry !== undefined && !e.message.includes(e.entry) ? ` (entry ${JSON.stringify(e.entry)})` : ""}`,
  })

const convertSelection = (
  selection: Selection,
  output: ImageOutput,
  options: ConvertOptions,
): Effect.Effect<ConvertResult, ImageError, Requirements> =>
  Effect.gen(function* () {
    const name = selection.source.name
    const store = output.store
    const warnings: Array<string> = []
    const zstd = options.format === "zstdchunked"
    const dockerIn =
      selection.top?.mediaType === DOCKER_MANIFEST_LIST ||
      selection.images.some((i) => i.manifestDescriptor?.mediaType === DOCKER_MANIFEST)
    let oci = options.oci === true
    if (dockerIn && !oci) {
      if (zstd) {
        oci = true
        warnings.push(
          "zstd:chunked layers need an OCI manifest: the Docker manifest was converted to OCI (as with --oci)",
        )
      } else
        warnings.push(
          "the image has a Docker manifest, which cannot carry the layer annotations runtimes need: use --oci",
        )
    }
    const tocLayers: Array<Descriptor> = []
    const converted: Array<ConvertedImage> = []
    // the same layer blob (in several platforms, or twice in one image) is converted once
    const done = new Map<string, Effect.Effect<ConvertedLayer, ImageError, Requirements>>()
    for (let ii = 0; ii < selection.images.length; ii++)
      for (const [i, l] of selection.images[ii]!.layers.entries())
        if (!done.has(l.descriptor.digest))
          done.set(
            l.descriptor.digest,
            yield* Effect.cached(
              convertLayer(selection.images[ii]!, ii, i, l, store, options, oci, tocLayers),
            ),
          )
    for (let ii = 0; ii < selection.images.length; ii++) {
      const image = selection.images[ii]!
      const layers = yield* Effect.forEach(image.layers, (l) => done.get(l.descriptor.digest)!, {
        concurrency: options.layerConcurrency ?? 2,
      })
      converted.push(yield* writeImage(image, layers, store, oci))
    }

    // the top-level object: a manifest, or an index of the converted platforms
    let descriptor: Descriptor
    if (selection.index !== undefined && (selection.top !== undefined || converted.length > 1)) {
      const old = selection.index
      const manifests = converted.map((c) => {
        const was = old.manifests.find((d) => d.digest === c.source?.digest)
        return { ...(was ?? {}), ...c.manifest, ...(was?.platform ? { platform: was.platform } : {}) }
      })
      const mediaType =
        oci || old.mediaType === undefined || old.mediaType === OCI_INDEX ? OCI_INDEX : old.mediaType
      const index = { ...old, mediaType, manifests }
      const bytes = encodeJson(index)
      const info = yield* store.put(bytes).pipe(Effect.mapError(storageFailure(name, "writing the index")))
      descriptor = {
        mediaType,
        digest: info.digest,
        size: info.size,
        ...(selection.top?.annotations ? { annotations: dropRefs(selection.top.annotations) } : {}),
      }
    } else {
      const m = converted[0]!.manifest
      descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size }
    }
    if (descriptor.annotations !== undefined && Object.keys(descriptor.annotations).length === 0)
      delete (descriptor as { annotations?: unknown }).annotations

    // the external-TOC image (FORMATS §7.3): one manifest, {} config, TOC blobs sorted by digest
    let tocImage: Descriptor | undefined
    if (tocLayers.length > 0) {
      yield* store
        .put(new TextEncoder().encode("{}"))
        .pipe(Effect.mapError(storageFailure(name, "writing the TOC config")))
      const manifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: OCI_EMPTY_DIGEST, size: 2 },
        layers: [...tocLayers].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)),
      }
      const info = yield* store
        .put(encodeJson(manifest))
        .pipe(Effect.mapError(storageFailure(name, "writing the TOC image manifest")))
      tocImage = { mediaType: OCI_MANIFEST, digest: info.digest, size: info.size }
    }

    const tag = options.tag
    const entries = [{ descriptor, ref: tag }]
    if (tocImage) {
      if (tag === undefined)
        warnings.push(
          `the external-TOC image has no tag (give the destination a tag to get <tag>${TOC_IMAGE_SUFFIX})`,
        )
      entries.push({ descriptor: tocImage, ref: tag === undefined ? undefined : `${tag}${TOC_IMAGE_SUFFIX}` })
    }
    yield* output.commit(entries).pipe(Effect.mapError(storageFailure(name, "committing the image")))
    return { descriptor, images: converted, tocImage, warnings }
  })

const dropRefs = (a: Readonly<Record<string, string>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(a))
    if (k !== "org.opencontainers.image.ref.name" && k !== "io.containerd.image.name") out[k] = v
  return out
}

/** Reads a layer in order while hashing it, so the source digest is checked on the way. */
const hashingReader = (inner: RangeReader, sha: Sha256["Service"], onBytes: (n: number) => void) => {
  const h = sha.make()
  let next = 0
  const see = (offset: number, bytes: Uint8Array) => {
    const end = offset + bytes.length
    if (offset <= next && end > next) {
      h.update(bytes.subarray(next - offset))
      next = end
      onBytes(next)
    }
  }
  const reader: RangeReader = {
    source: inner.source,
    size: inner.size,
    stats: inner.stats,
    readAt: (offset, length) =>
      Effect.tap(inner.readAt(offset, length), (b) => Effect.sync(() => see(offset, b))),
    ...(inner.readInto
      ? {
          readInto: (offset: number, target: Uint8Array) =>
            Effect.tap(inner.readInto!(offset, target), () => Effect.sync(() => see(offset, target))),
        }
      : {}),
  }
  return { reader, complete: () => next === inner.size, digest: () => `sha256:${h.hex()}` }
}

const targetMediaType = (layer: ImageLayer, zstd: boolean, oci: boolean): string => {
  const t = layer.descriptor.mediaType
  const nondist = t.includes("nondistributable") || t === DOCKER_LAYER_FOREIGN_GZIP
  if (zstd) return nondist ? OCI_LAYER_NONDIST_ZSTD : OCI_LAYER_ZSTD
  if (nondist)
    return oci || t.startsWith("application/vnd.oci") ? OCI_LAYER_NONDIST_GZIP : DOCKER_LAYER_FOREIGN_GZIP
  if (!oci && t.startsWith("application/vnd.docker")) return DOCKER_LAYER_GZIP
  return OCI_LAYER_GZIP
}

/** Whether a layer already is in the target format: annotations present and footer + TOC open against them. */
const alreadyConverted = (
  image: Image,
  layer: ImageLayer,
  options: ConvertOptions,
): Effect.Effect<boolean, never, Requirements> =>
  Effect.gen(function* () {
    const a = layer.descriptor.annotations ?? {}
    const reader = layerReader(image.source, layer.path, layer.descriptor.size)
    const zstd = options.format === "zstdchunked"
    if (zstd && options.zstdchunked?.dialect === "storage") {
      if (layer.compression !== "zstd" || a[STORAGE_MANIFEST_CHECKSUM_ANNOTATION] === undefined) return false
      return yield* openStorageLayer(reader, a).pipe(
        Effect.as(true),
        Effect.catch(() => Effect.succeed(false)),
      )
    }
    const tocDigest = a[TOC_DIGEST_ANNOTATION]
    if (tocDigest === undefined || a[UNCOMPRESSED_SIZE_ANNOTATION] === undefined) return false
    if (
      zstd
        ? layer.compression !== "zstd" || a[MANIFEST_CHECKSUM_ANNOTATION] === undefined
        : layer.compression !== "gzip"
    )
      return false
    // external-TOC layers and option changes (min-chunk-size, external TOC) are converted again
    if (!zstd && (options.estargz?.externalToc || options.estargz?.minChunkSize)) return false
    const d = zstd ? yield* makeZstdDecompressor() : yield* makeGzipDecompressor()
    return yield* openLayer(reader, { tocDigest }).pipe(
      Effect.provideService(Decompressors, [d]),
      Effect.map((l) => !l.footer.external),
      Effect.catch(() => Effect.succeed(false)),
    )
  })

const convertLayer = (
  image: Image,
  imageIndex: number,
  index: number,
  layer: ImageLayer,
  store: BlobStore,
  options: ConvertOptions,
  oci: boolean,
  tocLayers: Array<Descriptor>,
): Effect.Effect<ConvertedLayer, ImageError, Requirements> =>
  Effect.scoped(
    Effect.gen(function* () {
      const name = image.source.name
      const src = layer.descriptor
      const onProgress = options.onProgress ?? (() => {})
      const zstd = options.format === "zstdchunked"
      const fail = layerFailure(name, index, src.digest)
      onProgress({
        _tag: "LayerStart",
        image: imageIndex,
        layer: index,
        layers: image.layers.length,
        bytes: src.size,
      })
      const mediaType = targetMediaType(layer, zstd, oci)

      if (yield* alreadyConverted(image, layer, options)) {
        // copy it as it is (a layout destination that already holds it skips the copy)
        yield* verifySource(image, index)
        yield* copyBlob(image.source, layer, store)
        onProgress({
          _tag: "LayerDone",
          image: imageIndex,
          layer: index,
          kept: true,
          digest: src.digest,
          size: src.size,
        })
        const diffId = layer.diffId ?? ""
        return { source: src, descriptor: { ...src, mediaType }, diffId, kept: true, missedPrioritized: [] }
      }

      const sha = yield* Sha256
      const hashing = hashingReader(layerReader(image.source, layer.path, src.size), sha, (done) =>
        onProgress({ _tag: "LayerBytes", image: imageIndex, layer: index, done, bytes: src.size }),
      )
      const writer = yield* store
        .writer()
        .pipe(Effect.mapError(storageFailure(name, "opening a blob writer")))
      const sink: BlobSink = {
        write: (bytes) =>
          writer
            .write(bytes)
            .pipe(
              Effect.mapError((e) => new LayerError({ reason: "Io", format: "image", message: e.message })),
            ),
      }
      let result: {
        blobDigest: string
        blobSize: number
        diffId: string
        uncompressedSize: number
        annotations: Readonly<Record<string, string>>
        externalToc?: { readonly bytes: Uint8Array; readonly digest: string } | undefined
        missedPrioritized: ReadonlyArray<string>
      }
      if (zstd && options.zstdchunked?.dialect === "storage") {
        const r = yield* buildStorageLayer(
          hashing.reader,
          {
            ...(options.zstdchunked.level !== undefined ? { level: options.zstdchunked.level } : {}),
            ...(options.parallelism !== undefined ? { parallelism: options.parallelism } : {}),
          },
          sink,
        ).pipe(Effect.mapError(fail))
        result = { ...r, missedPrioritized: [] }
      } else {
        const e = options.estargz ?? {}
        const compressor = zstd
          ? yield* makeZstdCompressor(
              options.zstdchunked?.level !== undefined ? { level: options.zstdchunked.level } : {},
            )
          : yield* makeGzipCompressor(e.level !== undefined ? { level: e.level } : {})
        const chunkSize = zstd ? options.zstdchunked?.chunkSize : e.chunkSize
        result = yield* buildLayer(
          hashing.reader,
          compressor,
          {
            ...(chunkSize !== undefined ? { chunkSize } : {}),
            ...(!zstd && e.minChunkSize !== undefined ? { minChunkSize: e.minChunkSize } : {}),
            ...(!zstd && e.externalToc ? { externalToc: true } : {}),
            ...(!zstd && e.keepDiffId ? { keepDiffId: true } : {}),
            ...(e.prioritizedFiles !== undefined ? { prioritizedFiles: e.prioritizedFiles } : {}),
            ...(options.parallelism !== undefined ? { parallelism: options.parallelism } : {}),
          },
          sink,
        ).pipe(Effect.mapError(fail))
      }

      // the source was read whole and in order for the conversion; check it is the blob its descriptor names
      if (hashing.complete()) {
        const got = hashing.digest()
        if (got !== src.digest)
          return yield* Effect.fail(
            new ImageError({
              reason: "BadImage",
              image: name,
              layer: index,
              digest: src.digest,
              message: `${blobPath(src.digest)} hashes to ${got}, not to its digest`,
            }),
          )
      } else yield* verifySource(image, index)
      const info = yield* writer
        .commit({ digest: result.blobDigest, size: result.blobSize })
        .pipe(Effect.mapError(storageFailure(name, `storing layer ${index}`)))
      const descriptor: Descriptor = {
        mediaType,
        digest: info.digest,
        size: info.size,
        annotations: { ...otherAnnotations(src.annotations), ...result.annotations },
      }
      if (result.externalToc !== undefined) {
        const toc = yield* store
          .put(result.externalToc.bytes)
          .pipe(Effect.mapError(storageFailure(name, `storing the TOC of layer ${index}`)))
        tocLayers.push({
          mediaType: OCI_LAYER_GZIP,
          digest: toc.digest,
          size: toc.size,
          annotations: { [TOC_LAYER_DIGEST_ANNOTATION]: info.digest },
        })
      }
      onProgress({
        _tag: "LayerDone",
        image: imageIndex,
        layer: index,
        kept: false,
        digest: info.digest,
        size: info.size,
      })
      return {
        source: src,
        descriptor,
        diffId: result.diffId,
        kept: false,
        missedPrioritized: result.missedPrioritized,
      }
    }),
  )

/** Checks a source layer blob against its descriptor (when the conversion did not read it whole, in order). */
const verifySource = (image: Image, index: number) => {
  const d = image.layers[index]!.descriptor
  return verifyBlob(image.source, d).pipe(
    Effect.mapError(
      (e) =>
        new ImageError({
          reason: "BadImage",
          image: image.source.name,
          layer: index,
          digest: d.digest,
          message: e.message,
        }),
    ),
  )
}

/** The layer annotations that are not about a lazy format (kept through a conversion). */
const otherAnnotations = (a: Readonly<Record<string, string>> | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(a ?? {}))
    if (
      !k.startsWith("containerd.io/snapshot/stargz/") &&
      !k.startsWith("io.containers.estargz.") &&
      !k.startsWith("io.containers.zstd-chunked.") &&
      !k.startsWith("io.github.containers.zstd-chunked.")
    )
      out[k] = v
  return out
}

const copyBlob = (source: LayoutSource, layer: ImageLayer, store: BlobStore) =>
  Effect.scoped(
    Effect.gen(function* () {
      const d = layer.descriptor
      const name = source.name
      if ((yield* store.stat(d.digest).pipe(Effect.mapError(storageFailure(name, "stat")))) === d.size) return
      const writer = yield* store
        .writer()
        .pipe(Effect.mapError(storageFailure(name, "opening a blob writer")))
      const step = 1 << 20
      for (let off = 0; off < d.size; off += step) {
        const bytes = yield* source
          .readAt(layer.path, off, Math.min(step, d.size - off))
          .pipe(
            Effect.mapError(
              (e) => new ImageError({ reason: "Io", image: name, digest: d.digest, message: e.message }),
            ),
          )
        yield* writer.write(bytes).pipe(Effect.mapError(storageFailure(name, "copying a layer")))
      }
      yield* writer
        .commit({ digest: d.digest, size: d.size })
        .pipe(Effect.mapError(storageFailure(name, "copying a layer")))
    }),
  )

/** Writes config and manifest of one converted image. */
const writeImage = (
  image: Image,
  layers: ReadonlyArray<ConvertedLayer>,
  store: BlobStore,
  oci: boolean,
): Effect.Effect<ConvertedImage, ImageError> =>
  Effect.gen(function* () {
    const name = image.source.name
    // config: the same JSON object with the new diffIDs (every other key kept, in order)
    const config = JSON.parse(new TextDecoder().decode(image.configBytes)) as Record<string, unknown>
    const rootfs = (config.rootfs ?? {}) as Record<string, unknown>
    config.rootfs = { ...rootfs, diff_ids: layers.map((l) => l.diffId) }
    const configBytes = encodeJson(config)
    const configInfo = yield* store
      .put(configBytes)
      .pipe(Effect.mapError(storageFailure(name, "writing the config")))
    const wasDocker = image.manifest.mediaType === DOCKER_MANIFEST
    const configType =
      oci || !wasDocker
        ? OCI_CONFIG
        : image.configDescriptor.mediaType === DOCKER_CONFIG
          ? DOCKER_CONFIG
          : OCI_CONFIG
    const manifestType = oci || !wasDocker ? OCI_MANIFEST : DOCKER_MANIFEST
    const manifest: Record<string, unknown> = {
      ...image.manifest,
      mediaType: manifestType,
      config: {
        ...image.manifest.config,
        mediaType: configType,
        digest: configInfo.digest,
        size: configInfo.size,
      },
      layers: layers.map((l) => l.descriptor),
    }
    const bytes = encodeJson(manifest)
    const info = yield* store.put(bytes).pipe(Effect.mapError(storageFailure(name, "writing the manifest")))
    if (!isDigest(info.digest))
      return yield* Effect.fail(
        new ImageError({ reason: "Io", image: name, message: `store returned digest ${info.digest}` }),
      )
    const platform = configPlatform(image.config)
    return {
      platform,
      source: image.manifestDescriptor,
      manifest: { mediaType: manifestType, digest: info.digest, size: info.size },
      config: { mediaType: configType, digest: configInfo.digest, size: configInfo.size },
      layers,
    }
  })
