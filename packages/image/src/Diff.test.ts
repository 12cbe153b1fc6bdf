import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import fc from "fast-check"
import { directorySource, openLayoutImage } from "@lazypull/oci"
import { fixture } from "@lazypull/testkit"
import { type DiffField, diffImages, diffTrees } from "./Diff.ts"
import { ImageTree, imageTree } from "./Tree.ts"
import {
  buildImage,
  convertImage,
  digest,
  dir,
  file,
  opaque,
  symlink,
  type TarItem,
  type TestFormat,
  TestServices,
  whiteout,
} from "./Tree.test-utils.ts"

const base: ReadonlyArray<TarItem> = [
  dir("app/"),
  file("app/app.jar", "jar bytes"),
  file("app/run.sh", "#!/bin/sh\n", { mode: 0o755 }),
  file("app/conf", "k=v", { xattrs: { "user.a": new Uint8Array([1, 2]) } }),
  symlink("app/latest", "app.jar"),
  file("app/old.txt", "old"),
]

describe("diffImages", () => {
  it.effect("reports missing, added and changed paths, field by field, sorted", () =>
    Effect.gen(function* () {
      const a = yield* buildImage([{ items: base, format: "gzip" }])
      const b = yield* buildImage([
        {
          items: [
            dir("app/"),
            file("app/run.sh", "#!/bin/sh\n", { mode: 0o700, uid: 5 }),
            file("app/conf", "k=w", { xattrs: { "user.a": new Uint8Array([1, 3]) } }),
            symlink("app/latest", "app-2.jar"),
            dir("app/old.txt/"),
            file("app/new.txt", "new"),
            file("0-first", "x"),
          ],
          format: "zstd",
        },
      ])
      const d = yield* diffImages(a, b)
      assert.isFalse(d.same)
      expect(d.missing).toEqual(["app/app.jar"])
      expect(d.added).toEqual(["0-first", "app/new.txt"])
      expect(d.changed).toEqual([
        {
          path: "app/conf",
          fields: [
            { field: "xattrs", a: '{"user.a":"AQI="}', b: '{"user.a":"AQM="}' },
            { field: "sha256", a: digest("k=v"), b: digest("k=w") },
          ],
        },
        { path: "app/latest", fields: [{ field: "linkName", a: "app.jar", b: "app-2.jar" }] },
        {
          path: "app/old.txt",
          fields: [
            { field: "type", a: "reg", b: "dir" },
            { field: "size", a: 3, b: 0 },
            { field: "mode", a: "0644", b: "0755" },
            { field: "sha256", a: digest("old"), b: "" },
          ],
        },
        {
          path: "app/run.sh",
          fields: [
            { field: "mode", a: "0755", b: "0700" },
            { field: "uid", a: 0, b: 5 },
          ],
        },
      ])
      expect(d.artefacts).toEqual({ a: [], b: [] })
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("ignores modification times unless asked", () =>
    Effect.gen(function* () {
      const a = yield* buildImage([{ items: [file("f", "x", { mtime: 1000 })], format: "tar" }])
      const b = yield* buildImage([{ items: [file("f", "x", { mtime: 1000.4 })], format: "tar" }])
      const c = yield* buildImage([{ items: [file("f", "x", { mtime: 2000 })], format: "tar" }])
      assert.isTrue((yield* diffImages(a, c)).same)
      assert.isTrue((yield* diffImages(a, b, { compareModtime: true })).same) // rounded like a TOC
      expect((yield* diffImages(a, c, { compareModtime: true })).changed).toEqual([
        { path: "f", fields: [{ field: "modtime", a: 1000, b: 2000 }] },
      ])
    }).pipe(Effect.provide(TestServices)),
  )

  for (const format of ["estargz", "zstd:chunked", "storage"] as const) {
    it.effect(`the fixture image converted to ${format} has the same files; only artefacts differ`, () =>
      Effect.gen(function* () {
        const original = yield* openLayoutImage(yield* directorySource(fixture("image")))
        const converted = yield* convertImage(original, format)
        const d = yield* diffImages(original, converted)
        expect({ missing: d.missing, added: d.added, changed: d.changed }).toEqual({
          missing: [],
          added: [],
          changed: [],
        })
        assert.isTrue(d.same)
        expect(d.artefacts.a).toEqual([])
        expect(d.artefacts.b.map((x) => x.kind)).toEqual(
          format === "estargz"
            ? ["no-prefetch-landmark", "toc", "no-prefetch-landmark", "toc"]
            : format === "zstd:chunked"
              ? ["no-prefetch-landmark", "no-prefetch-landmark"]
              : [],
        )
        // and a converted image that lost a file, or changed one, is caught
        const tree = yield* imageTree(converted)
        const dropped = tree.entries.filter((e) => e.type === "reg")[0]!
        const partial = diffTrees(
          yield* imageTree(original),
          new ImageTree(
            tree.entries.filter((e) => e !== dropped),
            tree.layers,
            tree.artefacts,
          ),
        )
        expect(partial.missing).toEqual([dropped.path])
      }).pipe(Effect.provide(TestServices)),
    )
  }
})

// ---- property: a random layered image equals itself in any format; one mutated entry is found ----

const NAMES = ["a", "b", "c"]
const KIDS = ["x", "y"]

type Slot =
  | { readonly kind: "file"; readonly content: string; readonly mode: number; readonly uid: number }
  | { readonly kind: "dir"; readonly mode: number }
  | { readonly kind: "symlink"; readonly target: string }
  | { readonly kind: "whiteout" }
  | { readonly kind: "opaque" }

const slotArb: fc.Arbitrary<Slot> = fc.oneof(
  fc.record({
    kind: fc.constant("file" as const),
    content: fc.string({ maxLength: 6 }),
    mode: fc.constantFrom(0o644, 0o600, 0o755, 0o4755),
    uid: fc.constantFrom(0, 1000),
  }),
  fc.record({ kind: fc.constant("dir" as const), mode: fc.constantFrom(0o755, 0o700) }),
  fc.record({ kind: fc.constant("symlink" as const), target: fc.constantFrom("a", "../b/x", "/c", "x") }),
  fc.constant({ kind: "whiteout" as const }),
  fc.constant({ kind: "opaque" as const }),
)

/** One layer: slots at top-level names and their children, in random order, consistent within the layer. */
const layerArb = fc
  .array(
    fc.tuple(fc.constantFrom(...NAMES), fc.option(fc.constantFrom(...KIDS), { nil: undefined }), slotArb),
    { minLength: 1, maxLength: 8 },
  )
  .map((raw) => {
    // a path that is a parent in this layer (of a child or of an opaque marker) is not also a file or symlink in it
    const pathOf = (n: string, k: string | undefined) => (k === undefined ? n : `${n}/${k}`)
    const parents = new Set<string>()
    for (const [n, k, s] of raw) {
      if (k !== undefined) parents.add(n)
      if (s.kind === "opaque") parents.add(pathOf(n, k))
    }
    return raw.filter(
      ([n, k, s]) => !((s.kind === "file" || s.kind === "symlink") && parents.has(pathOf(n, k))),
    )
  })
  .filter((l) => l.length > 0)

const itemsOf = (layer: ReadonlyArray<readonly [string, string | undefined, Slot]>): Array<TarItem> =>
  layer.map(([n, k, s]) => {
    const path = k === undefined ? n : `${n}/${k}`
    switch (s.kind) {
      case "file":
        return file(path, s.content, { mode: s.mode, uid: s.uid })
      case "dir":
        return dir(`${path}/`, { mode: s.mode })
      case "symlink":
        return symlink(path, s.target)
      case "whiteout":
        return whiteout(path)
      default:
        return opaque(path)
    }
  })

const MUTATIONS: ReadonlyArray<readonly [DiffField, (t: TarItem) => TarItem]> = [
  ["mode", (t) => ({ ...t, entry: { ...t.entry, mode: (t.entry.mode ?? 0) ^ 0o010 } })],
  ["sha256", (t) => ({ ...t, data: new Uint8Array([...(t.data ?? []), 0x21]) })],
  ["uid", (t) => ({ ...t, entry: { ...t.entry, uid: (t.entry.uid ?? 0) + 1 } })],
  ["xattrs", (t) => ({ ...t, entry: { ...t.entry, xattrs: { "user.m": new Uint8Array([7]) } } })],
  ["type", (t) => ({ entry: { ...t.entry, typeflag: "2", linkname: "elsewhere" } })],
]

const FORMATS: ReadonlyArray<TestFormat> = ["tar", "gzip", "zstd", "estargz", "zstd:chunked"]

describe("diffImages property", () => {
  it("a random layered image equals itself in other layer formats, and a mutated entry is found", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(layerArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom(...FORMATS), { minLength: 3, maxLength: 3 }),
        fc.nat(),
        fc.nat({ max: MUTATIONS.length - 1 }),
        async (layers, formats, pick, m) => {
          const items = layers.map(itemsOf)
          const program = Effect.gen(function* () {
            const plain = yield* buildImage(items.map((i) => ({ items: i, format: "tar" as const })))
            const mixed = yield* buildImage(items.map((i, n) => ({ items: i, format: formats[n]! })))
            assert.isTrue((yield* diffImages(plain, plain)).same)
            const same = yield* diffImages(plain, mixed)
            expect({ missing: same.missing, added: same.added, changed: same.changed }).toEqual({
              missing: [],
              added: [],
              changed: [],
            })
            // mutate the last occurrence of a regular file of the top layer: it is visible in the merged tree
            const top = items[items.length - 1]!
            const candidates = top
              .map((t, i) => ({ t, i }))
              .filter(
                ({ t, i }) =>
                  t.entry.typeflag === "0" &&
                  !t.entry.name.split("/").pop()!.startsWith(".wh.") &&
                  !top.slice(i + 1).some((u) => u.entry.name.replace(/\/$/, "") === t.entry.name),
              )
            if (candidates.length === 0) return
            const { t, i } = candidates[pick % candidates.length]!
            const [field, mutate] = MUTATIONS[m]!
            const mutated = items.map((l, n) =>
              n === items.length - 1 ? l.map((u, k) => (k === i ? mutate(u) : u)) : l,
            )
            const other = yield* buildImage(mutated.map((l, n) => ({ items: l, format: formats[n]! })))
            const d = yield* diffImages(plain, other)
            assert.isFalse(d.same)
            expect(d.missing).toEqual([])
            expect(d.added).toEqual([])
            expect(d.changed.map((c) => c.path)).toEqual([t.entry.name])
            expect(d.changed[0]!.fields.map((f) => f.field)).toContain(field)
          })
          await Effect.runPromise(program.pipe(Effect.provide(TestServices)))
        },
      ),
      { numRuns: 30 },
    )
  })
})
