import * as Schema from "effect/Schema"

/** Why a TOC was rejected. */
export const TocErrorReason = Schema.Literals([
  "InvalidJson", // not JSON, trailing bytes other than whitespace, nesting deeper than 10000
  "Schema", // a key holds the wrong JSON type (string for a number, fraction in an integer, ...)
  "TooLarge", // input above `maxBytes`, more than `maxEntries` entries
  "BadVersion", // `version` is not 1
  "BadEntry", // an entry breaks the TOC rules (unknown type, stray chunk, broken tiling, malformed digest, ...)
  "BadOffset", // a negative offset, or a data offset at or past the end of the data region
  "DanglingHardlink", // a hardlink whose target is missing, or a cycle of hardlinks
  "DigestMismatch", // content did not hash to the digest the TOC records
])
/** The `reason` of a TocError. */
export type TocErrorReason = typeof TocErrorReason.Type

/**
 * The one error of the TOC package. `entry` is the entry's raw name ("" when the error is not about one entry);
 * the message names the entry index as `entry #N`.
 */
export class TocError extends Schema.TaggedError<TocError>()("TocError", {
  reason: TocErrorReason,
  entry: Schema.String,
  message: Schema.String,
}) {}
