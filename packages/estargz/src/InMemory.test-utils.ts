// Test helper: converts a tar in memory (shared by the suite and the interop tests).
import { Effect } from "effect"
import type { SuiteConverted, SuiteConvertOptions } from "@lazypull/codec/testing"
import { fromBytes } from "@lazypull/range"
import { type BuildOptions, buildLayer, makeCompressor } from "./index.ts"

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Builds a blob in memory with the eStargz compressor at the given level. */
export const convertInMemory = (tar: Uint8Array, options: SuiteConvertOptions & BuildOptions, level = 6) =>
  Effect.gen(function* () {
    const parts: Array<Uint8Array> = []
    const compressor = yield* makeCompressor({ level })
    const r = yield* buildLayer(fromBytes(tar), compressor, options, {
      write: (b) => Effect.sync(() => void parts.push(b.slice())),
    })
    const c: SuiteConverted = {
      blob: concat(parts),
      tocDigest: r.tocDigest,
      diffId: r.diffId,
      uncompressedSize: r.uncompressedSize,
      ...(r.externalToc ? { externalToc: r.externalToc.bytes } : {}),
    }
    return c
  })
