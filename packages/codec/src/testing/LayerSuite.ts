// The conformance suite every layer format plugin runs (eStargz, zstd:chunked dialects): the edge cases of
// FORMATS.md §11 plus whiteouts and opaque dirs, on every tar flavour and name prefix, checked against
// facts derived independently from the source tar.
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import fc from "fast-check"
import { listTar, type TarEntryInput, type TarHeader, writeTar } from "@lazypull/tar"
import { cleanEntryName, formatModtime } from "@lazypull/toc"
import { Sha256 } from "../Sha256.ts"

/** Per-file facts, the shape the reference checker prints (fixtures README "Per-file facts"). */
export interface SuiteFact {
  readonly name: string
  readonly type: string
  readonly size: number
  readonly sha256: string
  readonly mode: string
  readonly uid: number
  readonly gid: number
  readonly linkName: string
  readonly xattrs: Readonly<Record<string, string>>
  readonly modtime: string
  readonly devMajor: number
  readonly devMinor: number
}

/** Options the suite converts with. */
export interface SuiteConvertOptions {
  readonly chunkSize?: number
  readonly prioritizedFiles?: ReadonlyArray<string>
  readonly externalToc?: boolean
  readonly keepDiffId?: boolean
  readonly minChunkSize?: number
}

/** A converted layer as the suite sees it. */
export interface SuiteConverted {
  readonly blob: Uint8Array
  readonly tocDigest: string
  readonly diffId: string
  readonly uncompressedSize: number
  readonly externalToc?: Uint8Array
}

/** What a plugin hands to the suite. */
export interface LayerPluginUnderTest<R> {
  readonly name: string
  readonly layer: Layer.Layer<R | Sha256>
  /** Which options this plugin supports (external TOC and keep-diff-id are eStargz only). */
  readonly supports: {
    readonly externalToc: boolean
    readonly keepDiffId: boolean
    readonly minChunkSize: boolean
    /** Landmark entries and prioritized files (default true; containers/storage zstd:chunked has neither). */
    readonly landmarks?: boolean
    /**
     * Inputs with duplicate paths convert, the later entry winning (default true). When false (containers/storage
     * refuses them), converting such a tar must fail with a LayerError and random trees avoid duplicates.
     */
    readonly duplicatePaths?: boolean
  }
  convert(tar: Uint8Array, options: SuiteConvertOptions): Effect.Effect<SuiteConverted, unknown, R | Sha256>
  /** Opens the blob with its TOC digest and returns the files of its TOC. */
  facts(c: SuiteConverted): Effect.Effect<ReadonlyArray<SuiteFact>, unknown, R | Sha256>
  /** The TOC's entries in order (chunks and landmarks included). */
  tocEntries(c: SuiteConverted): Effect.Effect<
    ReadonlyArray<{
      readonly name: string
      readonly type: string
      readonly offset?: number
      readonly innerOffset?: number
    }>,
    unknown,
    R | Sha256
  >
  /** Reads a file lazily (range optional). */
  readFile(
    c: SuiteConverted,
    path: string,
    range?: { offset: number; length: number },
  ): Effect.Effect<Uint8Array, unknown, R | Sha256>
  /** Full verification; returns diffID and size of the decompressed blob. */
  verify(c: SuiteConverted): Effect.Effect<{ diffId: string; uncompressedSize: number }, unknown, R | Sha256>
  /** Compresses a tar the way a source layer would be (gzip), to test compressed inputs. */
  compressInput?(tar: Uint8Array): Effect.Effect<Uint8Array, unknown, R | Sha256>
}

const SPECIAL = new Set([".prefetch.landmark", ".no.prefetch.landmark", "stargz.index.json"])
const TYPES: Record<string, string> = {
  "0": "reg",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
}

const b64 = (v: Uint8Array) => {
  let s = ""
  for (const c of v) s += String.fromCharCode(c)
  return btoa(s)
}

/** The facts of a plain tar, computed independently of any converter (last duplicate wins). */
export const tarFacts = (tar: Uint8Array): Effect.Effect<Array<SuiteFact>, unknown, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const entries = yield* listTar(tar)
    const byName = new Map<string, SuiteFact>()
    for (const { header: h, data } of entries) {
      const name = cleanEntryName(h.name)
      if (SPECIAL.has(name)) continue
      const type = TYPES[h.typeflag] ?? h.typeflag
      let digest = ""
      if (type === "reg") {
        const x = sha.make()
        x.update(data)
        digest = `sha256:${x.hex()}`
      }
      const xattrs: Record<string, string> = {}
      for (const k of [...h.xattrs.keys()].sort()) xattrs[k] = b64(h.xattrs.get(k)!)
      byName.delete(name)
      byName.set(name, {
        name,
        type,
        size: type === "reg" ? h.size : 0,
        sha256: digest,
        mode: `0${h.mode.toString(8)}`,
        uid: h.uid,
        gid: h.gid,
        linkName: type === "symlink" ? h.linkname : type === "hardlink" ? cleanEntryName(h.linkname) : "",
        xattrs,
        modtime: formatModtime(h.mtime) ?? "",
        devMajor: type === "char" || type === "block" ? h.devmajor : 0,
        devMinor: type === "char" || type === "block" ? h.devminor : 0,
      })
    }
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  })

/** Deterministic pseudo-random, somewhat compressible content. */
export const content = (size: number, seed: number): Uint8Array => {
  const out = new Uint8Array(size)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = i % 7 === 0 ? (x >>> 24) & 0xff : 97 + ((x >>> 16) % 6)
  }
  return out
}

type Item = { entry: TarEntryInput; data?: Uint8Array }
const T = 1_700_000_000
const enc = new TextEncoder()

/** The "various files" tree of the reference suite, plus whiteouts, opaque dir and edge sizes. */
export const variousFiles = (
  prefix: string,
  chunk: number,
  withXattrs: boolean,
  empty = false,
): Array<Item> => {
  const p = (n: string) => prefix + n
  const file = (name: string, size: number, seed: number, extra: Partial<TarEntryInput> = {}): Item => {
    const s = empty ? 0 : size
    return {
      entry: { name: p(name), typeflag: "0", size: s, mode: 0o644, mtime: T, ...extra },
      data: content(s, seed),
    }
  }
  const items: Array<Item> = [
    {
      entry: {
        name: p("foo/"),
        typeflag: "5",
        mode: 0o755,
        mtime: T,
        ...(withXattrs ? { xattrs: { "user.dir": enc.encode("d") } } : {}),
      },
    },
    file(
      "foo/small",
      10,
      1,
      withXattrs
        ? { xattrs: { "user.bin": new Uint8Array([0xff, 0, 0x7a]), "user.empty": new Uint8Array(0) } }
        : {},
    ),
    file("foo/big", chunk * 2 + chunk / 2 + 3, 2),
    file("foo/exact", chunk, 3),
    file("foo/double", chunk * 2, 4),
    file("foo/empty", 0, 5),
    file("toplevel", 1, 6, { mode: 0o4755, uid: 1000, gid: 1000, uname: "app", gname: "app" }),
    file("implicit/parent/file.txt", 42, 7),
    { entry: { name: p("foo/link"), typeflag: "2", linkname: "small", mode: 0o777, mtime: T } },
    { entry: { name: p("foo/abs"), typeflag: "2", linkname: "/etc/passwd", mode: 0o777, mtime: T } },
    { entry: { name: p("foo/hard"), typeflag: "1", linkname: p("foo/small"), mode: 0o644, mtime: T } },
    { entry: { name: p("dev/"), typeflag: "5", mode: 0o755, mtime: 0 } },
    { entry: { name: p("dev/null"), typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666, mtime: T } },
    { entry: { name: p("dev/loop0"), typeflag: "4", devmajor: 7, devminor: 0, mode: 0o660, mtime: T } },
    { entry: { name: p("dev/fifo"), typeflag: "6", mode: 0o600, mtime: T } },
    file("foo/.wh.deleted", 0, 8),
    { entry: { name: p("opaque/"), typeflag: "5", mode: 0o1777, mtime: T } },
    file("opaque/.wh..wh..opq", 0, 9),
    file("opaque/after", 100, 10, { mtime: T + 0.6 }),
  ]
  return items
}

const tarOf = (items: ReadonlyArray<Item>, format: "ustar" | "pax" | "gnu") =>
  writeTar(
    items.map((i) => (i.data ? { entry: i.entry, data: i.data } : { entry: i.entry })),
    { format },
  )

/**
 * Registers the conformance tests for one layer plugin.
 *
 * @example
 * layerFormatSuite({ name: "estargz", layer, supports, convert, facts, tocNames, readFile, verify })
 */
export const layerFormatSuite = <R>(plugin: LayerPluginUnderTest<R>): void => {
  const tocNames = (c: SuiteConverted) =>
    Effect.map(plugin.tocEntries(c), (es) => es.filter((e) => e.type !== "chunk").map((e) => e.name))
  const run = <A>(eff: Effect.Effect<A, unknown, R | Sha256>) => eff.pipe(Effect.provide(plugin.layer))
  const CHUNK = 4096
  const landmarks = plugin.supports.landmarks ?? true
  const duplicatePaths = plugin.supports.duplicatePaths ?? true

  /** Converts, then checks facts, every file's bytes, a few ranges, and the full verification. */
  const roundTrip = (tar: Uint8Array, options: SuiteConvertOptions, input?: Uint8Array) =>
    Effect.gen(function* () {
      const c = yield* plugin.convert(input ?? tar, options)
      const want = yield* tarFacts(tar)
      const got = yield* plugin.facts(c)
      expect(got).toEqual(want)
      const entries = yield* listTar(tar)
      const last = new Map<string, { header: TarHeader; data: Uint8Array }>()
      for (const e of entries) last.set(cleanEntryName(e.header.name), e)
      for (const [name, e] of last) {
        if (e.header.typeflag !== "0" || SPECIAL.has(name)) continue
        const bytes = yield* plugin.readFile(c, name)
        expect(bytes.length).toBe(e.data.length)
        expect(Buffer.from(bytes).equals(Buffer.from(e.data))).toBe(true)
        if (e.data.length > 2) {
          const off = Math.floor(e.data.length / 3)
          const len = Math.min(e.data.length - off, CHUNK + 5)
          const part = yield* plugin.readFile(c, name, { offset: off, length: len })
          expect(Buffer.from(part).equals(Buffer.from(e.data.subarray(off, off + len)))).toBe(true)
        }
      }
      const v = yield* plugin.verify(c)
      expect(v.diffId).toBe(c.diffId)
      expect(v.uncompressedSize).toBe(c.uncompressedSize)
      return c
    })

  describe(`${plugin.name} layer conformance`, () => {
    for (const format of ["ustar", "pax", "gnu"] as const) {
      for (const prefix of ["", "./", "/"]) {
        it.effect(`various files, ${format}, prefix ${JSON.stringify(prefix)}`, () =>
          run(
            Effect.asVoid(
              roundTrip(tarOf(variousFiles(prefix, CHUNK, format === "pax"), format), { chunkSize: CHUNK }),
            ),
          ),
        )
      }
    }

    it.effect("no contents (every regular file empty)", () =>
      run(Effect.asVoid(roundTrip(tarOf(variousFiles("", CHUNK, false, true), "pax"), { chunkSize: CHUNK }))),
    )

    it.effect("empty tar", () => run(Effect.asVoid(roundTrip(writeTar([]), { chunkSize: CHUNK }))))

    it.effect("regfiles and directories with an xattr", () =>
      run(
        Effect.asVoid(
          roundTrip(
            tarOf(
              [
                { entry: { name: "baz.txt", typeflag: "0", size: 3, mtime: T }, data: enc.encode("abc") },
                { entry: { name: "foo/", typeflag: "5", mode: 0o755, mtime: T } },
                {
                  entry: {
                    name: "foo/bar.txt",
                    typeflag: "0",
                    size: 5,
                    mtime: T,
                    xattrs: { "user.x": enc.encode("y") },
                  },
                  data: enc.encode("hello"),
                },
              ],
              "pax",
            ),
            { chunkSize: CHUNK },
          ),
        ),
      ),
    )

    it.effect("long names (PAX and GNU) and non-ASCII names", () =>
      run(
        Effect.gen(function* () {
          const long = `${"d".repeat(60)}/${"e".repeat(70)}/${"f".repeat(50)}.txt`
          for (const format of ["pax", "gnu"] as const) {
            const items: Array<Item> = [
              { entry: { name: long, typeflag: "0", size: 7, mtime: T }, data: enc.encode("content") },
              {
                entry: { name: "ünïcødé/файл.txt", typeflag: "0", size: 2, mtime: T },
                data: enc.encode("hi"),
              },
              { entry: { name: "l", typeflag: "2", linkname: "t".repeat(165), mtime: T } },
            ]
            yield* roundTrip(tarOf(items, format), { chunkSize: CHUNK })
          }
        }),
      ),
    )

    it.effect.skipIf(!duplicatePaths)("duplicate paths: the later entry wins", () =>
      run(
        Effect.gen(function* () {
          const tar = tarOf(
            [
              { entry: { name: "a", typeflag: "0", size: 3, mtime: T }, data: enc.encode("old") },
              { entry: { name: "b", typeflag: "0", size: 1, mtime: T }, data: enc.encode("b") },
              { entry: { name: "./a", typeflag: "0", size: 3, mtime: T }, data: enc.encode("new") },
            ],
            "ustar",
          )
          const c = yield* roundTrip(tar, { chunkSize: CHUNK })
          expect(new TextDecoder().decode(yield* plugin.readFile(c, "a"))).toBe("new")
        }),
      ),
    )

    it.effect.skipIf(duplicatePaths)("duplicate paths are refused with a LayerError", () =>
      run(
        Effect.gen(function* () {
          const tar = tarOf(
            [
              { entry: { name: "a", typeflag: "0", size: 3, mtime: T }, data: enc.encode("old") },
              { entry: { name: "./a", typeflag: "0", size: 3, mtime: T }, data: enc.encode("new") },
            ],
            "ustar",
          )
          const r = yield* Effect.result(plugin.convert(tar, { chunkSize: CHUNK }))
          expect(r._tag === "Failure" && (r.failure as { _tag?: string })._tag).toBe("LayerError")
        }),
      ),
    )

    it.effect("gzip-compressed input converts to the same files", () =>
      run(
        Effect.gen(function* () {
          if (!plugin.compressInput) return
          const tar = tarOf(variousFiles("./", CHUNK, true), "pax")
          yield* roundTrip(tar, { chunkSize: CHUNK }, yield* plugin.compressInput(tar))
        }),
      ),
    )

    it.effect.skipIf(!landmarks)("no prioritized files: .no.prefetch.landmark comes first", () =>
      run(
        Effect.gen(function* () {
          const c = yield* plugin.convert(tarOf(variousFiles("", CHUNK, false), "ustar"), {
            chunkSize: CHUNK,
          })
          const names = yield* tocNames(c)
          expect(names[0]).toBe(".no.prefetch.landmark")
          expect(names).not.toContain(".prefetch.landmark")
        }),
      ),
    )

    it.effect.skipIf(!landmarks)(
      "prioritized files come first, with parents and hardlink targets, then .prefetch.landmark",
      () =>
        run(
          Effect.gen(function* () {
            const tar = tarOf(variousFiles("./", CHUNK, false), "gnu")
            const c = yield* roundTrip(tar, {
              chunkSize: CHUNK,
              prioritizedFiles: ["foo/hard", "/toplevel", "missing/file"],
            })
            const names = (yield* tocNames(c)).map(cleanEntryName)
            const lm = names.indexOf(".prefetch.landmark")
            expect(names.slice(0, lm)).toEqual(["foo", "foo/small", "foo/hard", "toplevel"])
            expect(names).not.toContain(".no.prefetch.landmark")
          }),
        ),
    )

    it.effect.skipIf(!landmarks)("a file under implicit parent dirs can be prioritized", () =>
      run(
        Effect.gen(function* () {
          const tar = tarOf(variousFiles("", CHUNK, false), "ustar")
          const c = yield* plugin.convert(tar, {
            chunkSize: CHUNK,
            prioritizedFiles: ["implicit/parent/file.txt"],
          })
          const names = yield* tocNames(c)
          expect(names.slice(0, 2)).toEqual(["implicit/parent/file.txt", ".prefetch.landmark"])
        }),
      ),
    )

    if (plugin.supports.externalToc) {
      it.effect("external TOC: same files, TOC outside the blob", () =>
        run(
          Effect.gen(function* () {
            const tar = tarOf(variousFiles("./", CHUNK, true), "pax")
            const c = yield* roundTrip(tar, { chunkSize: CHUNK, externalToc: true })
            expect(c.externalToc).toBeDefined()
          }),
        ),
      )
    }

    if (plugin.supports.keepDiffId) {
      it.effect("keep-diff-id: the decompressed blob is the input tar, byte for byte", () =>
        run(
          Effect.gen(function* () {
            const tar = tarOf(variousFiles("./", CHUNK, true), "gnu")
            const junk = new Uint8Array(tar.length + 100)
            junk.set(tar)
            junk.fill(0x41, tar.length)
            const sha = yield* Sha256
            for (const input of [tar, junk]) {
              const c = yield* roundTrip(
                tar,
                { chunkSize: CHUNK, externalToc: true, keepDiffId: true },
                input,
              )
              const h = sha.make()
              h.update(input)
              expect(c.diffId).toBe(`sha256:${h.hex()}`)
              expect(c.uncompressedSize).toBe(input.length)
            }
          }),
        ),
      )
    }

    if (plugin.supports.minChunkSize) {
      it.effect("min-chunk-size packs small files into shared members, addressed by innerOffset", () =>
        run(
          Effect.gen(function* () {
            for (const format of ["pax", "gnu"] as const) {
              const tar = tarOf(variousFiles("./", CHUNK, format === "pax"), format)
              const c = yield* roundTrip(tar, { chunkSize: CHUNK, minChunkSize: 8000 })
              const entries = yield* plugin.tocEntries(c)
              expect(entries.some((e) => (e.innerOffset ?? 0) > 0)).toBe(true)
              // the landmark still starts its own member
              const lm = entries.find((e) => e.name === ".no.prefetch.landmark")
              expect(lm?.innerOffset ?? 0).toBe(0)
              expect(lm?.offset ?? 0).toBeGreaterThan(0)
              // with keep-diff-id too (offset-0 payloads are legal there)
              if (plugin.supports.keepDiffId)
                yield* roundTrip(tar, {
                  chunkSize: CHUNK,
                  minChunkSize: 8000,
                  externalToc: true,
                  keepDiffId: true,
                })
            }
          }),
        ),
      )
    }

    it.effect("a corrupted chunk, a wrong TOC digest and a truncated blob are rejected", () =>
      run(
        Effect.gen(function* () {
          const c = yield* plugin.convert(tarOf(variousFiles("", CHUNK, false), "ustar"), {
            chunkSize: CHUNK,
          })
          const flipped = c.blob.slice()
          flipped[Math.floor(c.blob.length / 3)]! ^= 0x55
          const bad1 = yield* Effect.result(plugin.verify({ ...c, blob: flipped }))
          expect(bad1._tag).toBe("Failure")
          const bad2 = yield* Effect.result(plugin.facts({ ...c, tocDigest: `sha256:${"0".repeat(64)}` }))
          expect(bad2._tag).toBe("Failure")
          for (const cut of [1, 10, 60, Math.floor(c.blob.length / 2)]) {
            const bad3 = yield* Effect.result(
              plugin.verify({ ...c, blob: c.blob.subarray(0, c.blob.length - cut) }),
            )
            expect(bad3._tag).toBe("Failure")
          }
        }),
      ),
    )

    it.effect("property: random trees round-trip", () =>
      run(
        Effect.gen(function* () {
          const arbItem = fc.record({
            name: fc.stringMatching(/^[a-z0-9._-]{1,12}(\/[a-z0-9._-]{1,12}){0,3}$/),
            kind: fc.constantFrom("reg", "reg", "reg", "dir", "symlink"),
            size: fc.oneof(
              fc.constant(0),
              fc.integer({ min: 1, max: 3 * 512 }),
              fc.integer({ min: 512, max: 3 * 1024 }),
            ),
            seed: fc.integer({ min: 0, max: 1000 }),
          })
          const samples = fc.sample(fc.array(arbItem, { maxLength: 12 }), { numRuns: 25, seed: 42 })
          for (const sample of samples) {
            // a path that is also another entry's parent must be a directory
            const parents = new Set<string>()
            for (const s of sample) {
              const parts = cleanEntryName(s.name).split("/")
              for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join("/"))
            }
            // without duplicate support, only the last entry of each path
            const lastOf = new Map<string, number>()
            for (const [i, s] of sample.entries()) lastOf.set(cleanEntryName(s.name), i)
            const items: Array<Item> = sample
              .filter((s, i) => duplicatePaths || lastOf.get(cleanEntryName(s.name)) === i)
              .filter((s) => !SPECIAL.has(cleanEntryName(s.name)) && cleanEntryName(s.name) !== "")
              .filter((s) => s.kind === "dir" || !parents.has(cleanEntryName(s.name)))
              .map((s) =>
                s.kind === "dir"
                  ? { entry: { name: `${s.name}/`, typeflag: "5", mode: 0o755, mtime: T } }
                  : s.kind === "symlink"
                    ? { entry: { name: s.name, typeflag: "2", linkname: "target", mtime: T } }
                    : {
                        entry: { name: s.name, typeflag: "0", size: s.size, mode: 0o644, mtime: T },
                        data: content(s.size, s.seed),
                      },
              )
            yield* roundTrip(tarOf(items, "pax"), { chunkSize: 1024 })
          }
        }),
      ),
    )
  })
}
