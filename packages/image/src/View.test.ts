import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { TOC_DIGEST_ANNOTATION } from "@lazypull/estargz"
import { directorySource, openLayoutImage } from "@lazypull/oci"
import { fixture } from "@lazypull/testkit"
import { writeTar } from "@lazypull/tar"
import { entryChanges } from "./Diff.ts"
import { imageTree } from "./Tree.ts"
import {
  assembleImage,
  buildImage,
  convertImage,
  digest,
  encodeLayer,
  file,
  hardlink,
  layeredItems,
  noise,
  symlink,
  type TestFormat,
  TestServices,
  whiteout,
} from "./Tree.test-utils.ts"
import { imageToc, listImage, makeImageView, readImageFile } from "./View.ts"

/** The layered test image without its cross-layer hardlink (which no lazy reader accepts). */
const layered = (formats: ReadonlyArray<TestFormat>) =>
  buildImage(
    layeredItems({ duplicates: formats.every((f) => f !== "storage"), crossLink: false }).map((items, i) => ({
      items,
      format: formats[i]!,
    })),
  )

describe("imageToc", () => {
  it.effect("serves the TOC of a lazy layer (its digest is the annotation) and NotLazy for a plain one", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        { items: [file("a", "a")], format: "estargz" },
        { items: [file("b", "b")], format: "gzip" },
        { items: [file("c", "c")], format: "zstd:chunked" },
        { items: [file("d", "d")], format: "storage" },
        { items: [file("e", "e")], format: "tar" },
      ])
      const t0 = yield* imageToc(image, 0)
      expect(digest(t0.json)).toBe(image.layers[0]!.descriptor.annotations![TOC_DIGEST_ANNOTATION])
      expect(t0).toMatchObject({ layer: 0, format: "estargz", tocVerified: true })
      expect(t0.toc.entries.map((e) => e.name)).toEqual([".no.prefetch.landmark", "a"])
      // footer and TOC come with the speculative tail read: one request, less than the blob
      expect(t0.cost.reads).toBe(1)
      const t2 = yield* imageToc(image, 2)
      expect(t2).toMatchObject({ format: "zstd:chunked", tocVerified: true })
      expect(digest(t2.json)).toBe(t2.tocDigest)
      const t3 = yield* imageToc(image, 3)
      expect(t3).toMatchObject({ format: "zstd:chunked/storage", tocVerified: true })
      expect(t3.toc.entries.map((e) => e.name)).toEqual(["d"])
      for (const i of [1, 4]) {
        const e = yield* Effect.flip(imageToc(image, i))
        expect(e).toMatchObject({ reason: "NotLazy", layer: i, digest: image.layers[i]!.descriptor.digest })
      }
      expect(yield* Effect.flip(imageToc(image, 5))).toMatchObject({ reason: "NotFound" })
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a lazy layer whose TOC does not match its annotation is a BadLayer, not a plain layer", () =>
    Effect.gen(function* () {
      const good = yield* encodeLayer(writeTar([file("a", "a")]), "estargz")
      const image = yield* assembleImage([
        { ...good, annotations: { ...good.annotations, [TOC_DIGEST_ANNOTATION]: digest("another toc") } },
      ])
      expect(yield* Effect.flip(imageToc(image, 0))).toMatchObject({ reason: "BadLayer", layer: 0 })
    }).pipe(Effect.provide(TestServices)),
  )
})

describe("listImage", () => {
  for (const formats of [
    ["estargz", "estargz", "estargz"],
    ["zstd:chunked", "estargz", "gzip"],
    ["storage", "storage", "tar"],
  ] as const) {
    it.effect(`lists the merged tree from TOCs (${formats.join(", ")}) as imageTree does from streams`, () =>
      Effect.gen(function* () {
        const image = yield* layered(formats)
        const streamed = yield* imageTree(image)
        const listed = yield* listImage(image)
        expect(listed.entries.map((e) => e.path)).toEqual(streamed.entries.map((e) => e.path))
        for (let i = 0; i < listed.entries.length; i++) {
          const a = streamed.entries[i]!
          const b = listed.entries[i]!
          expect([a.path, entryChanges(a, b, { compareModtime: true })]).toEqual([a.path, []])
          expect([a.path, b.layer, b.implicit]).toEqual([a.path, a.layer, a.implicit])
        }
        expect(listed.layers.map((l) => l.source)).toEqual(
          formats.map((f) => (f === "tar" || f === "gzip" ? "stream" : "toc")),
        )
        expect(listed.artefacts.map((a) => a.kind).filter((k) => k === "toc")).toEqual([])
      }).pipe(Effect.provide(TestServices)),
    )
  }

  it.effect("lists one directory, one entry, through symlinked directories; NotFound for what is gone", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        {
          items: [file("usr/lib/a", "a"), file("usr/lib/b", "b"), symlink("lib", "usr/lib")],
          format: "estargz",
        },
        { items: [whiteout("usr/lib/b"), file("usr/lib/c", "c")], format: "estargz" },
      ])
      expect((yield* listImage(image, "/usr/lib")).entries.map((e) => e.path)).toEqual([
        "usr/lib/a",
        "usr/lib/c",
      ])
      expect((yield* listImage(image, "lib/")).entries.map((e) => e.path)).toEqual(["lib"])
      expect((yield* listImage(image, "lib/a")).entries.map((e) => e.path)).toEqual(["usr/lib/a"])
      expect(yield* Effect.flip(listImage(image, "usr/lib/b"))).toMatchObject({ reason: "NotFound" })
    }).pipe(Effect.provide(TestServices)),
  )
})

describe("readImageFile", () => {
  for (const format of ["estargz", "zstd:chunked", "storage", "gzip", "tar"] as const) {
    it.effect(`reads merged files of ${format} layers: whiteouts, opaque dirs, symlinks, hardlinks`, () =>
      Effect.gen(function* () {
        const image = yield* layered([format, format, format])
        const read = (p: string) =>
          Effect.map(readImageFile(image, p), (r) => new TextDecoder().decode(r.bytes))
        expect(yield* read("etc/hostname")).toBe("upper-host\n")
        expect(yield* read("/etc/hostname.hard")).toBe("base-host\n")
        expect(yield* read("etc/config")).toBe("second")
        expect(yield* read("bin/sh")).toBe("tool bytes")
        expect(yield* read("var/cache/fresh")).toBe("fresh")
        expect(yield* read("same/keep")).toBe("kept")
        expect(yield* read("usr/share/doc/new")).toBe("new")
        expect(yield* read("opt/dir-replaced")).toBe("now a file")
        const r = yield* readImageFile(image, "./bin/../etc/hostname")
        expect(r).toMatchObject({ path: "etc/hostname", layer: 1 })
        expect(r.entry.sha256).toBe(digest("upper-host\n"))
        for (const gone of [
          "etc/motd",
          "usr/share/doc/a",
          "var/cache/old",
          "var/cache/sub/x",
          "opt/dir-replaced/inner",
        ])
          expect([gone, (yield* Effect.flip(readImageFile(image, gone))).reason]).toEqual([gone, "NotFound"])
        expect(yield* Effect.flip(readImageFile(image, "etc"))).toMatchObject({ reason: "NotFound" })
        expect(yield* Effect.flip(readImageFile(image, "dev/null"))).toMatchObject({ reason: "NotFound" })
      }).pipe(Effect.provide(TestServices)),
    )
  }

  it.effect(
    "follows symlinks like a chroot: absolute targets from the image root, .. stops at the root",
    () =>
      Effect.gen(function* () {
        const image = yield* buildImage([
          {
            items: [
              file("usr/bin/dash", "dash"),
              symlink("bin", "usr/bin"),
              symlink("usr/bin/sh", "dash"),
              symlink("abs", "/usr/bin/sh"),
              symlink("up", "../../../usr/bin/dash"),
              symlink("loop1", "loop2"),
              symlink("loop2", "loop1"),
              symlink("dangling", "nothing"),
            ],
            format: "estargz",
          },
        ])
        const text = (p: string) =>
          Effect.map(readImageFile(image, p), (r) => new TextDecoder().decode(r.bytes))
        expect(yield* text("bin/sh")).toBe("dash")
        expect(yield* text("abs")).toBe("dash")
        expect(yield* text("up")).toBe("dash")
        expect((yield* readImageFile(image, "bin/sh")).path).toBe("usr/bin/dash")
        expect(yield* Effect.flip(readImageFile(image, "loop1"))).toMatchObject({ reason: "NotFound" })
        expect(yield* Effect.flip(readImageFile(image, "dangling"))).toMatchObject({ reason: "NotFound" })
      }).pipe(Effect.provide(TestServices)),
  )

  it.effect("fetches only the top layers' TOCs and the file's chunks, in as few reads as chunks", () =>
    Effect.gen(function* () {
      const big = noise(300_000, 7)
      const image = yield* buildImage([
        { items: [file("base/big", noise(2_000_000, 1))], format: "estargz" },
        { items: [file("mid/x", "x")], format: "estargz" },
        { items: [file("top/big", big), file("top/small", "s")], format: "estargz" },
      ])
      const view = makeImageView(image)
      const r = yield* view.read("top/big")
      expect(digest(r.bytes)).toBe(digest(big))
      // the top layer only: one tail read (footer + TOC), one read for the file's chunks
      expect(r.cost.reads).toBe(2)
      expect(r.fileCost.reads).toBe(1)
      // footer and TOC within the 64 KiB speculative tail, then only the file's compressed range
      expect(r.cost.bytesRead - r.fileCost.bytesRead).toBeLessThanOrEqual(64 << 10)
      expect(r.fileCost.bytesRead).toBeLessThan(big.length + 1024)
      // a file of the base layer: the TOCs on the way down, then its chunks
      const b = yield* view.read("base/big")
      expect(b.bytes.length).toBe(2_000_000)
      expect(b.cost.reads).toBe(3) // mid and base tails, base chunks (the top TOC is cached)
      expect(b.fileCost.bytesRead).toBeLessThanOrEqual(image.layers[0]!.descriptor.size)
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("reads multi-chunk files of both lazy formats and checks every chunk", () =>
    Effect.gen(function* () {
      const content = noise(50_000, 3)
      for (const format of ["estargz", "zstd:chunked"] as const) {
        const blob = yield* encodeLayer(writeTar([file("f", content), file("g", "after")]), format, 4096)
        const image = yield* assembleImage([blob])
        const r = yield* readImageFile(image, "f")
        expect(digest(r.bytes)).toBe(digest(content))
        expect((yield* imageToc(image, 0)).toc.entries.filter((e) => e.type === "chunk").length).toBe(12)
        // flip one compressed byte inside the file's data: the chunk no longer inflates or hashes right
        const broken = blob.blob.slice()
        broken[Math.floor(broken.length / 4)]! ^= 0x55
        const bad = yield* assembleImage([{ ...blob, blob: broken }])
        expect(yield* Effect.flip(readImageFile(bad, "f"))).toMatchObject({ reason: "BadLayer", layer: 0 })
      }
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect(
    "a hardlink to a lower layer's file: read from a plain layer, refused in a lazy one (as Go does)",
    () =>
      Effect.gen(function* () {
        for (const format of ["gzip", "estargz", "zstd:chunked"] as const) {
          const image = yield* buildImage(
            layeredItems().map((items, i) => ({ items, format: i < 2 ? "tar" : format })),
          )
          if (format === "gzip") {
            const r = yield* readImageFile(image, "bin/tool2")
            expect(new TextDecoder().decode(r.bytes)).toBe("tool bytes")
            expect(r).toMatchObject({ path: "bin/tool2", layer: 2 })
          } else
            expect(yield* Effect.flip(readImageFile(image, "bin/tool2"))).toMatchObject({
              reason: "BadLayer",
              layer: 2,
            })
        }
      }).pipe(Effect.provide(TestServices)),
  )

  it.effect("reads from a plain layer by streaming it, and hardlinks inside one layer", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        { items: [file("a", "first"), hardlink("a.link", "a"), file("a", "second")], format: "gzip" },
        { items: [file("b", "b")], format: "estargz" },
      ])
      const view = makeImageView(image)
      const r = yield* view.read("a")
      expect(new TextDecoder().decode(r.bytes)).toBe("second")
      expect(r.fileCost.bytesRead).toBe(image.layers[0]!.descriptor.size)
      expect((yield* view.layer(0)).kind).toBe("plain")
      expect((yield* view.layer(1)).kind).toBe("lazy")
      expect(new TextDecoder().decode((yield* view.read("a.link")).bytes)).toBe("second")
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("works on the generated fixture image (plain gzip layers) and on it converted", () =>
    Effect.gen(function* () {
      const image = yield* openLayoutImage(yield* directorySource(fixture("image")))
      const lazy = yield* convertImage(image, "estargz")
      const tree = yield* imageTree(image)
      for (const e of tree.entries.filter((x) => x.type === "reg")) {
        const a = yield* readImageFile(image, e.path)
        const b = yield* readImageFile(lazy, e.path)
        expect([e.path, digest(a.bytes)]).toEqual([e.path, e.sha256])
        expect([e.path, digest(b.bytes)]).toEqual([e.path, e.sha256])
      }
      assert.isTrue(tree.entries.some((e) => e.type === "reg" && e.size > 0))
    }).pipe(Effect.provide(TestServices)),
  )
})
