import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { CodecError } from "./CodecError.ts"
import type { GzipInflater } from "./GzipEngine.ts"

/**
 * zstd (RFC 8878) as a service. Decompression handles several frames and skips skippable frames, so a
 * zstd:chunked blob or a `.tar.zst` layer decodes as one stream.
 *
 * @example
 * const tar = yield* ZstdEngine.use((z) => z.decompress(blob, 1 << 30))
 */
export class ZstdEngine extends Context.Service<
  ZstdEngine,
  {
    readonly name: string
    /** Compresses `data` into exactly one zstd frame (content size recorded, checksum off). */
    compress(data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError>
    /** Decompresses every frame in `data`; `maxOutput` guards against bombs. */
    decompress(data: Uint8Array, maxOutput: number): Effect.Effect<Uint8Array, CodecError>
    /** A streaming decompressor over all frames of a stream (same push/end contract as gzip's). */
    inflater(): Effect.Effect<GzipInflater, CodecError>
  }
>()("@lazypull/codec/ZstdEngine") {}
