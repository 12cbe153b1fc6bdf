import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import fc from "fast-check"
import { GzipEngine, LayerError, Sha256, ZstdEngine } from "@lazypull/codec"
import {
  content,
  layerFormatSuite,
  randomBytes,
  type SuiteConverted,
  tarFacts,
  variousFiles,
  walkZstdFrame,
} from "@lazypull/codec/testing"
import * as NodeEngine from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import { type OpenedLayer, openLayer, readFile } from "@lazypull/estargz"
import { fromBytes } from "@lazypull/range"
import { listTar, type TarEntryInput, writeTar } from "@lazypull/tar"
import { describeWithTool, fixture } from "@lazypull/testkit"
import type { TocEntry } from "@lazypull/toc"
import { Crc64 } from "./Crc64.ts"
import { GO_VECTORS } from "./GoVectors.test-utils.ts"
import {
  buildStorageLayer,
  layerAllDecompressors,
  openStorageLayer,
  readStorageFooter,
  STORAGE_FORMAT,
  STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
  STORAGE_MANIFEST_POSITION_ANNOTATION,
  STORAGE_TARSPLIT_POSITION_ANNOTATION,
  type StorageBuildOptions,
  type StorageLayout,
  storageLayerFacts,
  storageTail,
  verifyStorageLayer,
} from "./index.ts"

const engines = Layer.mergeAll(NodeEngine.layerGzip, NodeEngine.layerSha256, PortableEngine.layerZstd)
const layer = Layer.merge(engines, layerAllDecompressors.pipe(Layer.provide(engines)))
const run = <A, E>(eff: Effect.Effect<A, E, Layer.Success<typeof layer>>) =>
  Effect.runPromise(Effect.provide(eff, layer))

const enc = new TextEncoder()
const dec = new TextDecoder()
const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const concat = (parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
const read = (name: string) => new Uint8Array(readFileSync(fixture(name)))

/** Converts in memory. */
const convert = (tar: Uint8Array, options: StorageBuildOptions = {}) =>
  Effect.gen(function* () {
    const parts: Array<Uint8Array> = []
    const result = yield* buildStorageLayer(fromBytes(tar), options, {
      write: (b) => Effect.sync(() => void parts.push(b.slice())),
    })
    const blob = concat(parts)
    expect(blob.length).toBe(result.blobSize)
    expect(sha256(blob)).toBe(result.blobDigest)
    return { blob, result }
  })

const layoutOf = (blob: Uint8Array): StorageLayout => {
  const f = readStorageFooter(blob.subarray(blob.length - 72), blob.length)
  if (f === undefined || typeof f === "string") throw new Error(`footer: ${f}`)
  return f
}

/** The TOC JSON and tar-split NDJSON of a blob, decompressed with the zstd engine. */
const sectionsOf = (blob: Uint8Array) =>
  Effect.gen(function* () {
    const zstd = yield* ZstdEngine
    const f = layoutOf(blob)
    const toc = yield* zstd.decompress(
      blob.subarray(f.toc.offset, f.toc.offset + f.toc.compressedLen),
      1 << 28,
    )
    const ts = yield* zstd.decompress(
      blob.subarray(f.tarSplit.offset, f.tarSplit.offset + f.tarSplit.compressedLen),
      1 << 28,
    )
    return {
      layout: f,
      tocJson: toc,
      toc: JSON.parse(dec.decode(toc)) as { entries: Array<TocEntry> | null },
      tarSplit: dec.decode(ts),
    }
  })

/** Opens through the annotations and verifies everything. */
const verifyBlob = (blob: Uint8Array, annotations: Record<string, string>, diffId?: string) =>
  Effect.flatMap(openStorageLayer(fromBytes(blob), annotations), (l) =>
    verifyStorageLayer(l, { annotations, ...(diffId === undefined ? {} : { diffId }) }),
  )

/** The LayerError an effect fails with (a defect fails the test). */
const failure = <A, R>(eff: Effect.Effect<A, LayerError, R>) =>
  Effect.map(Effect.result(eff), (r) => {
    if (r._tag === "Success") throw new Error("expected a LayerError, it succeeded")
    expect(r.failure).toBeInstanceOf(LayerError)
    return r.failure
  })

/**
 * The tar rebuilt from a tar-split, written here from the tar-split format alone: segments verbatim, each file
 * line replaced by the content of the tar entry it stands for (checked against its size and CRC-64).
 */
const rebuildFromTarSplit = (ndjson: string, tar: Uint8Array) =>
  Effect.gen(function* () {
    const entries = yield* listTar(tar)
    const out: Array<Uint8Array> = []
    let next = 0
    const lines = ndjson.split("\n")
    expect(lines.pop()).toBe("")
    lines.forEach((line, position) => {
      const e = JSON.parse(line)
      expect(e.position).toBe(position)
      if (e.type === 2) out.push(Buffer.from(e.payload, "base64"))
      else {
        expect(e.type).toBe(1)
        const t = entries[next++]!
        expect(e.name ?? Buffer.from(e.name_raw, "base64").toString()).toBe(t.header.name)
        expect(e.size ?? 0).toBe(t.data.length)
        if (t.data.length === 0) expect(e.payload).toBeNull()
        else {
          const c = new Crc64()
          c.update(t.data)
          expect(e.payload).toBe(Buffer.from(c.sum()).toString("base64"))
          out.push(t.data)
        }
      }
    })
    expect(next).toBe(entries.length)
    return concat(out)
  })

/** Rebuilds the blob's TOC and tar-split (edited) around the same payload frames. */
const reseal = (
  blob: Uint8Array,
  edit: {
    toc?: (toc: { entries: Array<TocEntry>; tarSplitDigest?: string }) => void
    tarSplit?: (lines: Array<Record<string, unknown>>) => Array<Record<string, unknown>>
    keepTarSplitDigest?: boolean
  },
) =>
  Effect.gen(function* () {
    const zstd = yield* ZstdEngine
    const sha = yield* Sha256
    const s = yield* sectionsOf(blob)
    let lines = s.tarSplit
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    if (edit.tarSplit) lines = edit.tarSplit(lines)
    const ts = enc.encode(lines.map((l) => `${JSON.stringify(l)}\n`).join(""))
    const tsFrame = yield* zstd.compress(ts, 3)
    const toc = JSON.parse(dec.decode(s.tocJson))
    if (!edit.keepTarSplitDigest) toc.tarSplitDigest = sha256(tsFrame)
    edit.toc?.(toc)
    const json = enc.encode(JSON.stringify(toc))
    const tocFrame = yield* zstd.compress(json, 3)
    const tail = storageTail(sha, s.layout.dataEnd, tocFrame, json.length, tsFrame, ts.length)
    return {
      blob: concat([blob.subarray(0, s.layout.dataEnd), tail.bytes]),
      annotations: { ...tail.annotations },
    }
  })

const open = (c: SuiteConverted) => openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest })

layerFormatSuite({
  name: "zstd:chunked (containers/storage dialect)",
  layer: layer as Layer.Layer<Sha256 | Layer.Success<typeof layer>>,
  supports: {
    externalToc: false,
    keepDiffId: false,
    minChunkSize: false,
    landmarks: false,
    duplicatePaths: false,
  },
  // chunk sizes are content-defined: the suite's chunkSize does not apply
  convert: (tar) =>
    Effect.map(convert(tar), ({ blob, result }) => ({
      blob,
      tocDigest: result.tocDigest,
      diffId: result.diffId,
      uncompressedSize: result.uncompressedSize,
    })),
  facts: (c) => Effect.map(open(c), storageLayerFacts),
  tocEntries: (c) => Effect.map(open(c), (l) => l.toc.entries),
  readFile: (c, path, range) => Effect.flatMap(open(c), (l) => readFile(l, path, range ?? {})),
  verify: (c) => Effect.flatMap(open(c), (l) => verifyStorageLayer(l)),
  compressInput: (tar) => GzipEngine.use((g) => g.compress(tar, 6)),
})

const PLAIN = [
  "ustar.tar",
  "gnu.tar",
  "pax.tar",
  "whiteout.tar",
  "big.tar",
  "implicit-parent.tar",
  "devices.tar",
  "empty.tar",
  "no-eof.tar",
  "trailing-garbage.tar",
]
const COMPRESSED: ReadonlyArray<[string, string]> = [
  ["ustar.tar.gz", "ustar.tar"],
  ["pax.tar.gz", "pax.tar"],
  ["big.tar.gz", "big.tar"],
  ["pax.tar.zst", "pax.tar"],
  ["big.tar.zst", "big.tar"],
]

describeWithTool("zstd", "zstd -d of a containers/storage blob is the input tar", () => {
  const zstdCli = (blob: Uint8Array) => {
    const r = spawnSync("zstd", ["-d", "-c", "-q"], { input: blob, maxBuffer: 1 << 30 })
    expect(r.status, r.stderr?.toString()).toBe(0)
    return new Uint8Array(r.stdout)
  }
  for (const [input, source] of [...PLAIN.map((n) => [n, n] as const), ...COMPRESSED]) {
    it(`${input}: byte for byte, diffID kept, tar-split rebuilds it, everything verifies`, async () => {
      const tar = read(source)
      const { blob, result } = await run(convert(read(input)))
      expect(Buffer.from(zstdCli(blob)).equals(Buffer.from(tar))).toBe(true)
      expect(result.diffId).toBe(sha256(tar))
      expect(result.uncompressedSize).toBe(tar.length)
      const s = await run(sectionsOf(blob))
      const rebuilt = await run(rebuildFromTarSplit(s.tarSplit, tar))
      expect(Buffer.from(rebuilt).equals(Buffer.from(tar))).toBe(true)
      const report = await run(verifyBlob(blob, { ...result.annotations }, sha256(tar)))
      expect(report.format).toBe(STORAGE_FORMAT)
      expect(report.tarSplitEntries).toBe(result.tarSplitEntries)
      expect(report.files).toEqual(await run(tarFacts(tar)))
      if (input !== source) {
        // a compressed input gives the same blob as the plain tar
        const plain = await run(convert(tar))
        expect(Buffer.from(plain.blob).equals(Buffer.from(blob))).toBe(true)
      }
    })
  }
})

describe("containers/storage layout (FORMATS §8.2)", () => {
  it.effect("footer, skippable frames, annotations and digests agree with the blob", () =>
    Effect.gen(function* () {
      const { blob, result } = yield* convert(read("pax.tar"))
      const tail = blob.subarray(blob.length - 72)
      expect([...tail.subarray(0, 8)]).toEqual([0x50, 0x2a, 0x4d, 0x18, 64, 0, 0, 0])
      expect(dec.decode(tail.subarray(64))).toBe("GNUlInUx")
      const v = new DataView(tail.buffer, tail.byteOffset + 8, 64)
      const [tocOff, tocLen, tocU, type, tsOff, tsLen, tsU] = [0, 8, 16, 24, 32, 40, 48].map((o) =>
        Number(v.getBigUint64(o, true)),
      )
      expect(type).toBe(1)
      expect(tsOff).toBe(tocOff! + tocLen! + 8)
      expect(tsOff! + tsLen!).toBe(blob.length - 72)
      for (const [off, len] of [[tocOff!, tocLen!] as const, [tsOff!, tsLen!] as const]) {
        expect([...blob.subarray(off - 8, off - 4)]).toEqual([0x50, 0x2a, 0x4d, 0x18])
        expect(new DataView(blob.buffer, blob.byteOffset + off - 4, 4).getUint32(0, true)).toBe(len)
      }
      expect(result.annotations).toEqual({
        [STORAGE_MANIFEST_CHECKSUM_ANNOTATION]: sha256(blob.subarray(tocOff!, tocOff! + tocLen!)),
        [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${tocOff}:${tocLen}:${tocU}:1`,
        [STORAGE_TARSPLIT_POSITION_ANNOTATION]: `${tsOff}:${tsLen}:${tsU}`,
      })
      expect(result.tocDigest).toBe(result.annotations[STORAGE_MANIFEST_CHECKSUM_ANNOTATION])
      const s = yield* sectionsOf(blob)
      expect(s.tocJson.length).toBe(tocU)
      expect(enc.encode(s.tarSplit).length).toBe(tsU)
      expect((s.toc as { tarSplitDigest?: string }).tarSplitDigest).toBe(
        sha256(blob.subarray(tsOff!, tsOff! + tsLen!)),
      )
    }).pipe(Effect.provide(layer)),
  )

  it.effect("TOC: compact, every tar entry with its raw name, c/storage's keys and omissions", () =>
    Effect.gen(function* () {
      for (const name of ["pax.tar", "ustar.tar", "gnu.tar"]) {
        const tar = read(name)
        const { blob } = yield* convert(tar)
        const s = yield* sectionsOf(blob)
        const text = dec.decode(s.tocJson)
        expect(text.startsWith('{"version":1,"entries":[{"type":"')).toBe(true)
        // no whitespace outside strings
        expect(text.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/)
        expect(text).not.toMatch(/userName|groupName|innerOffset|landmark/)
        const entries = yield* listTar(tar)
        const main = s.toc.entries!.filter((e) => e.type !== "chunk")
        expect(main.map((e) => e.name)).toEqual(entries.map((e) => e.header.name))
        for (const [i, e] of main.entries()) {
          const data = entries[i]!.data
          if (e.type === "reg" && data.length === 0) {
            expect(e).not.toHaveProperty("digest")
            expect(e).not.toHaveProperty("offset")
            expect(e).not.toHaveProperty("endOffset")
          }
          if (data.length > 0) {
            expect(e.digest).toBe(sha256(data))
            expect(e.endOffset!).toBeGreaterThan(e.offset!)
          }
        }
      }
      const pax = yield* sectionsOf((yield* convert(read("pax.tar"))).blob)
      const byName = new Map(pax.toc.entries!.map((e) => [e.name, e]))
      expect(byName.get("data/fractional-mtime.txt")?.modtime).toBe("2024-01-02T03:04:05.6Z")
      expect(byName.get("data/epoch.txt")?.modtime).toBe("1970-01-01T00:00:00Z")
      expect(byName.get("bin/ping")?.xattrs?.["security.capability"]).toMatch(/^AQAAAoAE/)
    }).pipe(Effect.provide(layer)),
  )

  it.effect("an empty layer's TOC has entries null, as Go writes a nil slice", () =>
    Effect.gen(function* () {
      const { blob, result } = yield* convert(read("empty.tar"))
      const s = yield* sectionsOf(blob)
      expect(dec.decode(s.tocJson)).toMatch(
        /^\{"version":1,"entries":null,"tarSplitDigest":"sha256:[0-9a-f]{64}"\}$/,
      )
      const report = yield* verifyBlob(blob, { ...result.annotations })
      expect(report.files).toEqual([])
    }).pipe(Effect.provide(layer)),
  )

  it.effect(
    "payloads start frames: every offset is a frame start, each range inflates to exactly its bytes",
    () =>
      Effect.gen(function* () {
        const zstd = yield* ZstdEngine
        const tar = writeTar(
          [
            { entry: { name: "d/", typeflag: "5", mtime: 1 } },
            { entry: { name: "d/random", typeflag: "0", mtime: 1 }, data: randomBytes(600_000, 9) },
            { entry: { name: "d/small", typeflag: "0", mtime: 1 }, data: enc.encode("small") },
            {
              entry: { name: "d/holey", typeflag: "0", mtime: 1 },
              data: concat([randomBytes(3000, 1), new Uint8Array(9000), content(70000, 3)]),
            },
          ],
          { format: "pax" },
        )
        const { blob } = yield* convert(tar)
        const s = yield* sectionsOf(blob)
        const starts = new Set<number>()
        for (let at = 0; at < s.layout.dataEnd; ) {
          const f = walkZstdFrame(blob, at)
          if (typeof f === "string") throw new Error(`frame at ${at}: ${f}`)
          starts.add(at)
          at = f.end
        }
        const files = new Map((yield* listTar(tar)).map((e) => [e.header.name, e.data]))
        const entries = s.toc.entries!
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!
          if (e.offset === undefined) continue
          expect(starts.has(e.offset)).toBe(true)
          if (e.type === "reg") {
            expect(starts.has(e.endOffset!) || e.endOffset === s.layout.dataEnd).toBe(true)
            const data = files.get(e.name)!
            const whole = yield* zstd.decompress(blob.subarray(e.offset, e.endOffset), 1 << 24)
            expect(Buffer.from(whole).equals(Buffer.from(data))).toBe(true)
          }
          if (e.chunkDigest !== undefined) {
            // a chunk's range ends at the next chunk's offset, the last at the file's endOffset
            let k = i
            while (entries[k]!.type !== "reg") k--
            let end = entries[k]!.endOffset!
            const next = entries[i + 1]
            if (next?.type === "chunk") end = next.offset!
            const bytes = yield* zstd.decompress(blob.subarray(e.offset, end), 1 << 24)
            expect(bytes.length).toBe(e.chunkSize)
            expect(sha256(bytes)).toBe(e.chunkDigest)
          }
        }
      }).pipe(Effect.provide(layer)),
  )

  it.effect("chunks follow containers/storage's boundaries; chunk fields only on multi-chunk files", () =>
    Effect.gen(function* () {
      const items = GO_VECTORS.map(([name, make]) => ({ name, data: make() }))
      const tar = writeTar(
        items.map((it, i) => ({ entry: { name: `f${i}`, typeflag: "0", mtime: 1 }, data: it.data })),
        { format: "pax" },
      )
      const { blob } = yield* convert(tar)
      const entries = (yield* sectionsOf(blob)).toc.entries!
      for (const [i, [, , want]] of GO_VECTORS.entries()) {
        const mine = entries.filter((e) => e.name === `f${i}`)
        const data = items[i]!.data
        if (want.length === 1) {
          expect(mine).toHaveLength(1)
          for (const k of ["chunkSize", "chunkOffset", "chunkDigest", "chunkType"])
            expect(mine[0]).not.toHaveProperty(k)
          continue
        }
        expect(mine.map((e) => [e.chunkOffset ?? 0, e.chunkSize, e.chunkType === "zeros"])).toEqual(want)
        expect(mine[0]!.type).toBe("reg")
        expect(mine.slice(1).every((e) => e.type === "chunk" && e.endOffset === undefined)).toBe(true)
        for (const e of mine)
          expect(e.chunkDigest).toBe(
            sha256(data.subarray(e.chunkOffset ?? 0, (e.chunkOffset ?? 0) + e.chunkSize!)),
          )
      }
    }).pipe(Effect.provide(layer)),
  )

  it.effect("a 100000-byte zero run becomes a tiny zeros chunk; reads through it are exact", () =>
    Effect.gen(function* () {
      const zstd = yield* ZstdEngine
      const holey = concat([randomBytes(5000, 1), new Uint8Array(100_000), randomBytes(5000, 2)])
      const tar = writeTar(
        [
          { entry: { name: "holey", typeflag: "0", mtime: 1 }, data: holey },
          { entry: { name: "only-zeros", typeflag: "0", mtime: 1 }, data: new Uint8Array(100_000) },
          { entry: { name: "empty", typeflag: "0", mtime: 1 } },
        ],
        { format: "pax" },
      )
      const { blob, result } = yield* convert(tar)
      const entries = (yield* sectionsOf(blob)).toc.entries!
      const hole = entries.find((e) => e.chunkType === "zeros")!
      expect(hole).toMatchObject({
        type: "chunk",
        name: "holey",
        chunkOffset: 5000,
        chunkSize: 100_000,
        chunkDigest: sha256(new Uint8Array(100_000)),
      })
      const after = entries[entries.indexOf(hole) + 1]!
      expect(after).toMatchObject({ type: "chunk", chunkOffset: 105_000, chunkSize: 5000 })
      expect(after.offset! - hole.offset!).toBeLessThan(200)
      const zeros = yield* zstd.decompress(blob.subarray(hole.offset, after.offset), 1 << 20)
      expect(zeros.length === 100_000 && zeros.every((b) => b === 0)).toBe(true)
      // a file of zeros only is one chunk: no chunk fields at all
      const only = entries.find((e) => e.name === "only-zeros")!
      expect(only).not.toHaveProperty("chunkType")
      expect(only.digest).toBe(sha256(new Uint8Array(100_000)))
      const layer2 = yield* openStorageLayer(fromBytes(blob), { ...result.annotations })
      expect(Buffer.from(yield* readFile(layer2, "holey")).equals(Buffer.from(holey))).toBe(true)
      const mid = yield* readFile(layer2, "holey", { offset: 4990, length: 30 })
      expect([...mid]).toEqual([...holey.subarray(4990, 5020)])
      expect((yield* readFile(layer2, "empty")).length).toBe(0)
      yield* verifyStorageLayer(layer2, { diffId: sha256(tar) })
    }).pipe(Effect.provide(layer)),
  )

  it.effect("the blob does not depend on parallelism; levels and parallelism are checked", () =>
    Effect.gen(function* () {
      const tar = writeTar(
        Array.from({ length: 12 }, (_, i) => ({
          entry: { name: `f${i}`, typeflag: "0", mtime: 1 } as TarEntryInput,
          data: i % 3 === 0 ? randomBytes(150_000 + i, i) : content(40_000 * i, i),
        })),
      )
      const a = yield* convert(tar, { parallelism: 1 })
      for (const parallelism of [2, 16]) {
        const b = yield* convert(tar, { parallelism })
        expect(Buffer.from(b.blob).equals(Buffer.from(a.blob))).toBe(true)
      }
      const l10 = yield* convert(tar, { level: 10 })
      expect(l10.result.diffId).toBe(a.result.diffId)
      for (const bad of [
        { level: 0 },
        { level: 23 },
        { level: 2.5 },
        { parallelism: 0 },
        { parallelism: 65 },
      ]) {
        const e = yield* failure(convert(tar, bad))
        expect(e.reason).toBe("BadOption")
      }
    }).pipe(Effect.provide(layer)),
  )

  it.effect(
    "refuses what containers/storage refuses: duplicates, sparse files, global headers; typed errors for bad input",
    () =>
      Effect.gen(function* () {
        for (const [name, re] of [
          ["duplicates.tar", /duplicate path "etc\/config"/],
          ["unsupported-sparse.tar", /sparse/],
          ["unsupported-global-pax.tar", /global/],
        ] as const) {
          const e = yield* failure(convert(read(name)))
          expect(e.reason).toBe("Unsupported")
          expect(e.message).toMatch(re)
        }
        const pax = read("pax.tar")
        const truncated = yield* failure(convert(pax.subarray(0, 700)))
        expect(truncated.reason).toBe("BadInput")
        const gz = read("pax.tar.gz")
        const badGz = yield* failure(convert(gz.subarray(0, gz.length - 20)))
        expect(badGz.reason).toBe("BadInput")
      }).pipe(Effect.provide(layer)),
  )

  it.effect("a gzip input without a GzipEngine is Unsupported", () =>
    Effect.gen(function* () {
      const e = yield* failure(convert(read("pax.tar.gz")))
      expect([e.reason, e.message]).toEqual(["Unsupported", expect.stringMatching(/no GzipEngine/)])
      // plain and zstd inputs need none
      yield* convert(read("pax.tar"))
      yield* convert(read("pax.tar.zst"))
    }).pipe(Effect.provide(Layer.mergeAll(NodeEngine.layerSha256, PortableEngine.layerZstd))),
  )
})

describe("opening through annotations and footers", () => {
  const sample = () => convert(writeTar(variousFiles("", 4096, true), { format: "pax" }))

  it.effect("annotations: missing, malformed or outside the blob are typed errors", () =>
    Effect.gen(function* () {
      const { blob, result } = yield* sample()
      const a = { ...result.annotations }
      const [off, len, ulen] = a[STORAGE_MANIFEST_POSITION_ANNOTATION]!.split(":").map(Number) as [
        number,
        number,
        number,
      ]
      const size = blob.length
      const cases: Array<[Record<string, string>, LayerError["reason"], RegExp]> = [
        [
          { [STORAGE_MANIFEST_POSITION_ANNOTATION]: a[STORAGE_MANIFEST_POSITION_ANNOTATION]! },
          "BadOption",
          /manifest-checksum is missing/,
        ],
        [{ ...a, [STORAGE_MANIFEST_CHECKSUM_ANNOTATION]: "sha256:abc" }, "BadOption", /not sha256/],
        [
          { ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:${len}:${ulen}` },
          "BadOption",
          /offset:length/,
        ],
        [{ ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:${len}:${ulen}:2` }, "BadOption", /type 2/],
        [
          { ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: ` ${off}:${len}:${ulen}:1` },
          "BadOption",
          /offset:length/,
        ],
        [{ ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${size}:${len}:${ulen}:1` }, "BadToc", /outside/],
        [{ ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:${size}:${ulen}:1` }, "BadToc", /outside/],
        [{ ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `4:${len}:${ulen}:1` }, "BadToc", /outside/],
        [{ ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:0:${ulen}:1` }, "BadToc", /outside/],
        [
          { ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:${2 ** 60}:${ulen}:1` },
          "BadOption",
          /offset:length/,
        ],
        [
          { ...a, [STORAGE_TARSPLIT_POSITION_ANNOTATION]: `${size - 10}:100:5` },
          "BadToc",
          /tarsplit-position.*outside/,
        ],
        [
          { ...a, [STORAGE_MANIFEST_CHECKSUM_ANNOTATION]: sha256(enc.encode("x")) },
          "TocDigestMismatch",
          /compressed TOC/,
        ],
        [
          { ...a, [STORAGE_MANIFEST_POSITION_ANNOTATION]: `${off}:${len}:${ulen + 1}:1` },
          "BadFooter",
          /disagree/,
        ],
        [{ ...a, [STORAGE_TARSPLIT_POSITION_ANNOTATION]: "100:10:5" }, "BadFooter", /disagree/],
      ]
      for (const [ann, reason, re] of cases) {
        const e = yield* failure(openStorageLayer(fromBytes(blob), ann))
        expect([e.reason, e.message]).toEqual([reason, expect.stringMatching(re)])
      }
      // verifyStorageLayer checks given annotations against the opened layer
      const l = yield* openStorageLayer(fromBytes(blob), a)
      const e = yield* failure(
        verifyStorageLayer(l, {
          annotations: { ...a, [STORAGE_MANIFEST_CHECKSUM_ANNOTATION]: sha256(enc.encode("y")) },
        }),
      )
      expect(e.reason).toBe("TocDigestMismatch")
    }).pipe(Effect.provide(layer)),
  )

  it.effect("bad footers and magics are typed errors; the stargz dialect's magic is not taken for ours", () =>
    Effect.gen(function* () {
      const { blob, result } = yield* sample()
      const tocDigest = result.tocDigest
      const withFooter = (edit: (payload: Uint8Array, v: DataView) => void) => {
        const b = blob.slice()
        const p = b.subarray(b.length - 64)
        edit(p, new DataView(p.buffer, p.byteOffset, 64))
        return b
      }
      const cases: Array<[Uint8Array, LayerError["reason"], RegExp]> = [
        [withFooter((p) => p.set(enc.encode("GnUlInUx"), 56)), "BadFooter", /outside/],
        [withFooter((p) => p.set(enc.encode("GNUlInUX"), 56)), "BadFooter", /no footer/],
        [withFooter((_, v) => v.setBigUint64(24, 2n, true)), "BadFooter", /manifest type 2/],
        [
          withFooter((_, v) => v.setBigUint64(32, v.getBigUint64(32, true) + 1n, true)),
          "BadFooter",
          /tar-split at/,
        ],
        [
          withFooter((_, v) => v.setBigUint64(40, v.getBigUint64(40, true) - 1n, true)),
          "BadFooter",
          /tar-split ends/,
        ],
        [withFooter((_, v) => v.setBigUint64(0, 0n, true)), "BadFooter", /outside/],
        [withFooter((_, v) => v.setBigUint64(8, 1n << 60n, true)), "BadFooter", /2\^53/],
        [
          withFooter((_, v) => v.setBigUint64(16, v.getBigUint64(16, true) + 1n, true)),
          "BadToc",
          /inflates to/,
        ],
        [withFooter((_, v) => v.setBigUint64(16, 1n << 40n, true)), "TooLarge", /limit/],
      ]
      const skip = blob.slice()
      skip[skip.length - 68] = 63 // the footer's skippable frame length
      cases.push([skip, "BadFooter", /skippable/])
      for (const [b, reason, re] of cases) {
        const e = yield* failure(openLayer(fromBytes(b), { tocDigest }))
        expect([e.reason, e.message]).toEqual([reason, expect.stringMatching(re)])
      }
      // the footer is found without annotations, and agrees with them
      const opened = yield* openLayer(fromBytes(blob), { tocDigest })
      expect(opened.footer.format).toBe(STORAGE_FORMAT)
      expect(opened.footer.footerSize).toBe(72)
      const wrongDigest = yield* failure(openLayer(fromBytes(blob), { tocDigest: sha256(new Uint8Array(1)) }))
      expect(wrongDigest.reason).toBe("TocDigestMismatch")
    }).pipe(Effect.provide(layer)),
  )
})

describe("TOC and tar-split must agree (containers/storage's ensureTOCMatchesTarSplit)", () => {
  const tar = writeTar(
    [
      { entry: { name: "dir/", typeflag: "5", mode: 0o755, mtime: 1704164645 } },
      {
        entry: {
          name: "dir/a",
          typeflag: "0",
          mode: 0o644,
          mtime: 1704164645,
          xattrs: { "user.k": enc.encode("v") },
        },
        data: content(3000, 1),
      },
      { entry: { name: "dir/link", typeflag: "2", linkname: "a", mtime: 1704164645 } },
      {
        entry: { name: "dir/b", typeflag: "0", mode: 0o600, mtime: 1704164645 },
        data: randomBytes(200_000, 4),
      },
    ],
    { format: "pax" },
  )
  type Edit = Parameters<typeof reseal>[1]
  const flip = (b64: string, at: (n: number) => number) => {
    const raw = Buffer.from(b64, "base64")
    raw[at(raw.length)]! ^= 1
    return raw.toString("base64")
  }
  const flipFirst = (b64: string) => flip(b64, () => 0)
  const flipLast = (b64: string) => flip(b64, (n) => n - 1)
  /** Sets a field of the named TOC entry. */
  const set =
    <K extends keyof TocEntry>(name: string, key: K, value: TocEntry[K]) =>
    (toc: { entries: Array<TocEntry> }) => {
      toc.entries.find((e) => e.name === name && e.type !== "chunk")![key] = value
    }
  const entry = (name: string) => (toc: { entries: Array<TocEntry> }) =>
    toc.entries.find((e) => e.name === name && e.type !== "chunk")!
  const cases: Array<[string, Edit, LayerError["reason"], RegExp]> = [
    ["a mode", { toc: set("dir/a", "mode", 0o755) }, "StreamMismatch", /dir\/a.*mode 493 != 420/],
    ["a modtime", { toc: set("dir/", "modtime", "2024-01-02T03:04:06Z") }, "StreamMismatch", /modtime/],
    [
      "an unparsable time",
      { toc: set("dir/", "accesstime", "yesterday") },
      "StreamMismatch",
      /not an RFC 3339/,
    ],
    ["an xattr", { toc: set("dir/a", "xattrs", { "user.k": "dw==" }) }, "StreamMismatch", /xattrs/],
    ["a link target", { toc: set("dir/link", "linkName", "b") }, "StreamMismatch", /linkName/],
    ["a uid", { toc: set("dir/link", "uid", 5) }, "StreamMismatch", /uid 5 != 0/],
    [
      "a duplicate TOC name",
      { toc: (t) => void t.entries.push({ ...entry("dir/")(t) }) },
      "BadToc",
      /duplicate entries for "dir\/"/,
    ],
    [
      "two TOC names for one path",
      { toc: (t) => void t.entries.push({ ...entry("dir/")(t), name: "./dir" }) },
      "BadToc",
      /two entries for the path "dir"/,
    ],
    [
      "a stale tarSplitDigest",
      {
        tarSplit: (l) => l.map((e) => (e.name === "dir/a" ? { ...e, payload: "AAAAAAAAAAA=" } : e)),
        keepTarSplitDigest: true,
      },
      "TocDigestMismatch",
      /tar-split frame has digest/,
    ],
    ["no tarSplitDigest", { toc: (t) => void delete t.tarSplitDigest }, "BadToc", /no tarSplitDigest/],
    [
      "a wrong CRC-64",
      { tarSplit: (l) => l.map((e) => (e.name === "dir/a" ? { ...e, payload: "AAAAAAAAAAA=" } : e)) },
      "StreamMismatch",
      /CRC-64/,
    ],
    [
      "a file line for another name",
      { tarSplit: (l) => l.map((e) => (e.name === "dir/a" ? { ...e, name: "dir/b" } : e)) },
      "StreamMismatch",
      /does not follow its header/,
    ],
    [
      "a file line with another size",
      { tarSplit: (l) => l.map((e) => (e.name === "dir/a" ? { ...e, size: 2999 } : e)) },
      "StreamMismatch",
      /size 2999/,
    ],
    [
      "changed padding bytes",
      // segment 4 starts with the 440 padding bytes after dir/a's 3000 bytes
      { tarSplit: (l) => l.map((e, i) => (i === 4 ? { ...e, payload: flipFirst(String(e.payload)) } : e)) },
      "StreamMismatch",
      /rebuilt from the tar-split .* the blob decompresses to/,
    ],
    [
      "a corrupted end-of-archive block",
      {
        tarSplit: (l) =>
          l.map((e, i) => (i === l.length - 1 ? { ...e, payload: flipLast(String(e.payload)) } : e)),
      },
      "StreamMismatch",
      /does not start with a tar header .*: a lone zero block/,
    ],
    [
      "a wrong position",
      { tarSplit: (l) => l.map((e, i) => (i === 2 ? { ...e, position: 7 } : e)) },
      "BadToc",
      /position 7, expected 2/,
    ],
    [
      "a missing header segment",
      { tarSplit: (l) => l.filter((_, i) => i !== 0).map((e, i) => ({ ...e, position: i })) },
      "StreamMismatch",
      /file "dir\/" does not follow its header/,
    ],
  ]
  for (const [what, edit, reason, re] of cases) {
    it.effect(`${what} is a ${reason}`, () =>
      Effect.gen(function* () {
        const { blob, result } = yield* convert(tar)
        // untouched, the resealed blob verifies (the edit alone makes it fail)
        const same = yield* reseal(blob, {})
        yield* verifyBlob(same.blob, same.annotations, result.diffId)
        const bad = yield* reseal(blob, edit)
        const e = yield* failure(verifyBlob(bad.blob, bad.annotations))
        expect([e.reason, e.message]).toEqual([reason, expect.stringMatching(re)])
      }).pipe(Effect.provide(layer)),
    )
  }
})

describe("properties", () => {
  const arbTar = fc
    .record({
      format: fc.constantFrom("ustar" as const, "pax" as const, "gnu" as const),
      files: fc.uniqueArray(
        fc.record({
          name: fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8}){0,2}$/),
          kind: fc.constantFrom("reg", "reg", "reg", "dir", "symlink", "fifo"),
          parts: fc.array(
            fc.oneof(
              fc.record({ zeros: fc.integer({ min: 1, max: 5000 }) }),
              fc.record({ random: fc.integer({ min: 1, max: 90_000 }), seed: fc.nat() }),
            ),
            { maxLength: 3 },
          ),
          mtime: fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), fc.constant(1704164645.5)),
        }),
        { selector: (f) => f.name, maxLength: 8 },
      ),
      trailer: fc.constantFrom(0, 1024, 1500),
    })
    .map(({ format, files, trailer }) => {
      // a name that is another's parent must be a directory
      const parents = new Set(
        files.flatMap((f) =>
          f.name
            .split("/")
            .slice(0, -1)
            .map((_, i, a) => a.slice(0, i + 1).join("/")),
        ),
      )
      const items = files
        .filter((f) => !parents.has(f.name))
        .map((f) => {
          const data = concat(
            f.parts.map((p) => ("zeros" in p ? new Uint8Array(p.zeros) : randomBytes(p.random, p.seed))),
          )
          const mtime = format === "pax" ? f.mtime : Math.floor(f.mtime)
          return f.kind === "reg"
            ? { entry: { name: f.name, typeflag: "0", mode: 0o644, mtime }, data }
            : f.kind === "dir"
              ? { entry: { name: `${f.name}/`, typeflag: "5", mode: 0o755, mtime } }
              : f.kind === "symlink"
                ? { entry: { name: f.name, typeflag: "2", linkname: "t", mtime } }
                : { entry: { name: f.name, typeflag: "6", mtime } }
        })
      const t = writeTar(items, { format })
      return trailer === 0 ? t : concat([t, new Uint8Array(trailer).fill(trailer === 1500 ? 7 : 0)])
    })

  it.effect("random tars round-trip: byte-identical stream, verified, same facts", () =>
    Effect.gen(function* () {
      const zstd = yield* ZstdEngine
      for (const tar of fc.sample(arbTar, { numRuns: 25, seed: 7 })) {
        const { blob, result } = yield* convert(tar)
        const out = yield* zstd.decompress(blob, tar.length + 1)
        expect(Buffer.from(out).equals(Buffer.from(tar))).toBe(true)
        const report = yield* verifyBlob(blob, { ...result.annotations }, sha256(tar))
        expect(report.uncompressedSize).toBe(tar.length)
        expect(report.files).toEqual(yield* tarFacts(tar))
        const rebuilt = yield* rebuildFromTarSplit((yield* sectionsOf(blob)).tarSplit, tar)
        expect(Buffer.from(rebuilt).equals(Buffer.from(tar))).toBe(true)
      }
    }).pipe(Effect.provide(layer)),
  )

  it.effect("mutated blobs only ever give LayerErrors, and verified reads never return other bytes", () =>
    Effect.gen(function* () {
      const tar = writeTar(
        [
          ...variousFiles("", 4096, true),
          {
            entry: { name: "holey", typeflag: "0", mtime: 5 },
            data: concat([randomBytes(2000, 3), new Uint8Array(5000), randomBytes(150_000, 4)]),
          },
        ],
        { format: "pax" },
      )
      const { blob, result } = yield* convert(tar)
      const files = (yield* listTar(tar)).filter((e) => e.header.typeflag === "0")
      const layout = layoutOf(blob)
      const mutation = fc.oneof(
        fc.record({
          kind: fc.constant("flip" as const),
          at: fc.nat(blob.length - 1),
          mask: fc.integer({ min: 1, max: 255 }),
        }),
        fc.record({
          kind: fc.constant("flip" as const),
          at: fc.integer({ min: layout.dataEnd, max: blob.length - 1 }),
          mask: fc.integer({ min: 1, max: 255 }),
        }),
        fc.record({ kind: fc.constant("cut" as const), at: fc.nat(blob.length - 1), mask: fc.constant(0) }),
        fc.record({
          kind: fc.constant("insert" as const),
          at: fc.nat(blob.length),
          mask: fc.integer({ min: 0, max: 255 }),
        }),
      )
      const mutate = (m: { kind: "flip" | "cut" | "insert"; at: number; mask: number }) => {
        if (m.kind === "cut") return blob.subarray(0, m.at)
        if (m.kind === "insert")
          return concat([blob.subarray(0, m.at), new Uint8Array([m.mask]), blob.subarray(m.at)])
        const b = blob.slice()
        b[m.at]! ^= m.mask
        return b
      }
      const annotations = { ...result.annotations }
      for (const m of fc.sample(mutation, { numRuns: 120, seed: 11 })) {
        const b = mutate(m)
        const ways: Array<Effect.Effect<OpenedLayer, LayerError, Layer.Success<typeof layer>>> = [
          openStorageLayer(fromBytes(b), annotations),
          openLayer(fromBytes(b), { tocDigest: result.tocDigest }),
        ]
        for (const opened of ways) {
          const o = yield* Effect.result(opened)
          if (o._tag === "Failure") {
            expect(o.failure).toBeInstanceOf(LayerError)
            continue
          }
          for (const f of files) {
            const r = yield* Effect.result(readFile(o.success, f.header.name))
            if (r._tag === "Success") expect(Buffer.from(r.success).equals(Buffer.from(f.data))).toBe(true)
            else expect(r.failure).toBeInstanceOf(LayerError)
          }
          const v = yield* Effect.result(verifyStorageLayer(o.success, { annotations }))
          if (v._tag === "Success") expect(v.success.diffId).toBe(result.diffId)
          else expect(v.failure).toBeInstanceOf(LayerError)
        }
      }
    }).pipe(Effect.provide(layer)),
  )
})
