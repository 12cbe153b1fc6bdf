import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import {
  type Decompressor,
  Decompressors,
  GzipEngine,
  type LayerError,
  layerScratchMemory,
} from "@lazypull/codec"
import { NodeEngine, NodeGzip } from "@lazypull/engine-node"
import { fromBytes, RangeReadError, type RangeReader } from "@lazypull/range"
import { writeTar } from "@lazypull/tar"
import {
  concat,
  craft,
  gz,
  layerError,
  legacyFooter,
  nodeLayer,
  type RawEntry,
  sha256,
  tarOf,
  utf8,
} from "./Craft.test-utils.ts"
import { convertInMemory } from "./InMemory.test-utils.ts"
import {
  layerFacts,
  makeDecompressor,
  makeExternalFooter,
  makeFooter,
  openLayer,
  type OpenOptions,
  readFile,
  verifyLayer,
} from "./index.ts"

const run = <A, E>(eff: Effect.Effect<A, E, any>) =>
  eff.pipe(Effect.provide(nodeLayer)) as Effect.Effect<A, E>

const open = (blob: Uint8Array, options: OpenOptions = {}) => openLayer(fromBytes(blob, "blob.tgz"), options)
const openError = (blob: Uint8Array, options: OpenOptions = {}) => layerError(open(blob, options))

const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Checks that an error names its place: the offset and/or the entry appear in the message. */
const namesPlace = (e: LayerError, place: { offset?: number; entry?: string }) => {
  if (place.offset !== undefined) {
    expect(e.offset).toBe(place.offset)
    expect(e.message).toContain(String(place.offset))
  }
  if (place.entry !== undefined) {
    expect(e.entry).toBe(place.entry)
    expect(e.message).toContain(place.entry)
  }
}

/** An `editEntries` that sets `key` on the entry named `name`. */
const setOn =
  (name: string, key: string, value: unknown) =>
  (es: Array<RawEntry>): Array<RawEntry> => {
    const e = es.find((x) => x.name === name)
    if (e === undefined) throw new Error(`no entry ${name}`)
    e[key] = value
    return es
  }

const FILES = [
  { name: "etc/", type: "dir" as const },
  { name: "etc/hosts", data: "127.0.0.1 localhost\n" },
  { name: "etc/empty", data: "" },
  { name: "bin/tool", data: "#!/bin/sh\necho tool\n".repeat(7) },
]

describe("openLayer on blobs that are not eStargz", () => {
  it.effect("empty blob → BadFooter", () =>
    run(
      Effect.gen(function* () {
        const e = yield* openError(new Uint8Array(0))
        expect(e.reason).toBe("BadFooter")
        expect(e.offset).toBe(0)
        expect(e.message).toContain("blob.tgz")
      }),
    ),
  )

  it.effect("10-byte blob → BadFooter", () =>
    run(
      Effect.gen(function* () {
        const e = yield* openError(new Uint8Array(10).fill(0x1f))
        expect(e.reason).toBe("BadFooter")
        expect(e.message).toMatch(/shorter than 51|no footer/)
      }),
    ),
  )

  it.effect("random bytes and a plain tar.gz → BadFooter", () =>
    run(
      Effect.gen(function* () {
        let seed = 7
        for (const size of [46, 47, 51, 52, 100, 4096, 70000]) {
          const b = new Uint8Array(size)
          for (let i = 0; i < size; i++) {
            seed = (seed * 1103515245 + 12345) >>> 0
            b[i] = seed >>> 24
          }
          const e = yield* openError(b)
          expect(e.reason).toBe("BadFooter")
          expect(e.offset).toBe(Math.max(size - 51, 0))
        }
        const tgz = gz(writeTar([{ entry: { name: "a", typeflag: "0" }, data: utf8("hi") }]))
        expect((yield* openError(tgz)).reason).toBe("BadFooter")
      }),
    ),
  )

  it.effect("a blob truncated at every length → always a LayerError", () =>
    run(
      Effect.gen(function* () {
        const tar = writeTar([
          { entry: { name: "d/", typeflag: "5", mode: 0o755 } },
          { entry: { name: "d/a.txt", typeflag: "0", mode: 0o644 }, data: utf8("hello world, chunked\n") },
          { entry: { name: "d/link", typeflag: "2", linkname: "a.txt" } },
        ])
        const c = yield* convertInMemory(tar, { chunkSize: 8 })
        expect((yield* open(c.blob, { tocDigest: c.tocDigest })).toc.entries.length).toBeGreaterThan(3)
        const seen = new Set<string>()
        for (let n = 0; n < c.blob.length; n++) {
          for (const tailSize of [51, 64 << 10]) {
            const e = yield* openError(c.blob.subarray(0, n), { tocDigest: c.tocDigest, tailSize })
            seen.add(e.reason)
          }
          // a blob cut right after a member boundary, with its own footer re-appended: a truncated TOC
          const cut = concat([c.blob.subarray(0, n), makeFooter(c.blob.length - 51)])
          const r = yield* Effect.result(open(cut, { tocDigest: c.tocDigest }))
          if (r._tag === "Failure") seen.add(r.failure.reason)
        }
        expect(
          [...seen].every((r) => ["BadFooter", "BadToc", "TocDigestMismatch", "Truncated"].includes(r)),
        ).toBe(true)
      }),
    ),
  )
})

describe("openLayer: footers pointing at the wrong place", () => {
  const blobWithFooter = (tocOffset: (size: number) => number) => {
    const c = craft(FILES)
    const body = c.blob.subarray(0, c.blob.length - 51)
    return concat([body, makeFooter(tocOffset(c.blob.length))])
  }

  it.effect("footer pointing at offset 0 → BadFooter naming the footer's offset", () =>
    run(
      Effect.gen(function* () {
        const blob = blobWithFooter(() => 0)
        const e = yield* openError(blob)
        expect(e.reason).toBe("BadFooter")
        namesPlace(e, { offset: blob.length - 51 })
        expect(e.message).toContain("TOC offset 0")
      }),
    ),
  )

  it.effect("footer pointing at itself and past the end → BadFooter", () =>
    run(
      Effect.gen(function* () {
        for (const at of [(s: number) => s - 51, (s: number) => s, (s: number) => s + 1000, () => 2 ** 50]) {
          const blob = blobWithFooter(at)
          const e = yield* openError(blob)
          expect(e.reason).toBe("BadFooter")
          namesPlace(e, { offset: blob.length - 51 })
        }
      }),
    ),
  )

  it.effect("a recognisable footer with bad fields → BadFooter saying why (ERRATA 6)", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        for (const digits of [
          "+000000000000187",
          "-000000000000001",
          "0x00000000000187",
          "ffffffffffffffff",
        ]) {
          const f = makeFooter(0)
          f.set(utf8(digits), 16)
          const blob = concat([c.blob.subarray(0, c.blob.length - 51), f])
          const e = yield* openError(blob)
          expect(e.reason).toBe("BadFooter")
          namesPlace(e, { offset: blob.length - 51 })
          expect(e.message).toMatch(/16 hex digits|too large/)
        }
      }),
    ),
  )

  it.effect("footer pointing into the middle of a data member → BadToc at that offset", () =>
    run(
      Effect.gen(function* () {
        const blob = blobWithFooter(() => 5)
        const e = yield* openError(blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { offset: 5 })
      }),
    ),
  )
})

describe("openLayer: hostile TOC members", () => {
  it.effect("a TOC member that is not gzip → BadToc naming the TOC offset", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { tocMember: (tar) => tar })
        const e = yield* openError(c.blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { offset: c.tocOffset })
      }),
    ),
  )

  it.effect("a truncated TOC member → BadToc", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { tocMember: (tar) => gz(tar).subarray(0, 40) })
        const e = yield* openError(c.blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { offset: c.tocOffset })
      }),
    ),
  )

  it.effect(
    "a TOC tar whose first entry is not stargz.index.json → BadToc naming that entry (FORMATS §2.5)",
    () =>
      run(
        Effect.gen(function* () {
          const c = craft(FILES, {
            tocTar: (json) =>
              tarOf([
                { name: "other.json", data: utf8("{}") },
                { name: "stargz.index.json", data: json },
              ]),
          })
          const e = yield* openError(c.blob)
          expect(e.reason).toBe("BadToc")
          namesPlace(e, { offset: c.tocOffset, entry: "other.json" })
          const d = craft(FILES, { tocTar: (json) => tarOf([{ name: "./stargz.index.json", data: json }]) })
          const e2 = yield* openError(d.blob)
          expect(e2.reason).toBe("BadToc")
          namesPlace(e2, { entry: "./stargz.index.json" })
        }),
      ),
  )

  it.effect("a TOC tar with no entry, or without end-of-archive blocks", () =>
    run(
      Effect.gen(function* () {
        const empty = craft(FILES, { tocTar: () => new Uint8Array(1024) })
        expect((yield* openError(empty.blob)).reason).toBe("BadToc")
        // no end-of-archive blocks: accepted (FORMATS §12 #10: EOF at a header boundary)
        const noEnd = craft(FILES, {
          tocTar: (json) => tarOf([{ name: "stargz.index.json", data: json }], false),
        })
        const l = yield* open(noEnd.blob, { tocDigest: noEnd.tocDigest })
        expect(l.tocDigest).toBe(noEnd.tocDigest)
      }),
    ),
  )

  it.effect("invalid JSON, version 2, no entries array → BadToc", () =>
    run(
      Effect.gen(function* () {
        for (const json of [
          '{"version":1,"entries":[',
          "[]",
          '{"version":2,"entries":[]}',
          '{"version":1}x',
          "",
        ]) {
          const c = craft(FILES, { json: () => utf8(json) })
          const e = yield* openError(c.blob)
          expect(e.reason).toBe("BadToc")
          namesPlace(e, { offset: c.tocOffset })
        }
      }),
    ),
  )

  const editToc = (edit: (entries: Array<RawEntry>) => Array<RawEntry> | undefined) =>
    craft(FILES, { editEntries: edit })

  it.effect("an entry with a negative, fractional or huge offset → BadToc naming the entry", () =>
    run(
      Effect.gen(function* () {
        for (const offset of [-1, 1.5, 2 ** 60, "12"]) {
          const c = editToc(setOn("bin/tool", "offset", offset))
          const e = yield* openError(c.blob)
          expect(e.reason).toBe("BadToc")
          namesPlace(e, { offset: c.tocOffset, entry: "bin/tool" })
        }
      }),
    ),
  )

  it.effect("an offset at or past the TOC → BadToc naming the entry", () =>
    run(
      Effect.gen(function* () {
        const tocOffset = craft(FILES).tocOffset // data members do not depend on the TOC
        for (const delta of [0, 1, 10000]) {
          const fixed = craft(FILES, {
            editEntries: setOn("etc/hosts", "offset", tocOffset + delta),
          })
          expect(fixed.tocOffset).toBe(tocOffset)
          const e = yield* openError(fixed.blob)
          expect(e.reason).toBe("BadToc")
          namesPlace(e, { entry: "etc/hosts" })
          expect(e.message).toContain(String(fixed.tocOffset + delta))
        }
      }),
    ),
  )

  it.effect("a chunk entry without a preceding reg → BadToc naming it", () =>
    run(
      Effect.gen(function* () {
        const c = editToc((es) => [
          { name: "stray", type: "chunk", offset: 1, chunkOffset: 0, chunkDigest: sha256("x") },
          ...es,
        ])
        const e = yield* openError(c.blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { entry: "stray" })
        // a chunk after a directory
        const d = editToc((es) => {
          es.splice(1, 0, { name: "etc/", type: "chunk", offset: 1, chunkOffset: 0 })
          return es
        })
        expect((yield* openError(d.blob)).reason).toBe("BadToc")
      }),
    ),
  )

  it.effect("chunks that do not tile the file → BadToc", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, {
          chunkSize: 50,
          editEntries: (es) => {
            es.find((e) => e.type === "chunk")!.chunkOffset = 40
            return es
          },
        })
        const e = yield* openError(c.blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { entry: "bin/tool" })
      }),
    ),
  )

  it.effect("a hardlink to a missing target → BadToc naming the link", () =>
    run(
      Effect.gen(function* () {
        const c = craft([...FILES, { name: "bin/hl", type: "hardlink", linkName: "bin/missing" }])
        const e = yield* openError(c.blob)
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { offset: c.tocOffset, entry: "bin/hl" })
        expect(e.message).toContain("bin/missing")
      }),
    ),
  )

  it.effect("wrong tocDigest → TocDigestMismatch naming the TOC offset and both digests", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        const want = sha256("something else")
        const e = yield* openError(c.blob, { tocDigest: want })
        expect(e.reason).toBe("TocDigestMismatch")
        namesPlace(e, { offset: c.tocOffset })
        expect(e.message).toContain(want)
        expect(e.message).toContain(c.tocDigest)
        expect((yield* open(c.blob, { tocDigest: c.tocDigest })).tocDigest).toBe(c.tocDigest)
      }),
    ),
  )

  it.effect("trailing bytes after the JSON inside the tar entry (FORMATS §12 #6)", () =>
    run(
      Effect.gen(function* () {
        const plain = craft(FILES)
        const nl = craft(FILES, { json: (j) => concat([j, utf8("\n")]) })
        // the digest of the whole entry (what Go hashes for "\n")
        const whole = yield* open(nl.blob, { tocDigest: nl.tocDigest })
        expect(whole.tocDigest).toBe(nl.tocDigest)
        expect(text(whole.tocJson).endsWith("}\n")).toBe(true)
        // the digest of the JSON alone: retried without the trailing whitespace
        const trimmed = yield* open(nl.blob, { tocDigest: plain.tocDigest })
        expect(trimmed.tocDigest).toBe(plain.tocDigest)
        expect(trimmed.tocJson.length).toBe(plain.json.length)
        // without an expected digest: the whole entry is hashed
        expect((yield* open(nl.blob)).tocDigest).toBe(nl.tocDigest)
        // 5000 spaces and CRLF: either digest opens
        const spaces = craft(FILES, { json: (j) => concat([j, utf8(" ".repeat(5000) + "\r\n")]) })
        expect((yield* open(spaces.blob, { tocDigest: plain.tocDigest })).tocDigest).toBe(plain.tocDigest)
        expect((yield* open(spaces.blob, { tocDigest: spaces.tocDigest })).tocDigest).toBe(spaces.tocDigest)
        // trailing non-whitespace is an error whichever digest is expected
        const junk = craft(FILES, { json: (j) => concat([j, utf8("xyz")]) })
        for (const tocDigest of [plain.tocDigest, junk.tocDigest, undefined]) {
          const e = yield* openError(junk.blob, tocDigest === undefined ? {} : { tocDigest })
          expect(["BadToc", "TocDigestMismatch"]).toContain(e.reason)
          expect(e.offset).toBe(junk.tocOffset)
        }
        // a second JSON value after the first
        const two = craft(FILES, { json: (j) => concat([j, utf8("\n{}")]) })
        expect((yield* openError(two.blob, { tocDigest: plain.tocDigest })).reason).not.toBe(undefined)
      }),
    ),
  )

  it.effect("a TOC region larger than maxTocBytes → TooLarge before it is read", () =>
    run(
      Effect.gen(function* () {
        const many = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, data: `content ${i}` }))
        const c = craft(many)
        const reader = fromBytes(c.blob, "big")
        const e = yield* layerError(openLayer(reader, { maxTocBytes: 1000, tailSize: 51 }))
        expect(e.reason).toBe("TooLarge")
        namesPlace(e, { offset: c.tocOffset })
        expect(reader.stats.reads).toBe(1) // only the tail
        expect(reader.stats.bytes).toBe(51)
      }),
    ),
  )

  it.effect("a TOC whose JSON inflates past maxTocBytes → TooLarge", () =>
    run(
      Effect.gen(function* () {
        const many = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, data: `content ${i}` }))
        const c = craft(many)
        const region = c.blob.length - 51 - c.tocOffset
        const e = yield* openError(c.blob, { maxTocBytes: region + 100 })
        expect(e.reason).toBe("TooLarge")
        namesPlace(e, { offset: c.tocOffset })
        expect((yield* open(c.blob, { maxTocBytes: c.json.length })).toc.entries.length).toBe(300)
      }),
    ),
  )
})

/** GzipEngine on node:zlib that records the output bound of every `decompress` call. */
const spyingLayer = (bounds: Array<number | undefined>) => {
  const node = NodeGzip.make()
  const engine = Layer.succeed(
    GzipEngine,
    GzipEngine.of({
      ...node,
      decompress: (data, maxOutput) => {
        bounds.push(maxOutput)
        return node.decompress(data, maxOutput)
      },
    }),
  )
  const base = Layer.merge(engine, NodeEngine.layerSha256)
  return Layer.mergeAll(
    base,
    layerScratchMemory,
    Layer.effect(
      Decompressors,
      Effect.map(makeDecompressor(), (d) => [d]),
    ).pipe(Layer.provide(base)),
  )
}

describe("openLayer: decompression bomb in the TOC member", () => {
  it.effect("stops inflating at the maxTocBytes bound instead of inflating the whole member", () => {
    const bounds: Array<number | undefined> = []
    return Effect.gen(function* () {
      // 8 MiB of spaces inside the JSON: ~8 KiB compressed
      const c = craft(FILES, {
        json: (j) => concat([utf8('{"version":1,'), new Uint8Array(8 << 20).fill(0x20), j.subarray(1)]),
      })
      const region = c.blob.length - 51 - c.tocOffset
      expect(region).toBeLessThan(64 << 10)
      const maxTocBytes = 256 << 10
      const e = yield* layerError(open(c.blob, { maxTocBytes }))
      expect(e.reason).toBe("TooLarge")
      namesPlace(e, { offset: c.tocOffset })
      expect(bounds.length).toBeGreaterThan(0)
      for (const b of bounds) expect(b).toBeLessThanOrEqual(maxTocBytes + 4096)
      // with a sufficient limit the same blob opens
      const ok = yield* open(c.blob, { maxTocBytes: 16 << 20 })
      expect(ok.toc.entries.length).toBe(c.entries.length)
    }).pipe(Effect.provide(spyingLayer(bounds)))
  })

  it.effect("the bound applies to the default limit too", () => {
    const bounds: Array<number | undefined> = []
    return Effect.gen(function* () {
      const c = craft(FILES)
      yield* open(c.blob)
      for (const b of bounds) expect(b).toBeLessThanOrEqual((150 << 20) + 4096)
    }).pipe(Effect.provide(spyingLayer(bounds)))
  })
})

describe("openLayer: options, I/O failures and several decompressors", () => {
  it.effect("bad options → BadOption", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        for (const options of [
          { tailSize: -1 },
          { tailSize: 1.5 },
          { maxTocBytes: 0 },
          { maxTocBytes: Number.NaN },
        ])
          expect((yield* openError(c.blob, options)).reason).toBe("BadOption")
      }),
    ),
  )

  it.effect("a reader that fails → Io naming the offset", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        // a reader whose reads covering byte `at` fail
        const failing = (at: number): RangeReader => {
          const inner = fromBytes(c.blob, "flaky")
          return {
            ...inner,
            readAt: (offset, length) =>
              offset <= at && at < offset + length
                ? Effect.fail(
                    new RangeReadError({
                      reason: "Io",
                      source: "flaky",
                      offset,
                      length,
                      message: "connection reset",
                    }),
                  )
                : inner.readAt(offset, length),
          }
        }
        const e = yield* layerError(openLayer(failing(c.blob.length - 1)))
        expect(e.reason).toBe("Io")
        expect(e.message).toContain("connection reset")
        // the TOC is outside the tail, and its read fails
        const t = yield* layerError(openLayer(failing(c.tocOffset), { tailSize: 51 }))
        expect(t.reason).toBe("Io")
        namesPlace(t, { offset: c.tocOffset })
        // a chunk read fails
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const chunk = l.index.lookup("bin/tool")!.chunks[0]!
        const l2 = yield* openLayer(failing(chunk.offset), { tocDigest: c.tocDigest, tailSize: 51 })
        const r = yield* layerError(readFile(l2, "bin/tool"))
        expect(r.reason).toBe("Io")
        namesPlace(r, { offset: chunk.offset })
        expect(r.message).toContain("bin/tool")
      }),
    ),
  )

  it.effect("with several decompressors, the recognised footer's problem is reported with its reason", () => {
    const never: Decompressor = {
      name: "never",
      footerSize: 8,
      parseFooter: () => Effect.succeed(undefined),
      decodeToc: () => Effect.die(new Error("unreachable")),
      decompress: () => Effect.die(new Error("unreachable")),
      inflater: () => Effect.die(new Error("unreachable")),
    }
    const layer = Layer.mergeAll(
      NodeEngine.layer,
      layerScratchMemory,
      Layer.effect(
        Decompressors,
        Effect.map(makeDecompressor(), (d) => [never, d, d]),
      ).pipe(Layer.provide(NodeEngine.layer)),
    )
    return Effect.gen(function* () {
      const c = craft([...FILES, { name: "bin/hl", type: "hardlink", linkName: "bin/missing" }])
      const e = yield* openError(c.blob)
      expect(e.reason).toBe("BadToc")
      namesPlace(e, { offset: c.tocOffset, entry: "bin/hl" })
      expect(e.message).toContain("never: no footer")
      expect(e.message.match(/estargz: /g)?.length).toBe(2)
      const f = yield* openError(new Uint8Array(100))
      expect(f.reason).toBe("BadFooter")
      expect(f.format).toBe("never|estargz|estargz")
      // a good blob opens with the second decompressor
      expect((yield* open(craft(FILES).blob)).decompressor.name).toBe("estargz")
    }).pipe(Effect.provide(layer))
  })
})

describe("openLayer: external TOC", () => {
  const externalBlob = () => {
    const c = craft(FILES)
    const body = c.blob.subarray(0, c.tocOffset)
    return { c, blob: concat([body, makeExternalFooter()]) }
  }

  it.effect("an external-TOC footer with no TOC supplied → BadToc naming the external TOC", () =>
    run(
      Effect.gen(function* () {
        const { blob } = externalBlob()
        const e = yield* openError(blob)
        expect(e.reason).toBe("BadToc")
        expect(e.message).toMatch(/external/)
        expect(e.message).toContain("-esgztoc")
      }),
    ),
  )

  it.effect("an external TOC that is garbage, or has the wrong digest", () =>
    run(
      Effect.gen(function* () {
        const { c, blob } = externalBlob()
        const tocTar = tarOf([{ name: "stargz.index.json", data: c.json }])
        const good = yield* open(blob, { externalToc: gz(tocTar), tocDigest: c.tocDigest })
        expect(good.footer.external).toBe(true)
        expect(text(yield* readFile(good, "etc/hosts"))).toBe("127.0.0.1 localhost\n")
        // raw JSON is accepted too, also with leading whitespace
        expect((yield* open(blob, { externalToc: c.json })).tocDigest).toBe(c.tocDigest)
        const spaced = concat([utf8(" \n"), c.json])
        expect((yield* open(blob, { externalToc: spaced })).tocDigest).toBe(sha256(spaced))
        // a TOC blob that is gzip but not a TOC tar
        const notTar = yield* openError(blob, { externalToc: gz(utf8("hello")) })
        expect(notTar.reason).toBe("BadToc")
        expect(notTar.message).toContain("external TOC")
        expect((yield* openError(blob, { externalToc: utf8("not a toc") })).reason).toBe("BadToc")
        expect((yield* openError(blob, { externalToc: new Uint8Array(0) })).reason).toBe("BadToc")
        const e = yield* openError(blob, { externalToc: gz(tocTar), tocDigest: sha256("x") })
        expect(e.reason).toBe("TocDigestMismatch")
        // a decompression bomb as the external TOC
        const bomb = gz(tarOf([{ name: "stargz.index.json", data: new Uint8Array(4 << 20).fill(0x20) }]))
        expect((yield* openError(blob, { externalToc: bomb, maxTocBytes: 64 << 10 })).reason).toBe("TooLarge")
      }),
    ),
  )
})

describe("readFile and verifyLayer on damaged content", () => {
  it.effect("a chunk whose bytes differ from its chunkDigest → ChunkDigestMismatch naming the file", () =>
    run(
      Effect.gen(function* () {
        // the TOC describes "127.0.0.1 localhost\n", the member holds other bytes of the same length
        const orig = "127.0.0.1 localhost\n"
        const evil = "10.66.6.6 localhost\n"
        expect(evil.length).toBe(orig.length)
        const c = craft(
          FILES.map((f) => (f.name === "etc/hosts" ? { ...f, data: evil } : f)),
          {
            editEntries: (es) => {
              const e = es.find((x) => x.name === "etc/hosts")!
              e.digest = sha256(orig)
              e.chunkDigest = sha256(orig)
              return es
            },
          },
        )
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const offset = l.index.lookup("etc/hosts")!.chunks[0]!.offset
        const e = yield* layerError(readFile(l, "etc/hosts"))
        expect(e.reason).toBe("ChunkDigestMismatch")
        namesPlace(e, { offset, entry: "etc/hosts" })
        // the chunk check and the stream check run side by side: either may report it first
        const v = yield* layerError(verifyLayer(l))
        expect(["ChunkDigestMismatch", "StreamMismatch"]).toContain(v.reason)
        namesPlace(v, { entry: "etc/hosts" })
        // other files still read
        expect(text(yield* readFile(l, "bin/tool"))).toBe("#!/bin/sh\necho tool\n".repeat(7))
      }),
    ),
  )

  it.effect("a chunk member replaced by a different member of the same length", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { chunkSize: 30 })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const chunk = l.index.lookup("bin/tool")!.chunks[1]!
        const member = c.blob.subarray(chunk.offset, chunk.compressedEnd)
        const raw = gunzipSync(member)
        // flip letters in the chunk's data until the re-compressed member has the same length
        let replaced: Uint8Array | undefined
        for (let i = 0; i < 30 && replaced === undefined; i++) {
          const r = new Uint8Array(raw)
          r[i] = r[i] === 0x61 ? 0x62 : 0x61
          const m = gz(r)
          if (m.length === member.length) replaced = m
        }
        expect(replaced).toBeDefined()
        const blob = new Uint8Array(c.blob)
        blob.set(replaced!, chunk.offset)
        const l2 = yield* open(blob, { tocDigest: c.tocDigest })
        const e = yield* layerError(readFile(l2, "bin/tool", { offset: 30, length: 5 }))
        expect(e.reason).toBe("ChunkDigestMismatch")
        namesPlace(e, { offset: chunk.offset, entry: "bin/tool" })
        // the chunks before it still read
        expect(text(yield* readFile(l2, "bin/tool", { offset: 0, length: 30 }))).toBe(
          "#!/bin/sh\necho tool\n#!/bin/sh\n",
        )
        const v = yield* layerError(verifyLayer(l2))
        expect(["ChunkDigestMismatch", "StreamMismatch"]).toContain(v.reason)
        namesPlace(v, { entry: "bin/tool" })
      }),
    ),
  )

  it.effect("a corrupted deflate stream → Corrupt naming the file and offset", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const offset = l.index.lookup("bin/tool")!.chunks[0]!.offset
        const blob = new Uint8Array(c.blob)
        blob[offset + 10] = blob[offset + 10]! | 0x06 // BTYPE = 11 (reserved)
        const l2 = yield* open(blob, { tocDigest: c.tocDigest })
        const e = yield* layerError(readFile(l2, "bin/tool"))
        expect(e.reason).toBe("Corrupt")
        namesPlace(e, { offset, entry: "bin/tool" })
        // the chunk check names the file, the stream check the block it was inflating: either may come first
        const v = yield* layerError(verifyLayer(l2))
        expect(v.reason).toBe("Corrupt")
        expect(v.offset).toBeDefined()
        expect(v.message).toContain(`offset ${v.offset}`)
        // a bad CRC32 in the member trailer
        const crc = new Uint8Array(c.blob)
        const end = l.index.lookup("bin/tool")!.chunks[0]!.compressedEnd
        crc[end - 8] = crc[end - 8]! ^ 0xff
        const l3 = yield* open(crc, { tocDigest: c.tocDigest })
        const e3 = yield* layerError(readFile(l3, "bin/tool"))
        expect(e3.reason).toBe("Corrupt")
        namesPlace(e3, { offset, entry: "bin/tool" })
      }),
    ),
  )

  it.effect("a corrupted header-only member → verifyLayer fails with Corrupt naming the offset", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        const blob = new Uint8Array(c.blob)
        blob[10] = blob[10]! | 0x06 // member 0 holds only headers
        const l = yield* open(blob, { tocDigest: c.tocDigest })
        expect(text(yield* readFile(l, "etc/hosts"))).toBe("127.0.0.1 localhost\n")
        const v = yield* layerError(verifyLayer(l))
        expect(v.reason).toBe("Corrupt")
        expect(v.offset).toBe(0)
        expect(v.message).toMatch(/offset 0/)
      }),
    ),
  )

  it.effect("missing chunkDigest: single-chunk files fall back to digest, others fail naming the file", () =>
    run(
      Effect.gen(function* () {
        const single = craft(FILES, {
          editEntries: (es) => {
            for (const e of es) delete e.chunkDigest
            return es
          },
        })
        const l = yield* open(single.blob, { tocDigest: single.tocDigest })
        expect(text(yield* readFile(l, "etc/hosts"))).toBe("127.0.0.1 localhost\n")
        yield* verifyLayer(l, { diffId: single.diffId })
        // no chunkDigest and no digest
        const none = craft(FILES, {
          editEntries: (es) => {
            for (const e of es) {
              delete e.chunkDigest
              if (e.name === "etc/hosts") delete e.digest
            }
            return es
          },
        })
        const l2 = yield* open(none.blob, { tocDigest: none.tocDigest })
        const e = yield* layerError(readFile(l2, "etc/hosts"))
        expect(e.reason).toBe("BadToc")
        namesPlace(e, { entry: "etc/hosts" })
        expect(e.message).toContain("chunkDigest")
        // a multi-chunk file with one chunk lacking its chunkDigest
        const multi = craft(FILES, {
          chunkSize: 40,
          editEntries: (es) => {
            delete es.find((e) => e.type === "chunk")!.chunkDigest
            return es
          },
        })
        const l3 = yield* open(multi.blob, { tocDigest: multi.tocDigest })
        const e3 = yield* layerError(readFile(l3, "bin/tool"))
        expect(e3.reason).toBe("BadToc")
        namesPlace(e3, { entry: "bin/tool" })
        expect(text(yield* readFile(l3, "bin/tool", { offset: 0, length: 40 }))).toBe(
          "#!/bin/sh\necho tool\n".repeat(2),
        )
        expect((yield* layerError(verifyLayer(l3))).reason).toBe("BadToc")
      }),
    ),
  )

  it.effect("two files claiming the same member (overlapping offsets): the second fails its digest", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, {
          editEntries: (es) => {
            const hosts = es.find((e) => e.name === "etc/hosts")!
            const tool = es.find((e) => e.name === "bin/tool")!
            tool.offset = hosts.offset
            return es
          },
        })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        expect(text(yield* readFile(l, "etc/hosts"))).toBe("127.0.0.1 localhost\n")
        const e = yield* layerError(readFile(l, "bin/tool"))
        expect(e.reason).toBe("ChunkDigestMismatch")
        namesPlace(e, { entry: "bin/tool" })
        expect((yield* layerError(verifyLayer(l))).reason).toBe("ChunkDigestMismatch")
      }),
    ),
  )

  it.effect("an offset inside a member or on the header-only member → a LayerError naming the file", () =>
    run(
      Effect.gen(function* () {
        for (const move of [(o: number) => o + 3, () => 0, (o: number) => o - 1]) {
          const c = craft(FILES, {
            editEntries: (es) => {
              const tool = es.find((e) => e.name === "bin/tool")!
              tool.offset = move(tool.offset as number)
              return es
            },
          })
          const l = yield* open(c.blob, { tocDigest: c.tocDigest })
          const e = yield* layerError(readFile(l, "bin/tool"))
          expect(["Corrupt", "Truncated", "ChunkDigestMismatch"]).toContain(e.reason)
          namesPlace(e, { entry: "bin/tool" })
        }
      }),
    ),
  )

  it.effect("a TOC claiming a huge file → a LayerError, not a thrown RangeError", () =>
    run(
      Effect.gen(function* () {
        for (const size of [2 ** 40, 2 ** 31 + 7, 5_000_000]) {
          const c = craft(FILES, {
            editEntries: setOn("etc/hosts", "size", size),
          })
          const l = yield* open(c.blob, { tocDigest: c.tocDigest })
          const e = yield* layerError(readFile(l, "etc/hosts"))
          expect(["Truncated", "TooLarge", "ChunkDigestMismatch"]).toContain(e.reason)
          namesPlace(e, { entry: "etc/hosts" })
          expect((yield* layerError(readFile(l, "etc/hosts", { offset: 0, length: 4 }))).reason).not.toBe("")
          expect((yield* layerError(verifyLayer(l))).entry).toBe("etc/hosts")
        }
      }),
    ),
  )

  it.effect("a file of 200000 chunks in one member: a LayerError, not a stack overflow", () =>
    run(
      Effect.gen(function* () {
        const n = 200_000
        const data = new Uint8Array(n).fill(0x61)
        const c = craft([{ name: "big", data }], {
          editEntries: (es) => {
            const reg = es[0]!
            reg.chunkSize = 1
            reg.chunkDigest = sha256("b") // wrong: the first chunk fails at once
            const out: Array<RawEntry> = [reg]
            for (let i = 1; i < n; i++)
              out.push({
                name: "big",
                type: "chunk",
                offset: reg.offset,
                innerOffset: i,
                chunkOffset: i,
                chunkSize: 1,
              })
            return out
          },
        })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        expect(l.index.lookup("big")!.chunks.length).toBe(n)
        const e = yield* layerError(readFile(l, "big"))
        expect(e.reason).toBe("ChunkDigestMismatch")
        namesPlace(e, { entry: "big" })
      }),
    ),
  )

  it.effect("readFile rejects offsets and lengths that are not non-negative integers", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        for (const range of [
          { offset: 1.5 },
          { length: 2.5 },
          { offset: Number.NaN },
          { offset: -1 },
          { length: -3 },
        ]) {
          const e = yield* layerError(readFile(l, "etc/hosts", range))
          expect(e.reason).toBe("BadOption")
          namesPlace(e, { entry: "etc/hosts" })
        }
        // past EOF and zero length are fine
        expect((yield* readFile(l, "etc/hosts", { offset: 1000 })).length).toBe(0)
        expect((yield* readFile(l, "etc/hosts", { offset: 3, length: 0 })).length).toBe(0)
        expect(text(yield* readFile(l, "etc/hosts", { offset: 10, length: 1000 }))).toBe("localhost\n")
      }),
    ),
  )
})

describe("hostile names and lookups", () => {
  const HOSTILE = [
    { name: "../../etc/passwd", data: "root:x:0:0\n" },
    { name: "/abs", data: "absolute\n" },
    { name: "a/../../b", data: "bee\n" },
    { name: "./x/./y//z", data: "zed\n" },
  ]

  it.effect("names are normalised inside the root (FORMATS §3.6) and never escape", () =>
    run(
      Effect.gen(function* () {
        const c = craft(HOSTILE)
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const names = layerFacts(l).map((f) => f.name)
        expect(names).toEqual(["abs", "b", "etc/passwd", "x/y/z"])
        for (const n of l.index.nodes()) {
          expect(n.name.startsWith("/")).toBe(false)
          expect(n.name.split("/")).not.toContain("..")
        }
        for (const path of ["etc/passwd", "/etc/passwd", "../../etc/passwd", "../etc/../etc/passwd"])
          expect(text(yield* readFile(l, path))).toBe("root:x:0:0\n")
        expect(text(yield* readFile(l, "/abs"))).toBe("absolute\n")
        expect(text(yield* readFile(l, "../b"))).toBe("bee\n")
        expect(text(yield* readFile(l, "x/y/z"))).toBe("zed\n")
        expect(l.index.children("")!.map((n) => n.name)).toEqual(["abs", "b", "etc", "x"])
        expect(l.index.lookup("..")).toBe(l.index.root)
        // the full stream check compares raw tar names with raw TOC names
        yield* verifyLayer(l, { diffId: c.diffId, uncompressedSize: c.stream.length })
      }),
    ),
  )

  it.effect("readFile of a directory, a symlink or a missing path → NotFound naming the path", () =>
    run(
      Effect.gen(function* () {
        const c = craft([...FILES, { name: "etc/link", type: "symlink", linkName: "hosts" }])
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        for (const path of ["etc", "etc/", "", "/", "etc/link", "nope", "etc/hosts/x", "../../nope"]) {
          const e = yield* layerError(readFile(l, path))
          expect(e.reason).toBe("NotFound")
          namesPlace(e, { entry: path })
        }
        expect((yield* readFile(l, "etc/empty")).length).toBe(0)
      }),
    ),
  )

  it.effect("hardlinks read their target's content, also when the target comes later", () =>
    run(
      Effect.gen(function* () {
        const c = craft([
          { name: "hl", type: "hardlink", linkName: "./data/file" },
          { name: "data/file", data: "shared\n" },
        ])
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        expect(text(yield* readFile(l, "hl"))).toBe("shared\n")
        yield* verifyLayer(l, { diffId: c.diffId })
      }),
    ),
  )
})

describe("verifyLayer: the stream against the TOC", () => {
  it.effect("a well-formed crafted blob verifies with the right diffID and size", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { chunkSize: 16 })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const r = yield* verifyLayer(l, { diffId: c.diffId, uncompressedSize: c.stream.length })
        expect(r.diffId).toBe(c.diffId)
        expect(r.uncompressedSize).toBe(c.stream.length)
      }),
    ),
  )

  it.effect("the tar stream has an entry the TOC lacks → StreamMismatch naming it", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { editEntries: (es) => es.filter((e) => e.name !== "etc/empty") })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const e = yield* layerError(verifyLayer(l))
        expect(e.reason).toBe("StreamMismatch")
        namesPlace(e, { entry: "etc/empty" })
        // the last entry missing: the stream has one more entry than the TOC
        const d = craft(FILES, { editEntries: (es) => es.filter((x) => x.name !== "bin/tool") })
        const e2 = yield* layerError(verifyLayer(yield* open(d.blob)))
        expect(e2.reason).toBe("StreamMismatch")
        namesPlace(e2, { entry: "bin/tool" })
      }),
    ),
  )

  it.effect("the TOC has an entry the stream lacks → StreamMismatch naming it", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, {
          editEntries: (es) => [...es, { name: "ghost", type: "dir", mode: 0o755 }],
        })
        const e = yield* layerError(verifyLayer(yield* open(c.blob)))
        expect(e.reason).toBe("StreamMismatch")
        namesPlace(e, { entry: "ghost" })
      }),
    ),
  )

  it.effect("sizes differ between the TOC and the tar header → StreamMismatch naming the file", () =>
    run(
      Effect.gen(function* () {
        // the TOC claims two more bytes (the first two padding zeros), with matching digests, so only the
        // stream check can see it
        const data = utf8("127.0.0.1 localhost\n")
        const longer = concat([data, new Uint8Array(2)])
        const c = craft(FILES, {
          editEntries: (es) => {
            const e = es.find((x) => x.name === "etc/hosts")!
            e.size = longer.length
            e.digest = sha256(longer)
            e.chunkDigest = sha256(longer)
            return es
          },
        })
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        expect((yield* readFile(l, "etc/hosts")).length).toBe(longer.length)
        const e = yield* layerError(verifyLayer(l))
        expect(e.reason).toBe("StreamMismatch")
        namesPlace(e, { entry: "etc/hosts" })
        expect(e.message).toMatch(/size/)
      }),
    ),
  )

  it.effect("a type mismatch → StreamMismatch", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, {
          editEntries: setOn("etc/empty", "type", "fifo"),
        })
        const e = yield* layerError(verifyLayer(yield* open(c.blob)))
        expect(e.reason).toBe("StreamMismatch")
        namesPlace(e, { entry: "etc/empty" })
      }),
    ),
  )

  it.effect("diffID and uncompressed size expectations → StreamMismatch when wrong", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES)
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        const e = yield* layerError(verifyLayer(l, { diffId: sha256("other") }))
        expect(e.reason).toBe("StreamMismatch")
        expect(e.message).toContain(c.diffId)
        expect(e.message).toContain(sha256("other"))
        const s = yield* layerError(verifyLayer(l, { uncompressedSize: c.stream.length + 1 }))
        expect(s.reason).toBe("StreamMismatch")
        expect(s.message).toContain(String(c.stream.length))
        yield* verifyLayer(l, { diffId: c.diffId, uncompressedSize: c.stream.length })
      }),
    ),
  )

  it.effect("a stream with data after the TOC entry → StreamMismatch", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, {
          tocTar: (json) =>
            tarOf([
              { name: "stargz.index.json", data: json },
              { name: "smuggled", data: utf8("evil") },
            ]),
        })
        const e = yield* layerError(verifyLayer(yield* open(c.blob, { tocDigest: c.tocDigest })))
        expect(e.reason).toBe("StreamMismatch")
        namesPlace(e, { entry: "smuggled" })
      }),
    ),
  )
})

describe("legacy CRFS stargz (47-byte footer)", () => {
  it.effect("entries without chunkDigest, single-chunk files with digest only: opens, reads, verifies", () =>
    run(
      Effect.gen(function* () {
        const c = craft(FILES, { legacy: true, footer: legacyFooter })
        expect(c.blob.length - c.tocOffset - gz(new Uint8Array(0)).length).toBeGreaterThan(0)
        expect(c.entries.some((e) => "chunkDigest" in e)).toBe(false)
        const l = yield* open(c.blob, { tocDigest: c.tocDigest })
        expect(l.footer.format).toBe("estargz-legacy")
        expect(l.footer.footerSize).toBe(47)
        expect(l.footer.tocOffset).toBe(c.tocOffset)
        expect(text(yield* readFile(l, "etc/hosts"))).toBe("127.0.0.1 localhost\n")
        expect(text(yield* readFile(l, "bin/tool", { offset: 10, length: 10 }))).toBe("echo tool\n")
        const r = yield* verifyLayer(l, { diffId: c.diffId, uncompressedSize: c.stream.length })
        expect(r.format).toBe("estargz-legacy")
        // a damaged legacy file is caught by its whole-file digest
        const bad = craft(
          FILES.map((f) => (f.name === "etc/hosts" ? { ...f, data: "127.0.0.2 localhost\n" } : f)),
          {
            legacy: true,
            footer: legacyFooter,
            editEntries: setOn("etc/hosts", "digest", sha256("127.0.0.1 localhost\n")),
          },
        )
        const lb = yield* open(bad.blob)
        expect((yield* layerError(readFile(lb, "etc/hosts"))).reason).toBe("ChunkDigestMismatch")
      }),
    ),
  )
})
