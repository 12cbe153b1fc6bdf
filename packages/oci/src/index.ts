/** Opening OCI archives and docker archives over a RangeReader: `tarSource`, `openArchive`, `openImage`. */
export * from "./Archive.ts"
/** Digest grammar and sha256 digests: `parseDigest`, `isDigest`, `blobPath`, `sha256Digest`. */
export * from "./Digest.ts"
/** OCI image layouts: `openLayout`, `resolveManifest`, `openLayoutImage`, the `Image` shape. */
export * from "./Layout.ts"
/** The file access every image reader goes through: `LayoutSource`, `readBlob`, `verifyBlob`, `layerReader`. */
export * from "./LayoutSource.ts"
/** OCI and Docker media types and their classification. */
export * from "./MediaType.ts"
/** The package's error: `OciError`. */
export * from "./OciError.ts"
/** effect Schemas of descriptors, indexes, manifests and configs: `decodeIndex`, `decodeManifest`, `decodeConfig`. */
export * from "./Schema.ts"
/** A LayoutSource over a local directory through effect's FileSystem: `directorySource`. */
export * from "./DirectorySource.ts"
