// The portable packages under Deno, from their built output (dist/*.js), resolved through the root
// node_modules: tar, toc, engine-portable (fflate + @noble/hashes) and the gzip eStargz writer/reader/verifier.
// No network: no jsr:/https: imports; plain assertions.
import { Effect, Layer } from "effect"
import { Decompressors, GzipEngine, layerScratchMemory, type Scratch, Sha256 } from "@lazypull/codec"
import { PortableEngine } from "@lazypull/engine-portable"
import {
  buildLayer,
  type BuildOptions,
  type BuildResult,
  layerFacts,
  makeCompressor,
  makeDecompressor,
  openLayer,
  readFile,
  verifyLayer,
} from "@lazypull/estargz"
import { fromBytes } from "@lazypull/range"
import { listTar, writeTar } from "@lazypull/tar"
import { parseToc, serializeToc, type Toc, TocIndex } from "@lazypull/toc"

// ---------------------------------------------------------------------------------------------------------------
// helpers

const assert = (cond: unknown, message: string): void => {
  if (!cond) throw new Error(`assertion failed: ${message}`)
}

const assertEq = <T>(actual: T, expected: T, message: string): void => {
  if (!Object.is(actual, expected))
    throw new Error(`${message}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`)
}

const assertBytes = (actual: Uint8Array, expected: Uint8Array, message: string): void => {
  if (actual.length !== expected.length)
    throw new Error(`${message}: length ${actual.length}, want ${expected.length}`)
  for (let i = 0; i < actual.length; i++)
    if (actual[i] !== expected[i])
      throw new Error(`${message}: byte ${i} is ${actual[i]}, want ${expected[i]}`)
}

/** Structural equality of JSON-like values, ignoring object key order. */
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every(
    (k) =>
      Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  )
}

const utf8 = (s: string) => new TextEncoder().encode(s)

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Deterministic bytes, half noise and half text-like runs, so that gzip has something to do. */
const sampleBytes = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = (i >> 8) % 2 === 0 ? x & 0xff : 0x61 + (x % 4)
  }
  return out
}

const hex = (b: ArrayBuffer | Uint8Array) =>
  Array.from(b instanceof Uint8Array ? b : new Uint8Array(b), (v) => v.toString(16).padStart(2, "0")).join("")

/** sha256 by WebCrypto: an independent check of the portable hasher and of the layer digests. */
const webSha256 = async (data: Uint8Array) =>
  `sha256:${hex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>))}`

/** Runs bytes through a Web CompressionStream / DecompressionStream ("gzip"). */
const webStream = async (data: Uint8Array, t: CompressionStream | DecompressionStream) => {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(t)
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

const decompressors = Layer.effect(
  Decompressors,
  Effect.map(makeDecompressor(), (d) => [d]),
).pipe(Layer.provide(PortableEngine.layer))

/** The whole portable stack: fflate gzip, @noble sha256, scratch in memory, the eStargz decompressor. */
const portable = Layer.mergeAll(PortableEngine.layer, layerScratchMemory, decompressors)

type Portable = GzipEngine | Sha256 | Scratch | Decompressors

const run = <A, E>(effect: Effect.Effect<A, E, Portable>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, portable))

/** Runs an effect that must fail and returns its error. */
const runFail = <A, E>(effect: Effect.Effect<A, E, Portable>): Promise<E> =>
  run(
    Effect.matchEffect(effect, {
      onFailure: Effect.succeed,
      onSuccess: () => Effect.die(new Error("expected a failure, got a success")),
    }),
  )

// ---------------------------------------------------------------------------------------------------------------
// tar

Deno.test("tar: writeTar ustar + pax (binary xattr) + gnu long name, listTar reads the same entries", async () => {
  const longName = `deep/${"d".repeat(60)}/${"n".repeat(80)}.txt`
  const xattr = new Uint8Array([0x00, 0xff, 0x80, 0x0a, 0xc3])
  const ustarData = utf8("hello ustar\n")
  const paxData = sampleBytes(700, 7)
  const gnuData = utf8("long name payload")
  const tar = concat([
    writeTar(
      [
        { entry: { name: "etc/", typeflag: "5", mode: 0o755, mtime: 1_700_000_000 } },
        {
          entry: {
            name: "etc/hostname",
            typeflag: "0",
            mode: 0o644,
            uid: 1000,
            gid: 100,
            mtime: 1_700_000_001,
          },
          data: ustarData,
        },
      ],
      { format: "ustar", endBlocks: false },
    ),
    writeTar(
      [
        {
          entry: { name: "bin/tool", typeflag: "0", mode: 0o755, xattrs: { "security.capability": xattr } },
          data: paxData,
        },
      ],
      { format: "pax", endBlocks: false },
    ),
    writeTar([{ entry: { name: longName, typeflag: "0", mode: 0o600, uname: "alice" }, data: gnuData }], {
      format: "gnu",
    }),
  ])
  assertEq(tar.length % 512, 0, "archive length is a multiple of 512")

  const entries = await run(listTar(tar))
  assertEq(entries.length, 4, "entry count")
  const [dir, ustar, pax, gnu] = entries as [
    (typeof entries)[0],
    (typeof entries)[0],
    (typeof entries)[0],
    (typeof entries)[0],
  ]

  assertEq(dir.header.name, "etc/", "dir name")
  assertEq(dir.header.typeflag, "5", "dir typeflag")
  assertEq(dir.header.mode, 0o755, "dir mode")
  assertEq(dir.header.size, 0, "dir size")

  assertEq(ustar.header.name, "etc/hostname", "ustar name")
  assertEq(ustar.header.format, "ustar", "ustar format")
  assertEq(ustar.header.uid, 1000, "ustar uid")
  assertEq(ustar.header.gid, 100, "ustar gid")
  assertEq(ustar.header.mtime, 1_700_000_001, "ustar mtime")
  assertBytes(ustar.data, ustarData, "ustar data")

  assertEq(pax.header.name, "bin/tool", "pax name")
  assertEq(pax.header.format, "pax", "pax format")
  assertEq(pax.header.xattrs.size, 1, "pax xattr count")
  assertBytes(pax.header.xattrs.get("security.capability")!, xattr, "binary xattr value")
  assertBytes(pax.data, paxData, "pax data")

  assertEq(gnu.header.name, longName, "gnu long name")
  assertEq(gnu.header.format, "gnu", "gnu format")
  assertEq(gnu.header.uname, "alice", "gnu uname")
  assertEq(gnu.header.mode, 0o600, "gnu mode")
  assertBytes(gnu.data, gnuData, "gnu data")
})

Deno.test("tar: a corrupted header checksum fails with a TarError", async () => {
  const tar = writeTar([{ entry: { name: "a.txt", typeflag: "0" }, data: utf8("abc") }])
  const bad = tar.slice()
  bad[0] = 0x62 // name "b.txt": the stored checksum no longer matches
  const err = await runFail(listTar(bad))
  assertEq((err as { _tag: string })._tag, "TarError", "error tag")
})

// ---------------------------------------------------------------------------------------------------------------
// toc

const sampleToc: Toc = {
  version: 1,
  entries: [
    { name: "bin/", type: "dir", mode: 0o755, modtime: "2024-01-02T03:04:05Z" },
    {
      name: "bin/sh",
      type: "reg",
      size: 8192,
      mode: 0o755,
      uid: 1,
      userName: "daemon",
      offset: 100,
      digest: `sha256:${"a".repeat(64)}`,
      chunkSize: 4096,
      chunkDigest: `sha256:${"b".repeat(64)}`,
      xattrs: { "user.k": "AP8=" },
    },
    {
      name: "bin/sh",
      type: "chunk",
      offset: 900,
      chunkOffset: 4096,
      chunkDigest: `sha256:${"c".repeat(64)}`,
    },
    { name: "bin/bash", type: "hardlink", linkName: "bin/sh" },
    { name: "usr/lib/link", type: "symlink", linkName: "../../bin/sh" },
  ],
}

Deno.test("toc: serializeToc / parseToc round trip in both styles", async () => {
  for (const style of ["estargz", "compact"] as const) {
    const json = serializeToc(sampleToc, style)
    const parsed = await run(parseToc(json))
    assert(sameJson(parsed, sampleToc), `${style}: parsed TOC equals the input: ${JSON.stringify(parsed)}`)
    assertBytes(serializeToc(parsed, style), json, `${style}: re-serialised bytes`)
  }
  const text = new TextDecoder().decode(serializeToc(sampleToc, "estargz"))
  assert(text.startsWith('{\n\t"version": 1,\n\t"entries": ['), "estargz style is tab-indented like Go")
  assert(!text.endsWith("\n"), "no trailing newline")
})

Deno.test("toc: parseToc rejects a wrong version with a TocError", async () => {
  const err = await runFail(parseToc(utf8('{"version":2,"entries":[]}')))
  assertEq((err as { _tag: string })._tag, "TocError", "error tag")
})

Deno.test("toc: TocIndex.build resolves chunks, hardlinks and implicit parents", async () => {
  const index = await run(TocIndex.build(sampleToc, { dataEnd: 2000 }))
  const sh = index.lookup("./bin/sh")
  assert(sh !== undefined, "bin/sh found")
  assertEq(sh!.type, "reg", "bin/sh type")
  assertEq(sh!.chunks.length, 2, "bin/sh chunk count")
  assertEq(sh!.chunks[0]!.offset, 100, "first chunk offset")
  assertEq(sh!.chunks[0]!.compressedEnd, 900, "first chunk ends where the next begins")
  assertEq(sh!.chunks[1]!.chunkOffset, 4096, "second chunk file offset")
  assertEq(sh!.chunks[1]!.compressedEnd, 2000, "last chunk ends at dataEnd")
  assertEq(index.chunkForOffset(sh!, 5000)?.offset, 900, "chunk for file offset 5000")
  assertEq(sh!.linkCount, 2, "hardlink counted")
  const bash = index.lookup("bin/bash")
  assertEq(bash?.target?.name, "bin/sh", "hardlink target")
  const usr = index.lookup("usr")
  assert(usr?.implicit === true && usr.type === "dir", "usr is an implicit directory")
  assertEq(
    index
      .children("bin")
      ?.map((n) => n.name)
      .join(","),
    "bin/bash,bin/sh",
    "sorted children",
  )
  assertEq(index.lookup("nope"), undefined, "missing name")

  const err = await runFail(TocIndex.build(sampleToc, { dataEnd: 500 }))
  assertEq((err as { _tag: string; reason: string }).reason, "BadOffset", "chunk past dataEnd")
})

// ---------------------------------------------------------------------------------------------------------------
// engine-portable

Deno.test("engine-portable: gzip round trip, readable by the Web DecompressionStream", async () => {
  const data = sampleBytes(200_000, 42)
  const member = await run(GzipEngine.use((g) => g.compress(data, 6)))
  assertEq(member[0], 0x1f, "gzip magic 1")
  assertEq(member[1], 0x8b, "gzip magic 2")
  assert(member.length < data.length, "compresses")
  assertBytes(await run(GzipEngine.use((g) => g.decompress(member))), data, "fflate round trip")
  assertBytes(await webStream(member, new DecompressionStream("gzip")), data, "Web decoder reads it")
  const fromWeb = await webStream(data, new CompressionStream("gzip"))
  assertBytes(await run(GzipEngine.use((g) => g.decompress(fromWeb))), data, "reads a Web gzip stream")
})

Deno.test("engine-portable: multi-member decompress, streaming inflater, truncation", async () => {
  const parts = [utf8("first member\n"), new Uint8Array(0), sampleBytes(70_000, 3), utf8("last")]
  const members = await run(Effect.forEach(parts, (p, i) => GzipEngine.use((g) => g.compress(p, i % 10))))
  const stream = concat(members)
  const whole = concat(parts)
  assertBytes(await run(GzipEngine.use((g) => g.decompress(stream))), whole, "all members decoded")

  const streamed = await run(
    Effect.gen(function* () {
      const inflater = yield* GzipEngine.use((g) => g.inflater())
      const out: Array<Uint8Array> = []
      for (let at = 0; at < stream.length; at += 997)
        out.push(...(yield* inflater.push(stream.subarray(at, at + 997))))
      out.push(...(yield* inflater.end()))
      return concat(out)
    }),
  )
  assertBytes(streamed, whole, "streaming inflater in 997-byte pieces")

  const err = await runFail(GzipEngine.use((g) => g.decompress(stream.subarray(0, stream.length - 3))))
  assertEq((err as { _tag: string })._tag, "CodecError", "truncated stream error tag")
  assertEq((err as { reason: string }).reason, "Truncated", "truncated stream reason")

  const bomb = await runFail(GzipEngine.use((g) => g.decompress(stream, 1000)))
  assertEq((bomb as { _tag: string })._tag, "CodecError", "maxOutput is enforced")
})

Deno.test("engine-portable: sha256 of 'abc', '' and a large buffer match WebCrypto", async () => {
  const digest = (data: Uint8Array, pieces = 1) =>
    run(
      Effect.map(Sha256, (sha) => {
        const h = sha.make()
        const step = Math.ceil(data.length / pieces) || 1
        for (let at = 0; at < data.length; at += step) h.update(data.subarray(at, at + step))
        return `sha256:${h.hex()}`
      }),
    )
  assertEq(
    await digest(utf8("abc")),
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "sha256(abc)",
  )
  assertEq(
    await digest(new Uint8Array(0)),
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "sha256('')",
  )
  const big = sampleBytes(1_000_003, 9)
  assertEq(await digest(big, 7), await webSha256(big), "incremental sha256 of 1 MB equals WebCrypto")
})

// ---------------------------------------------------------------------------------------------------------------
// estargz

const bigFile = sampleBytes(3 * 4096 + 1234, 1234) // more than two 4 KiB chunks
const smallFile = utf8("#!/bin/sh\necho hi\n")
const layerTar = writeTar([
  { entry: { name: "app/", typeflag: "5", mode: 0o755, mtime: 1_700_000_000 } },
  { entry: { name: "app/big.bin", typeflag: "0", mode: 0o644, mtime: 1_700_000_000 }, data: bigFile },
  {
    entry: { name: "app/run.sh", typeflag: "0", mode: 0o755, uid: 1000, mtime: 1_700_000_000 },
    data: smallFile,
  },
  { entry: { name: "app/empty", typeflag: "0", mode: 0o644 }, data: new Uint8Array(0) },
  { entry: { name: "app/current", typeflag: "2", linkname: "big.bin" } },
])

interface Built {
  readonly blob: Uint8Array
  readonly result: BuildResult
}

const build = (options: BuildOptions) =>
  run(
    Effect.gen(function* () {
      const parts: Array<Uint8Array> = []
      const compressor = yield* makeCompressor({ level: 6 })
      const result = yield* buildLayer(
        fromBytes(layerTar),
        compressor,
        { chunkSize: 4096, ...options },
        {
          write: (b) => Effect.sync(() => void parts.push(b.slice())),
        },
      )
      return { blob: concat(parts), result } satisfies Built
    }),
  )

const open = (b: Built, blob = b.blob) =>
  openLayer(fromBytes(blob), {
    tocDigest: b.result.tocDigest,
    ...(b.result.externalToc ? { externalToc: b.result.externalToc.bytes } : {}),
  })

Deno.test("estargz: build, open by TOC digest, readFile, verifyLayer (fflate + @noble)", async () => {
  const b = await build({})
  const { result, blob } = b
  assertEq(result.blobSize, blob.length, "blobSize")
  assertEq(result.blobDigest, await webSha256(blob), "blobDigest")
  assertEq(result.annotations["containerd.io/snapshot/stargz/toc.digest"], result.tocDigest, "toc annotation")
  assertEq(
    result.annotations["io.containers.estargz.uncompressed-size"],
    String(result.uncompressedSize),
    "uncompressed-size annotation",
  )
  // the blob is a multi-member gzip stream (footer included) whose content is the tar stream behind the diffID
  const stream = await run(GzipEngine.use((g) => g.decompress(blob)))
  assertEq(result.uncompressedSize, stream.length, "uncompressed size")
  assertEq(result.diffId, await webSha256(stream), "diffId is the sha256 of the decompressed stream")
  const streamEntries = await run(listTar(stream))
  assertEq(streamEntries.at(-1)?.header.name, "stargz.index.json", "the TOC is the last tar entry")
  const bigEntry = streamEntries.find((e) => e.header.name === "app/big.bin")
  assertBytes(bigEntry?.data ?? new Uint8Array(0), bigFile, "big.bin in the decompressed stream")
  // each chunk is a standard gzip member of its own: the Web decoder reads one alone
  const second = await run(Effect.map(open(b), (l) => l.index.lookup("app/big.bin")!.chunks[1]!))
  const member = blob.subarray(second.offset, second.compressedEnd)
  assertBytes(
    await webStream(member, new DecompressionStream("gzip")),
    bigFile.subarray(4096, 8192),
    "second chunk's member decodes with the Web DecompressionStream",
  )

  const bigDigest = await webSha256(bigFile)
  const report = await run(
    Effect.gen(function* () {
      const layer = yield* open(b)
      assertEq(layer.tocDigest, result.tocDigest, "opened TOC digest")
      const big = layer.index.lookup("app/big.bin")
      assertEq(big?.chunks.length, 4, "big.bin is in 4 chunks of at most 4096 bytes")
      const names = layer.toc.entries.filter((e) => e.type !== "chunk").map((e) => e.name)
      for (const n of ["app/", "app/big.bin", "app/run.sh", "app/empty", "app/current"])
        assert(names.includes(n), `TOC has ${n}`)
      assertBytes(yield* readFile(layer, "app/big.bin"), bigFile, "readFile big.bin")
      assertBytes(yield* readFile(layer, "app/run.sh"), smallFile, "readFile run.sh")
      assertEq((yield* readFile(layer, "app/empty")).length, 0, "readFile empty")
      assertBytes(
        yield* readFile(layer, "app/big.bin", { offset: 4000, length: 5000 }),
        bigFile.subarray(4000, 9000),
        "ranged read across chunk boundaries",
      )
      const facts = layerFacts(layer)
      const bigFact = facts.find((f) => f.name === "app/big.bin")
      assertEq(bigFact?.sha256, bigDigest, "fact sha256 of big.bin")
      assertEq(facts.find((f) => f.name === "app/current")?.linkName, "big.bin", "symlink fact")
      return yield* verifyLayer(layer, { diffId: result.diffId, uncompressedSize: result.uncompressedSize })
    }),
  )
  assertEq(report.ok, true, "verify ok")
  assertEq(report.diffId, result.diffId, "verified diffId equals the build result's")
  assertEq(report.tocDigest, result.tocDigest, "verified TOC digest")
  assertEq(report.uncompressedSize, result.uncompressedSize, "verified uncompressed size")
  assertEq(report.tocEntries, result.tocEntries, "verified TOC entry count")
})

Deno.test("estargz: a flipped byte in a chunk makes verifyLayer fail with a LayerError", async () => {
  const b = await build({})
  const chunk = await run(Effect.map(open(b), (l) => l.index.lookup("app/big.bin")!.chunks[1]!))
  const blob = b.blob.slice()
  const at = chunk.offset + Math.floor((chunk.compressedEnd - chunk.offset) / 2)
  blob[at] = blob[at]! ^ 0x5a
  const err = await runFail(Effect.flatMap(open(b, blob), (l) => verifyLayer(l)))
  assertEq((err as { _tag: string })._tag, "LayerError", "verify error tag")
  const reason = (err as { reason: string }).reason
  assert(reason === "Corrupt" || reason === "ChunkDigestMismatch", `verify error reason ${reason}`)
  const readErr = await runFail(Effect.flatMap(open(b, blob), (l) => readFile(l, "app/big.bin")))
  assertEq((readErr as { _tag: string })._tag, "LayerError", "readFile error tag")

  const wrongToc = await runFail(openLayer(fromBytes(b.blob), { tocDigest: `sha256:${"0".repeat(64)}` }))
  assertEq((wrongToc as { _tag: string })._tag, "LayerError", "wrong TOC digest is refused")
  assertEq((wrongToc as { reason: string }).reason, "TocDigestMismatch", "wrong TOC digest reason")

  const wrongDiff = await runFail(
    Effect.flatMap(open(b), (l) => verifyLayer(l, { diffId: `sha256:${"1".repeat(64)}` })),
  )
  assertEq((wrongDiff as { reason: string }).reason, "StreamMismatch", "wrong expected diffID")
})

Deno.test("estargz: external TOC and keep-diff-id", async () => {
  const ext = await build({ externalToc: true })
  assert(ext.result.externalToc !== undefined, "external TOC blob returned")
  assertEq(
    ext.result.externalToc!.digest,
    await webSha256(ext.result.externalToc!.bytes),
    "external TOC digest",
  )
  assertEq(ext.result.blobSize, ext.blob.length, "external TOC: blobSize")
  const extReport = await run(
    Effect.gen(function* () {
      const layer = yield* open(ext)
      assertBytes(yield* readFile(layer, "app/big.bin"), bigFile, "external TOC: readFile")
      return yield* verifyLayer(layer)
    }),
  )
  assertEq(extReport.diffId, ext.result.diffId, "external TOC: diffId")
  const noToc = await runFail(openLayer(fromBytes(ext.blob), { tocDigest: ext.result.tocDigest }))
  assertEq((noToc as { _tag: string })._tag, "LayerError", "external-TOC layer without its TOC blob")

  const keep = await build({ externalToc: true, keepDiffId: true })
  assertEq(keep.result.diffId, await webSha256(layerTar), "keep-diff-id: diffID is the input tar's")
  const keepReport = await run(
    Effect.gen(function* () {
      const layer = yield* open(keep)
      assertBytes(yield* readFile(layer, "app/big.bin"), bigFile, "keep-diff-id: readFile")
      assertBytes(yield* readFile(layer, "app/run.sh"), smallFile, "keep-diff-id: readFile small")
      return yield* verifyLayer(layer, { diffId: keep.result.diffId })
    }),
  )
  assertEq(keepReport.diffId, keep.result.diffId, "keep-diff-id: verified diffId")

  const refused = await runFail(
    Effect.gen(function* () {
      const compressor = yield* makeCompressor({ level: 6 })
      return yield* buildLayer(
        fromBytes(layerTar),
        compressor,
        { keepDiffId: true },
        { write: () => Effect.void },
      )
    }),
  )
  assertEq((refused as { reason: string }).reason, "BadOption", "keep-diff-id without external TOC")
})
