/** Local files: `fileRangeReader`, `fileStream`, `atomicFileSink`, `FileError`. */
export * from "./NodeFile.ts"
/** The Node engine layers: `NodeEngine.layer`, `layerGzip`, `layerSha256`, `layerZstd`. */
export * as NodeEngine from "./NodeEngine.ts"
export * from "./NodeEngine.ts"
/** The node:zlib gzip engine: `make`, `layer`. */
export * as NodeGzip from "./NodeGzip.ts"
/** The node:crypto sha256: `make`, `layer`. */
export * as NodeSha256 from "./NodeSha256.ts"
/** zstd on worker threads (zstd-wasm) or zstd-napi: `make`, `layer`, `makeNative`, `layerNative`. */
export * as NodeZstd from "./NodeZstd.ts"
