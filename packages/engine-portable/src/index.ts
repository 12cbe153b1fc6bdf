/** CRC-32 as used by gzip trailers. */
export * from "./Crc32.ts"
/** The portable engine layers: `PortableEngine.layer`, `layerGzip`, `layerSha256`. */
export * as PortableEngine from "./PortableEngine.ts"
export * from "./PortableEngine.ts"
/** The fflate gzip engine: `make`, `layer`. */
export * as PortableGzip from "./PortableGzip.ts"
/** The @noble/hashes sha256: `make`, `layer`. */
export * as PortableSha256 from "./PortableSha256.ts"
/** The fzstd zstd decoder: `make`, `layer`. */
export * as PortableZstd from "./PortableZstd.ts"
