import { Schema } from "effect"

/** Why a whole-image operation failed. */
export const ImageErrorReason = Schema.Literals([
  "BadImage", // the image (index, manifest, config, a blob) is unusable; the cause is in the message
  "BadLayer", // a layer cannot be read or converted (not a tar, corrupt compression, bad TOC)
  "NotFound", // a path, layer, tag or platform is missing
  "NotLazy", // the operation needs a lazy-pullable layer and this one is not
  "Escape", // extraction would write outside the target directory
  "BadOption", // options that contradict each other or the image
  "Io", // reading or writing the source or destination failed
])

/** The one error of @lazypull/image, naming the image and, when known, the layer, digest and path. */
export class ImageError extends Schema.TaggedError<ImageError>()("ImageError", {
  reason: ImageErrorReason,
  image: Schema.String,
  layer: Schema.optional(Schema.Number),
  digest: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  message: Schema.String,
}) {}
