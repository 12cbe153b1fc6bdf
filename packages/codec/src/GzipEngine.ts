import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { CodecError } from "./CodecError.ts"

/** An incremental inflater for a (possibly multi-member) gzip stream. */
export interface GzipInflater {
  /** Feeds compressed bytes; returns the decompressed bytes now available (may be empty). */
  push(chunk: Uint8Array): Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>
  /** Ends the stream; fails with reason "Truncated" when it stops inside a member. */
  end(): Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>
}

/**
 * A streaming gzip compressor whose position can be made exact with a sync flush: what the eStargz
 * writer needs for min-chunk-size (innerOffset) packing, where a member's length decides the layout.
 */
export interface GzipDeflater {
  /** Feeds bytes into the current member; returns compressed bytes that became available. */
  write(data: Uint8Array): Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>
  /** Makes the compressed position as exact as the engine can (node:zlib: Z_SYNC_FLUSH) and returns new output. */
  flush(): Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>
  /** Ends the current member (trailer written); the next write starts a new member. */
  finish(): Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>
}

/**
 * gzip (RFC 1952) as a service: one complete member per `compress` call, so that callers
 * decide where members start (eStargz puts one at every chunk).
 *
 * @example
 * const member = yield* GzipEngine.use((g) => g.compress(bytes, 9))
 */
export class GzipEngine extends Context.Service<
  GzipEngine,
  {
    /** Engine name, for messages and benchmarks ("node:zlib", "fflate"). */
    readonly name: string
    /** Compresses `data` into exactly one gzip member (MTIME 0). Level 0-9, -1 = default. */
    compress(data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError>
    /** Decompresses every member in `data`; `maxOutput` guards against bombs. */
    decompress(data: Uint8Array, maxOutput?: number): Effect.Effect<Uint8Array, CodecError>
    /** A streaming inflater over all members of a stream. */
    inflater(): Effect.Effect<GzipInflater, CodecError>
    /** A streaming deflater producing one member after another, with exact sync flushes. */
    deflater(level: number): Effect.Effect<GzipDeflater, CodecError>
  }
>()("@lazypull/codec/GzipEngine") {}
