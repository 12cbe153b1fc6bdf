import type { GzipEngine, Sha256 } from "@lazypull/codec"
import { Layer } from "effect"
import * as NodeGzip from "./NodeGzip.ts"
import * as NodeSha256 from "./NodeSha256.ts"

/** `GzipEngine` on node:zlib. */
export const layerGzip: Layer.Layer<GzipEngine> = NodeGzip.layer

/** `Sha256` on node:crypto. */
export const layerSha256: Layer.Layer<Sha256> = NodeSha256.layer

/**
 * Every engine service on Node's native libraries: `GzipEngine` (node:zlib) + `Sha256` (node:crypto).
 *
 * @example
 * program.pipe(Effect.provide(NodeEngine.layer))
 */
export const layer: Layer.Layer<GzipEngine | Sha256> = Layer.mergeAll(layerGzip, layerSha256)
