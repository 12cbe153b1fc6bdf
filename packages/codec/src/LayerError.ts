import * as Schema from "effect/Schema"

/** Why reading or writing a lazy-pullable layer failed. */
export const LayerErrorReason = Schema.Literals([
  "BadFooter", // no known footer at the end of the blob, or a footer whose fields are invalid
  "BadToc", // the TOC region does not decode, is not named stargz.index.json, or fails the schema
  "TocDigestMismatch", // sha256 of the TOC JSON differs from the expected digest
  "ChunkDigestMismatch", // a chunk's bytes differ from its chunkDigest
  "StreamMismatch", // the decompressed tar stream disagrees with the TOC
  "Truncated", // the blob ends early
  "Corrupt", // compressed bytes do not decode
  "TooLarge", // a size bound was exceeded (TOC, member, decompression bomb)
  "Unsupported", // an input feature the format cannot carry (sparse files, global PAX headers, ...)
  "BadInput", // the input layer is not a valid tar (or not tar/gzip/zstd)
  "BadOption", // an option value or combination is invalid
  "NotFound", // a path is not in the layer
  "Io", // the underlying reader or sink failed
])
export type LayerErrorReason = typeof LayerErrorReason.Type

/**
 * The one error of every layer format plugin: names the place (offset, entry) and what was expected.
 */
export class LayerError extends Schema.TaggedError<LayerError>()("LayerError", {
  reason: LayerErrorReason,
  format: Schema.String,
  offset: Schema.optional(Schema.Number),
  entry: Schema.optional(Schema.String),
  message: Schema.String,
}) {}
