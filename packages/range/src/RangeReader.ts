import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** Why a ranged read failed. */
export const RangeErrorReason = Schema.Literals([
  "OutOfBounds", // offset/length outside [0, size)
  "ShortRead", // the source returned fewer bytes than asked
  "Io", // the underlying file/socket failed
  "RangeIgnored", // an HTTP server answered 200 to a Range request
])

/** The one error of every RangeReader. */
export class RangeReadError extends Schema.TaggedError<RangeReadError>()("RangeReadError", {
  reason: RangeErrorReason,
  source: Schema.String,
  offset: Schema.Number,
  length: Schema.Number,
  message: Schema.String,
}) {}

/** How many reads and bytes a reader has served so far. */
export interface RangeStats {
  reads: number
  bytes: number
}

/** Random access to an immutable blob: a file, a buffer, or an HTTP resource. */
export interface RangeReader {
  /** Where the bytes come from, for error messages. */
  readonly source: string
  /** Total size of the blob in bytes. */
  readonly size: number
  /** Reads exactly `length` bytes at `offset` (fails rather than returning fewer). */
  readAt(offset: number, length: number): Effect.Effect<Uint8Array, RangeReadError>
  /** Reads exactly `target.length` bytes at `offset` into `target` (lets callers reuse buffers). */
  readInto?(offset: number, target: Uint8Array): Effect.Effect<void, RangeReadError>
  /** Counters since creation. */
  readonly stats: RangeStats
}

/** A service slot for code that reads "the current blob". */
export class CurrentRangeReader extends Context.Service<CurrentRangeReader, RangeReader>()(
  "@lazypull/range/CurrentRangeReader",
) {}

/** Checks `[offset, offset+length)` against `size`; shared by every implementation. */
export const checkBounds = (
  source: string,
  size: number,
  offset: number,
  length: number,
): Effect.Effect<void, RangeReadError> =>
  Number.isSafeInteger(offset) &&
  Number.isSafeInteger(length) &&
  offset >= 0 &&
  length >= 0 &&
  offset + length <= size
    ? Effect.void
    : Effect.fail(
        new RangeReadError({
          reason: "OutOfBounds",
          source,
          offset,
          length,
          message: `read [${offset}, ${offset + length}) outside blob of ${size} bytes`,
        }),
      )

/**
 * A RangeReader over bytes in memory.
 *
 * @example
 * const r = fromBytes(blob, "memory"); const tail = yield* r.readAt(r.size - 51, 51)
 */
export const fromBytes = (bytes: Uint8Array, source = "memory"): RangeReader => {
  const stats: RangeStats = { reads: 0, bytes: 0 }
  return {
    source,
    size: bytes.length,
    stats,
    readAt: (offset, length) =>
      Effect.map(checkBounds(source, bytes.length, offset, length), () => {
        stats.reads++
        stats.bytes += length
        return bytes.subarray(offset, offset + length)
      }),
    readInto: (offset, target) =>
      Effect.map(checkBounds(source, bytes.length, offset, target.length), () => {
        stats.reads++
        stats.bytes += target.length
        target.set(bytes.subarray(offset, offset + target.length))
      }),
  }
}
