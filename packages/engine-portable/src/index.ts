/** CRC-32 as used by gzip trailers. */
export * from "./Crc32.ts"
/** The portable engine layers: `PortableEngine.layer`, `layerGzip`, `layerSha256`, `layerZstd`. */
export * as PortableEngine from "./PortableEngine.ts"
export * from "./PortableEngine.ts"
/** The fflate gzip engine: `make`, `layer`. */
export * as PortableGzip from "./PortableGzip.ts"
/** The @noble/hashes sha256: `make`, `layer`. */
export * as PortableSha256 from "./PortableSha256.ts"
/** The zstd engine (zstd-wasm compression, zstd-wasm/fzstd decoding): `make`, `layer`, `checkCompress`, `wasmError`. */
export * as PortableZstd from "./PortableZstd.ts"
/** zstd stream structure: `FrameScanner` (incremental) and `splitFrames` (whole blobs). */
export * as PortableZstdFrames from "./PortableZstdFrames.ts"
