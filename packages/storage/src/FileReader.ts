import { checkBounds, type RangeReader, RangeReadError, type RangeStats } from "@lazypull/range"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as PlatformError from "effect/PlatformError"
import type * as Scope from "effect/Scope"
import { fromPlatformError, StorageError } from "./StorageError.ts"

/**
 * A RangeReader over an open file: positioned reads (no shared cursor, so concurrent reads are safe),
 * size taken at open.
 */
export const rangeReaderOfFile = (file: FileSystem.File, source: string, size: number): RangeReader => {
  const stats: RangeStats = { reads: 0, bytes: 0 }
  const io = (offset: number, length: number) => (e: PlatformError.PlatformError) =>
    new RangeReadError({ reason: "Io", source, offset, length, message: e.message })
  const fill = (target: Uint8Array, offset: number, got: number): Effect.Effect<void, RangeReadError> =>
    got === target.length
      ? Effect.void
      : Effect.flatMap(
          Effect.mapError(
            file.read(target.subarray(got), { position: BigInt(offset + got) }),
            io(offset, target.length),
          ),
          (n) =>
            n === 0
              ? Effect.fail(
                  new RangeReadError({
                    reason: "ShortRead",
                    source,
                    offset,
                    length: target.length,
                    message: `file ended after ${got} of ${target.length} bytes (was it truncated?)`,
                  }),
                )
              : fill(target, offset, got + n),
        )
  const count = (length: number) => {
    stats.reads++
    stats.bytes += length
  }
  return {
    source,
    size,
    stats,
    readAt: (offset, length) =>
      Effect.flatMap(checkBounds(source, size, offset, length), () => {
        const buf = new Uint8Array(length)
        return Effect.map(fill(buf, offset, 0), () => {
          count(length)
          return buf
        })
      }),
    readInto: (offset, target) =>
      Effect.flatMap(checkBounds(source, size, offset, target.length), () =>
        Effect.map(fill(target, offset, 0), () => count(target.length)),
      ),
  }
}

/** Opens `path` read-only in the current scope and wraps it as a RangeReader; errors name `store`. */
export const openFileReader = (
  fs: FileSystem.FileSystem,
  path: string,
  store: string,
  digest?: string,
): Effect.Effect<RangeReader, StorageError, Scope.Scope> =>
  Effect.gen(function* () {
    const toError = fromPlatformError(store, path, digest)
    const file = yield* Effect.mapError(fs.open(path, { flag: "r" }), toError)
    const info = yield* Effect.mapError(file.stat, toError)
    if (info.type !== "File") {
      return yield* new StorageError({
        reason: "Io",
        store,
        path,
        digest,
        message: `${path} is a ${info.type}, not a regular file`,
      })
    }
    return rangeReaderOfFile(file, path, Number(info.size))
  })

/**
 * A RangeReader over a local file read with positioned reads through effect's FileSystem; the file
 * is closed when the scope closes (NotFound when it does not exist).
 *
 * @example
 * const r = yield* fileRangeReader("layer.tar.gz"); const footer = yield* r.readAt(r.size - 51, 51)
 */
export const fileRangeReader = (
  path: string,
): Effect.Effect<RangeReader, StorageError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    return yield* openFileReader(yield* FileSystem.FileSystem, path, path)
  })
