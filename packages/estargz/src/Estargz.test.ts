import { Effect, Layer } from "effect"
import { Decompressors, GzipEngine, layerScratchMemory, type Sha256 } from "@lazypull/codec"
import { layerFormatSuite, type SuiteConverted } from "@lazypull/codec/testing"
import * as NodeEngine from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import { fromBytes } from "@lazypull/range"
import { convertInMemory } from "./InMemory.test-utils.ts"
import { layerFacts, makeDecompressor, openLayer, readFile, verifyLayer } from "./index.ts"

const open = (c: SuiteConverted) =>
  openLayer(fromBytes(c.blob), {
    tocDigest: c.tocDigest,
    ...(c.externalToc ? { externalToc: c.externalToc } : {}),
  })

const suiteFor = (name: string, engine: Layer.Layer<GzipEngine | Sha256>) => {
  const decompressors = Layer.effect(
    Decompressors,
    Effect.map(makeDecompressor(), (d) => [d]),
  ).pipe(Layer.provide(engine))
  const layer = Layer.mergeAll(engine, layerScratchMemory, decompressors)
  layerFormatSuite({
    name,
    layer,
    supports: { externalToc: true, keepDiffId: true, minChunkSize: true },
    convert: (tar, options) => convertInMemory(tar, options),
    facts: (c) => Effect.map(open(c), layerFacts),
    tocEntries: (c) => Effect.map(open(c), (l) => l.toc.entries),
    readFile: (c, path, range) => Effect.flatMap(open(c), (l) => readFile(l, path, range ?? {})),
    verify: (c) => Effect.flatMap(open(c), (l) => verifyLayer(l)),
    compressInput: (tar) => GzipEngine.use((g) => g.compress(tar, 6)),
  })
}

suiteFor("estargz on node:zlib", Layer.merge(NodeEngine.layerGzip, NodeEngine.layerSha256))
suiteFor("estargz on fflate (portable)", PortableEngine.layer)
