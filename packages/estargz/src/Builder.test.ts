import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Decompressors, layerScratchMemory, LayerError } from "@lazypull/codec"
import { content, tarFacts, variousFiles } from "@lazypull/codec/testing"
import * as NodeEngine from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import { fromBytes } from "@lazypull/range"
import { writeTar } from "@lazypull/tar"
import { convertInMemory } from "./InMemory.test-utils.ts"
import {
  layerFacts,
  makeDecompressor,
  openLayer,
  parseRecordFile,
  prioritize,
  readFileWithCost,
} from "./index.ts"

const engine = Layer.mergeAll(NodeEngine.layerGzip, NodeEngine.layerSha256, PortableEngine.layerZstd)
const layer = Layer.mergeAll(
  engine,
  layerScratchMemory,
  Layer.effect(
    Decompressors,
    Effect.map(makeDecompressor(), (d) => [d]),
  ).pipe(Layer.provide(engine)),
)
const tarOf = (prefix: string, chunk: number) =>
  writeTar(
    variousFiles(prefix, chunk, true).map((i) =>
      i.data ? { entry: i.entry, data: i.data } : { entry: i.entry },
    ),
    { format: "pax" },
  )

describe("buildLayer", () => {
  it.effect(
    "output bytes do not depend on parallelism (unlike the reference, whose bytes follow GOMAXPROCS)",
    () =>
      Effect.gen(function* () {
        const big = writeTar([
          { entry: { name: "a", typeflag: "0", mtime: 1 }, data: content(300_000, 1) },
          ...Array.from({ length: 40 }, (_, i) => ({
            entry: { name: `small/${i}`, typeflag: "0", mtime: 1 },
            data: content(i * 97, i),
          })),
          { entry: { name: "b", typeflag: "0", mtime: 1 }, data: content(200_000, 2) },
        ])
        const blobs = []
        for (const parallelism of [1, 2, 3, 8, 64]) {
          const c = yield* convertInMemory(big, { chunkSize: 65536, parallelism }, 6)
          blobs.push(Buffer.from(c.blob).toString("hex"))
        }
        expect(new Set(blobs).size).toBe(1)
      }).pipe(Effect.provide(layer)),
  )

  it.effect("re-converting an eStargz blob is lossless: same files, one landmark, no TOC entry copied", () =>
    Effect.gen(function* () {
      const tar = tarOf("./", 4096)
      const first = yield* convertInMemory(tar, { chunkSize: 4096 }, 6)
      const second = yield* convertInMemory(first.blob, { chunkSize: 4096 }, 9)
      const opened = yield* openLayer(fromBytes(second.blob), { tocDigest: second.tocDigest })
      expect(layerFacts(opened)).toEqual(yield* tarFacts(tar))
      const names = opened.toc.entries.map((e) => e.name)
      expect(names.filter((n) => n.endsWith("landmark"))).toEqual([".no.prefetch.landmark"])
      expect(names).not.toContain("stargz.index.json")
      // and the TOCs agree entry for entry, except where compressed offsets live
      const strip = (es: ReadonlyArray<Record<string, unknown>>) => es.map(({ offset: _o, ...rest }) => rest)
      const firstToc = (yield* openLayer(fromBytes(first.blob), { tocDigest: first.tocDigest })).toc
      expect(strip(opened.toc.entries as never)).toEqual(strip(firstToc.entries as never))
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a lazy read costs one request of just the file's chunks", () =>
    Effect.gen(function* () {
      const c = yield* convertInMemory(tarOf("", 4096), { chunkSize: 4096 }, 6)
      const opened = yield* openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest })
      const node = opened.index.lookup("foo/big")!
      const { bytes, cost } = yield* readFileWithCost(opened, "foo/big")
      expect(bytes.length).toBe(node.entry.size)
      expect(cost.reads).toBe(1)
      const first = node.chunks[0]!
      const last = node.chunks[node.chunks.length - 1]!
      expect(cost.bytesFetched).toBe(last.compressedEnd - first.offset)
      const part = yield* readFileWithCost(opened, "foo/big", { offset: 4096 + 10, length: 20 })
      expect(part.cost.bytesFetched).toBe(node.chunks[1]!.compressedEnd - node.chunks[1]!.offset)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("an external TOC given for a layer that has its own is refused (BadOption)", () =>
    Effect.gen(function* () {
      const c = yield* convertInMemory(tarOf("", 4096), {}, 1)
      const ext = yield* convertInMemory(tarOf("", 4096), { externalToc: true }, 1)
      const r = yield* Effect.result(openLayer(fromBytes(c.blob), { externalToc: ext.externalToc! }))
      expect(r._tag === "Failure" && r.failure.reason).toBe("BadOption")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("bad options are typed errors", () =>
    Effect.gen(function* () {
      const tar = tarOf("", 4096)
      for (const options of [
        { keepDiffId: true },
        { keepDiffId: true, externalToc: true, prioritizedFiles: ["foo/small"] },
        { minChunkSize: -1 },
        { prioritizedFiles: ["nope"], strictPrioritized: true },
      ]) {
        const r = yield* Effect.result(convertInMemory(tar, options as never, 1))
        expect(r._tag).toBe("Failure")
        if (r._tag === "Failure") expect(r.failure).toBeInstanceOf(LayerError)
      }
    }).pipe(Effect.provide(layer)),
  )

  it.effect("not a tar: a typed BadInput error naming the offset", () =>
    Effect.gen(function* () {
      const junk = new Uint8Array(2048).map((_, i) => (i * 31 + 7) & 0xff)
      const r = yield* Effect.result(convertInMemory(junk, {}, 1))
      expect(r._tag === "Failure" && r.failure.reason).toBe("BadInput")
      expect(r._tag === "Failure" && r.failure.offset).toBe(0)
    }).pipe(Effect.provide(layer)),
  )
})

describe("prioritize", () => {
  const entries = [
    { clean: "", isHardlink: false, linkClean: "" },
    { clean: "etc", isHardlink: false, linkClean: "" },
    { clean: "etc/a", isHardlink: false, linkClean: "" },
    { clean: "bin", isHardlink: false, linkClean: "" },
    { clean: "bin/tool", isHardlink: false, linkClean: "" },
    { clean: "bin/link", isHardlink: true, linkClean: "bin/tool" },
    { clean: "x/y/implicit", isHardlink: false, linkClean: "" },
  ]
  it("moves parents first, hardlink targets before links, root with the first file, any spelling", () => {
    expect(prioritize(entries, ["/bin/link", "./etc/a", "../bin/tool"])).toEqual({
      moved: [0, 3, 4, 5, 1, 2],
      missed: [],
    })
  })
  it("files under implicit parents are prioritized; missing paths are reported", () => {
    expect(prioritize(entries, ["x/y/implicit", "nope", "etc/nope"])).toEqual({
      moved: [0, 6],
      missed: ["nope", "etc/nope"],
    })
  })
})

describe("parseRecordFile", () => {
  it("reads ctr-remote NDJSON records and plain lists, keeping first-access order without duplicates", () => {
    const text = [
      '{"path":"usr/bin/bash","manifestDigest":"sha256:aa","layerIndex":0}',
      '{"path":"etc/hosts","manifestDigest":"sha256:aa","layerIndex":0}',
      '{"path":"usr/bin/bash","manifestDigest":"sha256:aa","layerIndex":0}',
      "",
      "# a comment",
      "lib/x.so",
    ].join("\n")
    expect(parseRecordFile(text)).toEqual(["usr/bin/bash", "etc/hosts", "lib/x.so"])
  })
  it("rejects broken JSON lines and records without a path", () => {
    expect(parseRecordFile('{"path": 1}')).toBeInstanceOf(LayerError)
    expect(parseRecordFile("{not json")).toBeInstanceOf(LayerError)
  })
})
