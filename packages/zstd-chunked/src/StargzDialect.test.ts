import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { layerScratchMemory, type Sha256, ZstdEngine } from "@lazypull/codec"
import {
  assertBytesEqual,
  compressibleBytes,
  layerFormatSuite,
  randomBytes,
  type SuiteConverted,
} from "@lazypull/codec/testing"
import * as NodeEngine from "@lazypull/engine-node"
import { NodeZstd } from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import {
  type BuildOptions,
  buildLayer,
  layerFacts,
  openLayer,
  readFile,
  verifyLayer,
} from "@lazypull/estargz"
import { fromBytes } from "@lazypull/range"
import { END_OF_ARCHIVE, encodeHeader, paddingFor } from "@lazypull/tar"
import { describeWithTool, fixture, runInterop, tmpDir } from "@lazypull/testkit"
import {
  layerDecompressors,
  MANIFEST_CHECKSUM_ANNOTATION,
  MANIFEST_POSITION_ANNOTATION,
  makeCompressor,
  parseStargzFooter,
} from "./index.ts"

const engines = Layer.mergeAll(
  NodeEngine.layerGzip,
  NodeEngine.layerSha256,
  PortableEngine.layerZstd,
  layerScratchMemory,
)
const layer = Layer.merge(engines, layerDecompressors.pipe(Layer.provide(engines)))

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Converts a tar to a stargz-dialect zstd:chunked blob in memory. */
export const convertZstd = (tar: Uint8Array, options: BuildOptions, level = 3) =>
  Effect.gen(function* () {
    const parts: Array<Uint8Array> = []
    const compressor = yield* makeCompressor({ level })
    const r = yield* buildLayer(fromBytes(tar), compressor, options, {
      write: (b) => Effect.sync(() => void parts.push(b.slice())),
    })
    return { blob: concat(parts), result: r }
  })

const toSuite = (c: {
  blob: Uint8Array
  result: { tocDigest: string; diffId: string; uncompressedSize: number }
}) =>
  ({
    blob: c.blob,
    tocDigest: c.result.tocDigest,
    diffId: c.result.diffId,
    uncompressedSize: c.result.uncompressedSize,
  }) satisfies SuiteConverted

const open = (c: SuiteConverted) => openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest })

layerFormatSuite({
  name: "zstd:chunked (stargz dialect)",
  layer: layer as Layer.Layer<Sha256 | Layer.Success<typeof layer>>,
  supports: { externalToc: false, keepDiffId: false, minChunkSize: false },
  convert: (tar, options) => Effect.map(convertZstd(tar, options), toSuite),
  facts: (c) => Effect.map(open(c), layerFacts),
  tocEntries: (c) => Effect.map(open(c), (l) => l.toc.entries),
  readFile: (c, path, range) => Effect.flatMap(open(c), (l) => readFile(l, path, range ?? {})),
  verify: (c) => Effect.flatMap(open(c), (l) => verifyLayer(l)),
})

describe("zstd:chunked stargz dialect layout", () => {
  it.effect("footer, TOC frame and annotations agree with the blob (FORMATS §8.3)", () =>
    Effect.gen(function* () {
      const { blob, result } = yield* convertZstd(new Uint8Array(readFileSync(fixture("pax.tar"))), {})
      const f = parseStargzFooter(blob.subarray(blob.length - 48), blob.length)
      if (f === undefined || typeof f === "string") throw new Error(`footer: ${f}`)
      expect(result.annotations[MANIFEST_POSITION_ANNOTATION]).toBe(
        `${f.tocOffset}:${f.tocCompressedLen}:${f.tocUncompressedLen}:1`,
      )
      // skippable frame headers around the TOC and the footer
      expect([...blob.subarray(f.tocOffset - 8, f.tocOffset - 4)]).toEqual([0x50, 0x2a, 0x4d, 0x18])
      expect(f.tocOffset + f.tocCompressedLen).toBe(blob.length - 48)
      const { createHash } = yield* Effect.promise(() => import("node:crypto"))
      const checksum = createHash("sha256")
        .update(blob.subarray(f.tocOffset, f.tocOffset + f.tocCompressedLen))
        .digest("hex")
      expect(result.annotations[MANIFEST_CHECKSUM_ANNOTATION]).toBe(`sha256:${checksum}`)
      // the decompressed stream has no TOC entry and no end-of-archive blocks
      expect(result.uncompressedSize % 512).toBe(0)
    }).pipe(Effect.provide(layer)),
  )
})

const run = <A, E>(eff: Effect.Effect<A, E, any>) =>
  Effect.runPromise(Effect.provide(eff, layer) as Effect.Effect<A, E>)

describeWithTool(
  ["lazypull-interop", "zstd"],
  "zstd:chunked interop with the reference (estargz 0.12 zstdchunked)",
  () => {
    const dir = tmpDir()
    for (const name of [
      "ustar.tar",
      "pax.tar",
      "gnu.tar",
      "big.tar",
      "devices.tar",
      "whiteout.tar",
      "duplicates.tar",
      "pax.tar.gz",
      "big.tar.zst",
    ]) {
      it(`ours → reference reader: ${name}`, async () => {
        const { blob, result } = await run(convertZstd(new Uint8Array(readFileSync(fixture(name))), {}))
        const path = join(dir, `${name}.zstdchunked`)
        writeFileSync(path, blob)
        const v = await runInterop([
          "verify",
          "--zstdchunked",
          "--in",
          path,
          "--toc-digest",
          result.tocDigest,
          "--diff-id",
          result.diffId,
        ])
        expect(v.json?.error ?? null, v.stderr).toBe(null)
        expect(v.code).toBe(0)
        const src = await runInterop(["listtar", "--in", fixture(name)])
        expect(v.json.files).toEqual(src.json.files)
        expect(v.json.annotations).toEqual(result.annotations)
      })
      it(`reference → our reader: ${name}`, async () => {
        const path = join(dir, `${name}.ref.zstdchunked`)
        const b = await runInterop(["build", "--zstdchunked", "--in", fixture(name), "--out", path])
        expect(b.code, b.stdout).toBe(0)
        const report = await run(
          Effect.flatMap(
            openLayer(fromBytes(new Uint8Array(readFileSync(path))), { tocDigest: b.json.tocDigest }),
            (l) => verifyLayer(l, { diffId: b.json.diffID, uncompressedSize: b.json.uncompressedSize }),
          ),
        )
        const src = await runInterop(["listtar", "--in", fixture(name)])
        expect(report.files).toEqual(src.json.files)
        expect(report.format).toBe("zstd:chunked")
      })
    }
  },
)

/**
 * A tar of many files of every size class a layer has: empty, tiny (inline on the calling thread), small
 * (batched to workers), mid-size, and multi-chunk ones; compressible and random contents.
 */
const manyFilesTar = (): Uint8Array => {
  const parts: Array<Uint8Array> = []
  const sizes = [0, 1, 100, 700, 1500, 2047, 2048, 3000, 9000, 16_000, 40_000, 120_000, 300_000, 600_000]
  for (let i = 0; i < 140; i++) {
    const size = sizes[(i * 5) % sizes.length]! + (i % 13)
    const data = i % 3 === 0 ? randomBytes(size, i) : compressibleBytes(size, i)
    parts.push(
      encodeHeader({ name: `d${i % 9}/f${i}`, typeflag: "0", size, mode: 0o644, mtime: 1_600_000_000 }),
    )
    parts.push(data, paddingFor(size))
  }
  parts.push(END_OF_ARCHIVE)
  return concat(parts)
}

describe("zstd:chunked stargz dialect: the blob does not depend on how frames are compressed", () => {
  const base = Layer.mergeAll(NodeEngine.layerGzip, NodeEngine.layerSha256, layerScratchMemory)
  const tar = manyFilesTar()
  const options: BuildOptions = { chunkSize: 256 << 10 }
  /** Converts `tar` with one zstd engine, counting the sink's writes. */
  const convertWith = (zstd: Layer.Layer<ZstdEngine>) =>
    Effect.gen(function* () {
      const parts: Array<Uint8Array> = []
      const compressor = yield* makeCompressor({ level: 3 })
      const result = yield* buildLayer(fromBytes(tar), compressor, options, {
        write: (b) => Effect.sync(() => void parts.push(b.slice())),
      })
      return { blob: concat(parts), writes: parts.length, result }
    }).pipe(Effect.provide(Layer.merge(base, zstd)))
  const pool = (o: NodeZstd.NodeZstdOptions) => Layer.effect(ZstdEngine, NodeZstd.make(o))

  it.effect("same bytes with the portable engine, 1 worker + caller, 3 workers, everything inline", () =>
    Effect.gen(function* () {
      const reference = yield* convertWith(PortableEngine.layerZstd)
      for (const [shape, zstd] of [
        ["1 worker, the caller compresses too", pool({ workers: 1 })],
        ["3 workers, the caller never compresses", pool({ workers: 3, callerRuns: false })],
        ["2 workers, every frame on a worker", pool({ workers: 2, inlineBelow: 0 })],
        ["everything on the calling thread", pool({ workers: 1, inlineBelow: 64 << 20 })],
      ] as const) {
        const ours = yield* convertWith(zstd)
        assertBytesEqual(ours.blob, reference.blob, shape)
        expect(ours.result.blobDigest, shape).toBe(reference.result.blobDigest)
        expect(ours.result.tocDigest, shape).toBe(reference.result.tocDigest)
      }
      // hundreds of frames, yet the small ones reach the sink gathered into few writes
      expect(reference.result.tocEntries).toBeGreaterThan(160)
      expect(reference.writes).toBeLessThan(40)
    }),
  )
})

describe("zstd:chunked stargz dialect: reading the input", () => {
  it.effect("the builder reads a layer of big files about once (pass 1 reads headers, not payloads)", () =>
    Effect.gen(function* () {
      const parts: Array<Uint8Array> = []
      for (let i = 0; i < 3; i++) {
        const size = 8_000_000 + i * 1000
        parts.push(encodeHeader({ name: `big${i}`, typeflag: "0", size, mode: 0o644 }))
        parts.push(compressibleBytes(size, i), paddingFor(size))
      }
      parts.push(END_OF_ARCHIVE)
      const tar = concat(parts)
      const input = fromBytes(tar)
      const compressor = yield* makeCompressor({ level: 1 })
      const result = yield* buildLayer(input, compressor, {}, { write: () => Effect.void })
      expect(result.uncompressedSize).toBeGreaterThan(24_000_000)
      // (reading the whole tar for pass 1 made this twice the tar)
      expect(input.stats.bytes).toBeLessThan(tar.length * 1.3)
    }).pipe(Effect.provide(layer)),
  )
})
