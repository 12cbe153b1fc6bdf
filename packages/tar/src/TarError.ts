import * as Schema from "effect/Schema"

/** Why a tar stream was rejected. */
export const TarErrorReason = Schema.Literals([
  "Truncated", // the input ended inside a header, an extension record, a payload or its padding
  "BadChecksum", // a header block's checksum field does not match its contents
  "BadHeader", // a header field does not parse (bad octal, negative size, lone zero block, ...)
  "BadPax", // a PAX extended header record is malformed
  "Unsupported", // a valid tar feature this SDK refuses: global PAX, sparse files, typeflags other than 0-6
  "TooLarge", // a number above Number.MAX_SAFE_INTEGER, or extension records above `maxMetaBytes`
])
/** The `reason` of a TarError. */
export type TarErrorReason = typeof TarErrorReason.Type

/** The one error of the tar reader: `offset` is the stream offset of the header block where it went wrong. */
export class TarError extends Schema.TaggedError<TarError>()("TarError", {
  reason: TarErrorReason,
  offset: Schema.Number,
  entry: Schema.String,
  message: Schema.String,
}) {}
