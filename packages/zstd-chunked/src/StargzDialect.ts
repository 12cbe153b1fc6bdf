import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type CodecError,
  type Compressor,
  type Decompressor,
  Decompressors,
  type FooterInfo,
  LayerError,
  Sha256,
  type StreamInflater,
  ZstdEngine,
} from "@lazypull/codec"
import { makeDecompressor as makeGzipDecompressor, type MembersInFlight } from "@lazypull/estargz"
import { makeStargzFooter, parseStargzFooter, STARGZ_FOOTER_PAYLOAD, skippableFrame } from "./Footer.ts"

/** Format name of the stargz-snapshotter dialect (what ctr-remote and nerdctl write). */
export const FORMAT = "zstd:chunked"

/** Annotation keys of the stargz dialect (the original containers/storage spelling). */
export const MANIFEST_CHECKSUM_ANNOTATION = "io.containers.zstd-chunked.manifest-checksum"
export const MANIFEST_POSITION_ANNOTATION = "io.containers.zstd-chunked.manifest-position"

/** Default zstd level of the stargz dialect (klauspost SpeedDefault, FORMATS §1). */
export const DEFAULT_LEVEL = 3

/**
 * Frames the builder may keep in flight: small ones compress at once on the calling thread, the others
 * on the engine's workers, each holding only its input until written; a deep queue keeps the workers fed
 * through layers of small files (the builder's default of 16 is for gzip, where each one holds a zlib state).
 */
const FRAMES_IN_FLIGHT = 128

const toLayer =
  (where: string, offset?: number) =>
  (e: CodecError): LayerError =>
    new LayerError({
      reason: e.reason === "Truncated" ? "Truncated" : e.reason === "TooLarge" ? "TooLarge" : "Corrupt",
      format: FORMAT,
      ...(offset === undefined ? {} : { offset }),
      message: `${where}: ${e.message}`,
    })

/** Options of the stargz-dialect compressor. */
export interface StargzCompressorOptions {
  /** zstd level (default 3). */
  readonly level?: number
}

/**
 * The stargz-dialect Compressor (FORMATS §8.3): every member is a zstd frame; after the data, the TOC JSON
 * compressed as one frame inside a skippable frame, then the 40-byte footer in a skippable frame. The
 * decompressed stream is the entries only (no TOC entry, no end-of-archive), as the reference writes it.
 * It lets `buildLayer` keep up to 128 frames in flight (`MembersInFlight`).
 */
export const makeCompressor = (
  options: StargzCompressorOptions = {},
): Effect.Effect<Compressor, never, ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const zstd = yield* ZstdEngine
    const sha = yield* Sha256
    const level = options.level ?? DEFAULT_LEVEL
    const compressMember = (data: Uint8Array) =>
      zstd.compress(data, level).pipe(Effect.mapError(toLayer("compressing a frame")))
    const compressor: Compressor & MembersInFlight = {
      name: FORMAT,
      membersInFlight: FRAMES_IN_FLIGHT,
      compressMember,
      writeTocAndFooter: (json, tocFrameStart, external) =>
        Effect.gen(function* () {
          if (external)
            return yield* Effect.fail(
              new LayerError({
                reason: "BadOption",
                format: FORMAT,
                message: "zstd:chunked has no external TOC",
              }),
            )
          const toc = yield* compressMember(json)
          const tocOffset = tocFrameStart + 8
          const footer = skippableFrame(makeStargzFooter(tocOffset, toc.length, json.length))
          const tocFrame = skippableFrame(toc)
          const blobBytes = new Uint8Array(tocFrame.length + footer.length)
          blobBytes.set(tocFrame, 0)
          blobBytes.set(footer, tocFrame.length)
          const h = sha.make()
          h.update(toc)
          return {
            blobBytes,
            streamBytes: new Uint8Array(0),
            annotations: {
              [MANIFEST_CHECKSUM_ANNOTATION]: `sha256:${h.hex()}`,
              [MANIFEST_POSITION_ANNOTATION]: `${tocOffset}:${toc.length}:${json.length}:1`,
            },
          }
        }),
    }
    return compressor
  })

/** Decompression shared by both dialects: every frame, skippable frames skipped. */
export const zstdStreams = (zstd: ZstdEngine["Service"], format: string) => ({
  decompress: (data: Uint8Array, maxOutput: number) =>
    zstd.decompress(data, maxOutput).pipe(Effect.mapError(toLayer("decompressing"))),
  inflater: () =>
    zstd.inflater().pipe(
      Effect.mapError(toLayer("inflater")),
      Effect.map(
        (inf): StreamInflater => ({
          push: (chunk) =>
            inf.push(chunk).pipe(Effect.mapError(toLayer(`${format}: decompressing the blob`))),
          end: () => inf.end().pipe(Effect.mapError(toLayer(`${format}: decompressing the blob`))),
        }),
      ),
    ),
})

/** The stargz-dialect Decompressor: the 40-byte `GnUlInUx` footer, TOC = uncompressed eStargz JSON. */
export const makeDecompressor = (): Effect.Effect<Decompressor, never, ZstdEngine> =>
  Effect.map(ZstdEngine, (zstd) => {
    const streams = zstdStreams(zstd, FORMAT)
    const decompressor: Decompressor = {
      name: FORMAT,
      footerSize: STARGZ_FOOTER_PAYLOAD + 8,
      parseFooter: (tail, blobSize) =>
        Effect.suspend(() => {
          const f = parseStargzFooter(tail, blobSize)
          if (f === undefined) return Effect.succeed(undefined)
          if (typeof f === "string")
            return Effect.fail(
              new LayerError({
                reason: "BadFooter",
                format: FORMAT,
                offset: blobSize - STARGZ_FOOTER_PAYLOAD,
                message: f,
              }),
            )
          const info: FooterInfo = {
            format: FORMAT,
            footerSize: STARGZ_FOOTER_PAYLOAD + 8,
            tocOffset: f.tocOffset,
            tocEnd: f.tocOffset + f.tocCompressedLen,
            tocUncompressedSize: f.tocUncompressedLen,
            external: false,
            dataEnd: f.tocOffset - 8,
          }
          return Effect.succeed(info)
        }),
      decodeToc: (region, footer) =>
        Effect.flatMap(
          streams.decompress(region, Math.max(footer.tocUncompressedSize ?? 0, 1) + 1),
          (json): Effect.Effect<Uint8Array, LayerError> =>
            footer.tocUncompressedSize !== undefined && json.length !== footer.tocUncompressedSize
              ? Effect.fail(
                  new LayerError({
                    reason: "BadToc",
                    format: FORMAT,
                    offset: footer.tocOffset,
                    message: `TOC inflates to ${json.length} bytes, the footer says ${footer.tocUncompressedSize}`,
                  }),
                )
              : Effect.succeed(json),
        ),
      decompress: streams.decompress,
      inflater: streams.inflater,
    }
    return decompressor
  })

/** Decompressors for every layer kind lazypull reads: eStargz (gzip) first, then zstd:chunked. */
export const layerDecompressors = Layer.effect(
  Decompressors,
  Effect.gen(function* () {
    return [yield* makeGzipDecompressor(), yield* makeDecompressor()]
  }),
)
