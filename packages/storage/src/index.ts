/** The storage contract: `BlobStore`, `BlobWriter`, `BlobInfo`, plus `sha256Hex`, `copyFromReader`, `copyBlob`. */
export * from "./BlobStore.ts"
/** Local files as RangeReaders through effect's FileSystem: `fileRangeReader`, `rangeReaderOfFile`. */
export * from "./FileReader.ts"
/** Atomic image destinations: `openOciLayoutOutput`, `openOciArchiveOutput`, `ImageOutput`, `mergeIndex`. */
export * from "./ImageOutput.ts"
/** An OCI image layout directory as a BlobStore: `openLayoutStore`. */
export * from "./LayoutStore.ts"
/** A BlobStore in memory: `makeMemoryStore`. */
export * from "./MemoryStore.ts"
/** The package's error: `StorageError`, `fromPlatformError`. */
export * from "./StorageError.ts"
