import type { GzipEngine, Sha256, ZstdEngine } from "@lazypull/codec"
import * as Layer from "effect/Layer"
import * as NodeGzip from "./NodeGzip.ts"
import * as NodeSha256 from "./NodeSha256.ts"
import * as NodeZstd from "./NodeZstd.ts"

/** `GzipEngine` on node:zlib. */
export const layerGzip: Layer.Layer<GzipEngine> = NodeGzip.layer

/** `Sha256` on node:crypto. */
export const layerSha256: Layer.Layer<Sha256> = NodeSha256.layer

/**
 * `ZstdEngine`: native zstd-napi when that optional package is installed, otherwise zstd-wasm in a
 * pool of worker threads (same frames as the portable engine).
 */
export const layerZstd: Layer.Layer<ZstdEngine> = Layer.catch(NodeZstd.layerNative, () => NodeZstd.layer)

/**
 * Every engine service on Node: `GzipEngine` (node:zlib), `Sha256` (node:crypto) and `ZstdEngine`
 * (zstd-napi, or zstd-wasm on worker threads).
 *
 * @example
 * program.pipe(Effect.provide(NodeEngine.layer))
 */
export const layer: Layer.Layer<GzipEngine | Sha256 | ZstdEngine> = Layer.mergeAll(
  layerGzip,
  layerSha256,
  layerZstd,
)
