import { Sha256 } from "@lazypull/codec"
import { checkBounds, type RangeReader, RangeReadError, type RangeStats } from "@lazypull/range"
import { Effect } from "effect"
import { blobPath } from "./Digest.ts"
import { OciError } from "./OciError.ts"
import type { Descriptor } from "./Schema.ts"

/**
 * Read access to the files of an image layout or archive, by `/`-separated relative path.
 * A directory (engine-node or a test helper) and a tar archive (`tarSource`) both implement it.
 */
export interface LayoutSource {
  /** Name of the image source, for errors (a path or URL). */
  readonly name: string
  /** Every regular file's relative path. */
  list(): Effect.Effect<ReadonlyArray<string>, OciError>
  /** Size of a file, or undefined when it does not exist. */
  stat(path: string): Effect.Effect<number | undefined, OciError>
  /** Reads `length` bytes at `offset` of a file (NotFound when missing, Truncated when out of range). */
  readAt(path: string, offset: number, length: number): Effect.Effect<Uint8Array, OciError>
  /** Optional: fills `target` from `offset` of a file without allocating (large sequential reads). */
  readInto?(path: string, offset: number, target: Uint8Array): Effect.Effect<void, OciError>
}

/** Bytes read per `readAt` when streaming a file. */
export const STREAM_CHUNK = 1 << 20

/** The size of a file, failing with NotFound when it is missing. */
export const fileSize = (src: LayoutSource, path: string, digest?: string): Effect.Effect<number, OciError> =>
  Effect.flatMap(src.stat(path), (size) =>
    size === undefined
      ? Effect.fail(
          new OciError({
            reason: "NotFound",
            image: src.name,
            path,
            digest,
            message: `${path} does not exist`,
          }),
        )
      : Effect.succeed(size),
  )

/** A whole (small) file: index.json, a manifest, a config. */
export const readFile = (src: LayoutSource, path: string): Effect.Effect<Uint8Array, OciError> =>
  Effect.flatMap(fileSize(src, path), (size) => src.readAt(path, 0, size))

/** Feeds a file to `f` chunk by chunk, never holding more than STREAM_CHUNK bytes. */
export const forEachChunk = (
  src: LayoutSource,
  path: string,
  size: number,
  f: (chunk: Uint8Array) => void,
): Effect.Effect<void, OciError> =>
  Effect.gen(function* () {
    for (let off = 0; off < size; off += STREAM_CHUNK) {
      f(yield* src.readAt(path, off, Math.min(STREAM_CHUNK, size - off)))
    }
  })

/** `sha256:<hex>` and size of a file, streamed through the Sha256 service. */
export const digestFile = (
  src: LayoutSource,
  path: string,
): Effect.Effect<{ readonly digest: string; readonly size: number }, OciError, Sha256> =>
  Effect.gen(function* () {
    const size = yield* fileSize(src, path)
    const h = (yield* Sha256).make()
    yield* forEachChunk(src, path, size, (c) => h.update(c))
    return { digest: `sha256:${h.hex()}`, size }
  })

const checkSize = (
  src: LayoutSource,
  path: string,
  d: Descriptor,
  size: number,
): Effect.Effect<void, OciError> =>
  size === d.size
    ? Effect.void
    : Effect.fail(
        new OciError({
          reason: "SizeMismatch",
          image: src.name,
          path,
          digest: d.digest,
          message: `${path} has ${size} bytes, its descriptor says ${d.size}`,
        }),
      )

const checkDigest = (
  src: LayoutSource,
  path: string,
  d: Descriptor,
  actual: string,
): Effect.Effect<void, OciError> =>
  actual === d.digest
    ? Effect.void
    : Effect.fail(
        new OciError({
          reason: "DigestMismatch",
          image: src.name,
          path,
          digest: d.digest,
          message: `${path} hashes to ${actual}`,
        }),
      )

const unsupported = (src: LayoutSource, path: string, d: Descriptor): OciError =>
  new OciError({
    reason: "BadReference",
    image: src.name,
    path,
    digest: d.digest,
    message: `cannot verify a ${d.digest.slice(0, d.digest.indexOf(":"))} digest (only sha256)`,
  })

/**
 * Reads a whole blob of an image layout (`blobs/<alg>/<encoded>`), checking its size and sha256 digest.
 * Meant for manifests and configs; use `verifyBlob` plus `readAt` for layers.
 */
export const readBlob = (src: LayoutSource, d: Descriptor): Effect.Effect<Uint8Array, OciError, Sha256> =>
  Effect.gen(function* () {
    const path = blobPath(d.digest)
    if (!d.digest.startsWith("sha256:")) return yield* unsupported(src, path, d)
    const size = yield* fileSize(src, path, d.digest)
    yield* checkSize(src, path, d, size)
    const bytes = yield* src.readAt(path, 0, size)
    const h = (yield* Sha256).make()
    h.update(bytes)
    yield* checkDigest(src, path, d, `sha256:${h.hex()}`)
    return bytes
  })

/** Streams the file at `path` through sha256 and checks it against the descriptor's size and digest. */
export const verifyFile = (
  src: LayoutSource,
  path: string,
  d: Descriptor,
): Effect.Effect<void, OciError, Sha256> =>
  Effect.gen(function* () {
    if (!d.digest.startsWith("sha256:")) return yield* unsupported(src, path, d)
    const size = yield* fileSize(src, path, d.digest)
    yield* checkSize(src, path, d, size)
    const h = (yield* Sha256).make()
    yield* forEachChunk(src, path, size, (c) => h.update(c))
    yield* checkDigest(src, path, d, `sha256:${h.hex()}`)
  })

/** Streams a layout blob through sha256 and checks its size and digest (a layer, without holding it). */
export const verifyBlob = (src: LayoutSource, d: Descriptor): Effect.Effect<void, OciError, Sha256> =>
  verifyFile(src, blobPath(d.digest), d)

/**
 * A RangeReader over one file of a LayoutSource (a layer blob, read in place inside an archive);
 * source errors become RangeReadError `Io`.
 *
 * @example
 * const r = layerReader(image.source, layer.path, layer.descriptor.size); const head = yield* r.readAt(0, 512)
 */
export const layerReader = (src: LayoutSource, path: string, size: number): RangeReader => {
  const stats: RangeStats = { reads: 0, bytes: 0 }
  const source = `${src.name}:${path}`
  const count = (length: number) =>
    Effect.sync(() => {
      stats.reads++
      stats.bytes += length
    })
  const toRange = (offset: number, length: number) => (e: OciError) =>
    new RangeReadError({ reason: "Io", source, offset, length, message: e.message })
  const readInto = src.readInto
  return {
    source,
    size,
    stats,
    ...(readInto
      ? {
          readInto: (offset: number, target: Uint8Array) =>
            checkBounds(source, size, offset, target.length).pipe(
              Effect.flatMap(() =>
                Effect.mapError(readInto.call(src, path, offset, target), toRange(offset, target.length)),
              ),
              Effect.tap(() => count(target.length)),
            ),
        }
      : {}),
    readAt: (offset, length) =>
      checkBounds(source, size, offset, length).pipe(
        Effect.flatMap(() =>
          Effect.mapError(
            src.readAt(path, offset, length),
            (e) => new RangeReadError({ reason: "Io", source, offset, length, message: e.message }),
          ),
        ),
        Effect.tap(() =>
          Effect.sync(() => {
            stats.reads++
            stats.bytes += length
          }),
        ),
      ),
  }
}
