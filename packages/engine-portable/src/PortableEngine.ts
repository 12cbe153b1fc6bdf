import type { GzipEngine, Sha256, ZstdEngine } from "@lazypull/codec"
import * as Layer from "effect/Layer"
import * as PortableGzip from "./PortableGzip.ts"
import * as PortableSha256 from "./PortableSha256.ts"
import * as PortableZstd from "./PortableZstd.ts"

/** `GzipEngine` on fflate. */
export const layerGzip: Layer.Layer<GzipEngine> = PortableGzip.layer

/** `Sha256` on @noble/hashes. */
export const layerSha256: Layer.Layer<Sha256> = PortableSha256.layer

/** `ZstdEngine`: compression on zstd-wasm (one frame per call), decoding on zstd-wasm per frame and fzstd (streaming). */
export const layerZstd: Layer.Layer<ZstdEngine> = PortableZstd.layer

/**
 * Every engine service in portable JavaScript (no `node:*`): `GzipEngine` + `Sha256` + `ZstdEngine`.
 *
 * @example
 * program.pipe(Effect.provide(PortableEngine.layer))
 */
export const layer: Layer.Layer<GzipEngine | Sha256 | ZstdEngine> = Layer.mergeAll(
  layerGzip,
  layerSha256,
  layerZstd,
)
