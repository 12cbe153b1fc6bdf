import * as Schema from "effect/Schema"

/** Why a codec operation failed. */
export const CodecErrorReason = Schema.Literals([
  "Corrupt", // the compressed bytes do not decode
  "Truncated", // the input ended inside a member/frame
  "TooLarge", // output would exceed a configured bound (decompression bomb guard)
  "Unsupported", // a feature the engine does not implement
  "Engine", // the engine itself failed (out of memory, worker crash)
])
export type CodecErrorReason = typeof CodecErrorReason.Type

/** The one error type of every compression engine. */
export class CodecError extends Schema.TaggedError<CodecError>()("CodecError", {
  reason: CodecErrorReason,
  codec: Schema.String,
  message: Schema.String,
}) {}
