import { Schema } from "effect"

/** Why an image, layout or archive could not be read. */
export const OciErrorReason = Schema.Literals([
  "NotFound", // a file, blob, tag or platform is missing
  "BadJson", // a JSON document does not parse
  "BadSchema", // a JSON document parses but has the wrong shape
  "DigestMismatch", // a blob does not hash to its digest
  "SizeMismatch", // a blob's size differs from its descriptor
  "UnknownMediaType", // a media type this SDK cannot handle where one is required
  "BadReference", // a malformed digest or reference, or an ambiguous selection
  "Truncated", // an archive or file ends early
])

/** The one error of @lazypull/oci, naming the image source and, when known, the file and digest. */
export class OciError extends Schema.TaggedError<OciError>()("OciError", {
  reason: OciErrorReason,
  image: Schema.String,
  path: Schema.optional(Schema.String),
  digest: Schema.optional(Schema.String),
  message: Schema.String,
}) {}
