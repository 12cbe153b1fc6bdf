import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { fromBytes, type RangeReader } from "@lazypull/range"
import { LayerError } from "./LayerError.ts"

/** An append-only temporary file that becomes a RangeReader once sealed. */
export interface ScratchFile {
  append(bytes: Uint8Array): Effect.Effect<void, LayerError>
  /** Stops appending and returns random access to everything appended. */
  seal(): Effect.Effect<RangeReader, LayerError>
}

/**
 * Temporary storage for converters that need a second pass over a stream (the reference spools the
 * decompressed layer to a temp file too). Node: a temp file deleted when the scope closes; memory: chunks.
 */
export class Scratch extends Context.Service<
  Scratch,
  {
    create(): Effect.Effect<ScratchFile, LayerError, Scope.Scope>
  }
>()("@lazypull/codec/Scratch") {}

/** Scratch space in memory (tests, browsers, small layers). */
export const layerScratchMemory: Layer.Layer<Scratch> = Layer.succeed(
  Scratch,
  Scratch.of({
    create: () =>
      Effect.sync(() => {
        const parts: Array<Uint8Array> = []
        let size = 0
        let sealed: RangeReader | undefined
        return {
          append: (bytes) =>
            sealed
              ? Effect.fail(new LayerError({ reason: "Io", format: "scratch", message: "append after seal" }))
              : Effect.sync(() => {
                  parts.push(bytes.slice())
                  size += bytes.length
                }),
          seal: () =>
            Effect.sync(() => {
              if (!sealed) {
                const all = new Uint8Array(size)
                let at = 0
                for (const p of parts) {
                  all.set(p, at)
                  at += p.length
                }
                parts.length = 0
                sealed = fromBytes(all, "scratch")
              }
              return sealed
            }),
        }
      }),
  }),
)
