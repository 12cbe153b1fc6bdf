import type * as PlatformError from "effect/PlatformError"
import * as Schema from "effect/Schema"

/** Why a blob store or image output operation failed. */
export const StorageErrorReason = Schema.Literals([
  "NotFound", // a blob, file or directory is missing
  "DigestMismatch", // bytes do not hash to the digest they were stored or expected under
  "SizeMismatch", // bytes have another length than expected
  "BadDigest", // a malformed digest, or an algorithm other than sha256
  "Io", // the file system failed
  "Closed", // a writer or output was already committed or aborted
  "Exists", // the destination exists and is not something this output may write into
  "BadDocument", // index.json, oci-layout or a manifest at the destination or in the store is malformed
])

/** The one error of @lazypull/storage, naming the store and, when known, the digest and file. */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  reason: StorageErrorReason,
  store: Schema.String,
  digest: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  message: Schema.String,
}) {}

/** Maps a file-system failure to a StorageError (`NotFound`, `Exists` or `Io`). */
export const fromPlatformError =
  (store: string, path: string, digest?: string) =>
  (e: PlatformError.PlatformError): StorageError =>
    new StorageError({
      reason: e.reason._tag === "NotFound" ? "NotFound" : e.reason._tag === "AlreadyExists" ? "Exists" : "Io",
      store,
      path,
      digest,
      message: e.message,
    })
