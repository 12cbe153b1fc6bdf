// Property: whatever is done to a valid blob (byte flips, truncations, insertions, deletions), opening, verifying
// and reading it either succeeds or fails with a LayerError: no defect, no thrown exception, no hang; and a read
// of a layer opened with its TOC digest never returns bytes other than the original file's.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import fc from "fast-check"
import { Decompressors, type GzipEngine, LayerError, layerScratchMemory, type Sha256 } from "@lazypull/codec"
import { NodeEngine } from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import { fromBytes } from "@lazypull/range"
import { type TarEntryInput, writeTar } from "@lazypull/tar"
import { concat, craft, gz, legacyFooter, type RawEntry, sha256, utf8 } from "./Craft.test-utils.ts"
import { convertInMemory } from "./InMemory.test-utils.ts"
import {
  layerFacts,
  makeDecompressor,
  makeFooter,
  type OpenOptions,
  openLayer,
  readFile,
  tocTarBytes,
  verifyLayer,
} from "./index.ts"

const FILES: ReadonlyArray<{ entry: TarEntryInput; data?: Uint8Array }> = [
  { entry: { name: "d/", typeflag: "5", mode: 0o755 } },
  { entry: { name: "d/a.txt", typeflag: "0", mode: 0o644 }, data: utf8("alpha alpha alpha\n") },
  { entry: { name: "d/big", typeflag: "0", mode: 0o644 }, data: utf8("0123456789abcdef".repeat(5) + "tail") },
  { entry: { name: "d/empty", typeflag: "0", mode: 0o644 }, data: new Uint8Array(0) },
  { entry: { name: "d/sym", typeflag: "2", linkname: "a.txt" } },
  { entry: { name: "d/hl", typeflag: "1", linkname: "d/a.txt" } },
  { entry: { name: "z", typeflag: "0", mode: 0o600 }, data: utf8("zzz") },
]
const CONTENT = new Map<string, string>([
  ["d/a.txt", "alpha alpha alpha\n"],
  ["d/big", "0123456789abcdef".repeat(5) + "tail"],
  ["d/empty", ""],
  ["d/hl", "alpha alpha alpha\n"],
  ["z", "zzz"],
])

interface Sample {
  readonly label: string
  readonly blob: Uint8Array
  readonly tocDigest: string
  readonly externalToc?: Uint8Array
  /** End of the data members (the TOC offset, or the footer for an external TOC). */
  readonly dataEnd: number
  /** The TOC JSON. */
  readonly json: Uint8Array
  /** The blob with another TOC JSON in place of this one (and the external TOC to pass, if any). */
  readonly withToc: (json: Uint8Array) => { blob: Uint8Array; externalToc?: Uint8Array }
}

const engineLayer = (engine: Layer.Layer<GzipEngine | Sha256>) =>
  Layer.mergeAll(
    engine,
    layerScratchMemory,
    Layer.effect(
      Decompressors,
      Effect.map(makeDecompressor(), (d) => [d]),
    ).pipe(Layer.provide(engine)),
  )

const samples = Effect.gen(function* () {
  const tar = writeTar(FILES)
  const out: Array<Sample> = []
  const inBlob = (label: string, blob: Uint8Array, tocDigest: string, footer: (off: number) => Uint8Array) =>
    Effect.map(openLayer(fromBytes(blob), { tocDigest }), (l): Sample => {
      const data = blob.subarray(0, l.footer.tocOffset)
      return {
        label,
        blob,
        tocDigest,
        dataEnd: l.footer.dataEnd,
        json: l.tocJson,
        withToc: (json) => ({ blob: concat([data, gz(tocTarBytes(json)), footer(data.length)]) }),
      }
    })
  const classic = yield* convertInMemory(tar, { chunkSize: 16 })
  out.push(yield* inBlob("classic", classic.blob, classic.tocDigest, makeFooter))
  const packed = yield* convertInMemory(tar, { chunkSize: 16, minChunkSize: 64 })
  out.push(yield* inBlob("min-chunk-size", packed.blob, packed.tocDigest, makeFooter))
  const legacy = craft(
    [
      { name: "d/", type: "dir" },
      { name: "d/a.txt", data: CONTENT.get("d/a.txt")! },
      { name: "z", data: "zzz" },
    ],
    { legacy: true, footer: legacyFooter },
  )
  out.push(yield* inBlob("legacy", legacy.blob, legacy.tocDigest, legacyFooter))
  const ext = yield* convertInMemory(tar, { chunkSize: 32, externalToc: true })
  const extLayer = yield* openLayer(fromBytes(ext.blob), {
    tocDigest: ext.tocDigest,
    externalToc: ext.externalToc!,
  })
  out.push({
    label: "external",
    blob: ext.blob,
    tocDigest: ext.tocDigest,
    externalToc: ext.externalToc!,
    dataEnd: extLayer.footer.dataEnd,
    json: extLayer.tocJson,
    withToc: (json) => ({ blob: ext.blob, externalToc: json }),
  })
  return out
})

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly xor: number }
  | { readonly kind: "data-flip"; readonly at: number; readonly xor: number }
  | { readonly kind: "tail-flip"; readonly back: number; readonly xor: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly count: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  // inside the data members only: the footer and TOC stay intact, so reads meet the damage
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("data-flip" as const),
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
  },
  // the footer and the end of the TOC member, where a flip changes the most
  fc.record({
    kind: fc.constant("tail-flip" as const),
    back: fc.integer({ min: 1, max: 160 }),
    xor: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0, 0xff, 0x30, 0x7b) }),
)

const apply = (blob: Uint8Array, muts: ReadonlyArray<Mutation>, dataEnd = blob.length): Uint8Array => {
  let b = new Uint8Array(blob)
  for (const m of muts) {
    const n = b.length
    switch (m.kind) {
      case "flip":
        if (n > 0) b[m.at % n] = b[m.at % n]! ^ m.xor
        break
      case "data-flip": {
        const end = Math.min(n, dataEnd)
        if (end > 0) b[m.at % end] = b[m.at % end]! ^ m.xor
        break
      }
      case "tail-flip":
        if (n >= m.back) b[n - m.back] = b[n - m.back]! ^ m.xor
        break
      case "set":
        if (n > 0) b[m.at % n] = m.value
        break
      case "truncate":
        b = b.slice(0, m.at % (n + 1))
        break
      case "insert": {
        const at = m.at % (n + 1)
        const out = new Uint8Array(n + m.bytes.length)
        out.set(b.subarray(0, at), 0)
        out.set(m.bytes, at)
        out.set(b.subarray(at), at + m.bytes.length)
        b = out
        break
      }
      case "delete": {
        const at = m.at % (n + 1)
        b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + m.count)])
        break
      }
    }
  }
  return b
}

/** Runs an effect; a typed failure must be a LayerError (returned as undefined), anything else fails the test. */
const attempt = <A, R>(what: string, eff: Effect.Effect<A, LayerError, R>) =>
  Effect.exit(eff).pipe(
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed(exit.value as A | undefined)
      if (Cause.hasDies(exit.cause) || Cause.hasInterrupts(exit.cause))
        return Effect.die(new Error(`${what}: not a LayerError:\n${Cause.pretty(exit.cause)}`))
      const e = Cause.squash(exit.cause)
      if (!(e instanceof LayerError) || (e as { _tag?: string })._tag !== "LayerError")
        return Effect.die(new Error(`${what}: failed with ${String(e)}`))
      return Effect.succeed(undefined)
    }),
  )

const exercise = (blob: Uint8Array, options: OpenOptions, authenticated: boolean, hostileToc = false) =>
  Effect.gen(function* () {
    const layer = yield* attempt("openLayer", openLayer(fromBytes(blob, "mutated"), options))
    if (layer === undefined) return
    const facts = layerFacts(layer)
    expect(Array.isArray(facts)).toBe(true)
    yield* attempt("verifyLayer", verifyLayer(layer))
    for (const node of layer.index.nodes()) {
      const path = node.name
      const bytes = yield* attempt(`readFile ${path}`, readFile(layer, path))
      const ranged = yield* attempt(
        `readFile ${path} [5, 25)`,
        readFile(layer, path, { offset: 5, length: 20 }),
      )
      const want = CONTENT.get(path)
      // a layer opened with its TOC digest never yields bytes other than the original ones (a hostile but
      // authenticated TOC may claim a shorter file; then a read returns less, never different bytes)
      if (authenticated && want !== undefined) {
        if (bytes !== undefined) {
          const got = new TextDecoder().decode(bytes)
          expect(got).toBe(want.slice(0, got.length))
          if (!hostileToc) expect(got).toBe(want)
        }
        if (ranged !== undefined) {
          const got = new TextDecoder().decode(ranged)
          expect(got).toBe(want.slice(5, 5 + got.length))
          if (!hostileToc) expect(got).toBe(want.slice(5, 25))
        }
      }
    }
  })

const property = (label: string, engine: Layer.Layer<GzipEngine | Sha256>) =>
  it(`${label}: mutated blobs open, verify and read, or fail with a LayerError`, async () => {
    const provided = engineLayer(engine)
    const all = await Effect.runPromise(samples.pipe(Effect.provide(provided)))
    for (const s of all) {
      // the unmutated sample works
      await Effect.runPromise(
        Effect.gen(function* () {
          const l = yield* openLayer(fromBytes(s.blob), {
            tocDigest: s.tocDigest,
            ...(s.externalToc ? { externalToc: s.externalToc } : {}),
          })
          yield* verifyLayer(l)
        }).pipe(Effect.provide(provided)),
      )
    }
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: all.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        async (which, muts, withDigest, mutateExternal) => {
          const s = all[which]!
          const external = s.externalToc && mutateExternal ? apply(s.externalToc, muts) : s.externalToc
          const blob = s.externalToc && mutateExternal ? s.blob : apply(s.blob, muts, s.dataEnd)
          const options: OpenOptions = {
            ...(withDigest ? { tocDigest: s.tocDigest } : {}),
            ...(external ? { externalToc: external } : {}),
            tailSize: 256,
          }
          const started = Date.now()
          await Effect.runPromise(
            exercise(blob, options, withDigest).pipe(
              Effect.timeoutOrElse({
                duration: "10 seconds",
                orElse: () => Effect.die(new Error(`${s.label}: hung on ${JSON.stringify(muts)}`)),
              }),
              Effect.provide(provided),
            ),
          )
          expect(Date.now() - started).toBeLessThan(10_000)
        },
      ),
      { numRuns: Number(process.env.MUTATION_RUNS ?? 150) },
    )
  }, 120_000)

type TocEdit =
  | { readonly kind: "num"; readonly at: number; readonly key: string; readonly value: number }
  | { readonly kind: "shift"; readonly at: number; readonly key: string; readonly delta: number }
  | { readonly kind: "drop-key"; readonly at: number; readonly key: string }
  | { readonly kind: "type"; readonly at: number; readonly type: string }
  | { readonly kind: "remove"; readonly at: number }
  | { readonly kind: "duplicate"; readonly at: number }
  | { readonly kind: "swap"; readonly at: number }

const NUMERIC = ["offset", "innerOffset", "size", "chunkOffset", "chunkSize"]
const tocEdit: fc.Arbitrary<TocEdit> = fc.oneof(
  fc.record({
    kind: fc.constant("num" as const),
    at: fc.nat(),
    key: fc.constantFrom(...NUMERIC),
    value: fc.oneof(
      fc.nat({ max: 400 }),
      fc.constantFrom(0, 1, 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER, -1, 1.5),
    ),
  }),
  fc.record({
    kind: fc.constant("shift" as const),
    at: fc.nat(),
    key: fc.constantFrom(...NUMERIC),
    delta: fc.integer({ min: -40, max: 40 }).filter((d) => d !== 0),
  }),
  fc.record({
    kind: fc.constant("drop-key" as const),
    at: fc.nat(),
    key: fc.constantFrom(...NUMERIC, "chunkDigest", "digest", "type", "name"),
  }),
  fc.record({
    kind: fc.constant("type" as const),
    at: fc.nat(),
    type: fc.constantFrom("reg", "chunk", "dir", "symlink", "fifo", "hardlink", "bogus"),
  }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat() }),
)

/** Applies TOC edits; names, link targets and digest values are never changed, so content stays tied to paths. */
const editToc = (json: Uint8Array, edits: ReadonlyArray<TocEdit>): Uint8Array => {
  const toc = JSON.parse(new TextDecoder().decode(json)) as { version: number; entries: Array<RawEntry> }
  const es = toc.entries
  for (const e of edits) {
    if (es.length === 0) break
    const i = e.at % es.length
    const entry = es[i]!
    switch (e.kind) {
      case "num":
        entry[e.key] = e.value
        break
      case "shift":
        entry[e.key] = ((entry[e.key] as number | undefined) ?? 0) + e.delta
        break
      case "drop-key":
        delete entry[e.key]
        break
      case "type":
        entry.type = e.type
        break
      case "remove":
        es.splice(i, 1)
        break
      case "duplicate":
        es.splice(i, 0, { ...entry })
        break
      case "swap":
        if (i + 1 < es.length) [es[i], es[i + 1]] = [es[i + 1]!, entry]
        break
    }
  }
  return utf8(JSON.stringify(toc, null, "\t"))
}

const tocProperty = (label: string, engine: Layer.Layer<GzipEngine | Sha256>) =>
  it(`${label}: hostile TOCs (authenticated by their own digest) never make a read return other bytes`, async () => {
    const provided = engineLayer(engine)
    const all = await Effect.runPromise(samples.pipe(Effect.provide(provided)))
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: all.length - 1 }),
        fc.array(tocEdit, { minLength: 1, maxLength: 4 }),
        async (which, edits) => {
          const s = all[which]!
          const json = editToc(s.json, edits)
          const { blob, externalToc } = s.withToc(json)
          const options: OpenOptions = {
            tocDigest: sha256(json),
            ...(externalToc ? { externalToc } : {}),
          }
          await Effect.runPromise(
            exercise(blob, options, true, true).pipe(
              Effect.timeoutOrElse({
                duration: "10 seconds",
                orElse: () => Effect.die(new Error(`${s.label}: hung on ${JSON.stringify(edits)}`)),
              }),
              Effect.provide(provided),
            ),
          )
        },
      ),
      { numRuns: Number(process.env.MUTATION_RUNS ?? 150) },
    )
  }, 120_000)

describe("mutation property", () => {
  property("node:zlib", Layer.merge(NodeEngine.layerGzip, NodeEngine.layerSha256))
  property("fflate (portable)", PortableEngine.layer)
  tocProperty("node:zlib", Layer.merge(NodeEngine.layerGzip, NodeEngine.layerSha256))
  tocProperty("fflate (portable)", PortableEngine.layer)
})
