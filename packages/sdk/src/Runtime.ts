import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import type * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import type { Decompressors, GzipEngine, Scratch, Sha256, ZstdEngine } from "@lazypull/codec"
import * as NodeEngine from "@lazypull/engine-node"
import { layerScratchFile } from "@lazypull/engine-node/NodeScratch"
import { layerAllDecompressors } from "@lazypull/zstd-chunked"

/** Every service the SDK's operations need. */
export type Services = GzipEngine | Sha256 | ZstdEngine | Scratch | Decompressors | FileSystem.FileSystem

/**
 * The default services on Node: node:zlib gzip, node:crypto sha256, zstd (native when installed, else wasm on
 * worker threads), scratch files in the temp dir, every layer format, and the Node file system.
 *
 * @example
 * program.pipe(Effect.provide(layerNode))
 */
export const layerNode: Layer.Layer<Services> = (() => {
  const base = Layer.mergeAll(NodeEngine.layer, layerScratchFile(), NodeFileSystem.layer)
  return Layer.merge(base, layerAllDecompressors.pipe(Layer.provide(base)))
})()

/** Runs an SDK effect with the default Node services, rejecting with its typed error (an `ImageError`, say). */
export const runPromise = <A, E>(effect: Effect.Effect<A, E, Services>): Promise<A> =>
  Effect.runPromiseExit(Effect.provide(effect, layerNode)).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.findErrorOption(exit.cause)
    if (failure._tag === "Some") throw failure.value
    throw Cause.squash(exit.cause)
  })
