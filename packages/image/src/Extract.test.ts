import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { tmpDir } from "@lazypull/testkit"
import { writeTar } from "@lazypull/tar"
import { extractImage } from "./Extract.ts"
import {
  assembleImage,
  buildImage,
  dir,
  encodeLayer,
  file,
  layeredItems,
  noise,
  symlink,
  TestServices,
} from "./Tree.test-utils.ts"

/** Every path under `root`, relative, sorted. */
const walk = (root: string, rel = ""): Array<string> => {
  const out: Array<string> = []
  for (const name of readdirSync(join(root, rel))) {
    const p = rel === "" ? name : `${rel}/${name}`
    out.push(p)
    if (lstatSync(join(root, p)).isDirectory()) out.push(...walk(root, p))
  }
  return out.sort()
}

const mode = (p: string) => lstatSync(p).mode & 0o7777

describe("extractImage", () => {
  it.effect("writes files, directories and symlinks of the merged image; devices are skipped", () =>
    Effect.gen(function* () {
      const image = yield* buildImage(
        layeredItems({ crossLink: false }).map((items, i) => ({
          items,
          format: i === 1 ? "gzip" : "estargz",
        })),
      )
      const out = join(tmpDir(), "out")
      const report = yield* extractImage(
        image,
        ["/etc", "bin/sh", "bin/tool", "dev", "usr/share/doc/new"],
        out,
      )
      expect(walk(out)).toEqual([
        "bin",
        "bin/sh",
        "bin/tool",
        "dev",
        "etc",
        "etc/config",
        "etc/hostname",
        "etc/hostname.hard",
        "usr",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/new",
      ])
      expect(readFileSync(join(out, "etc/hostname"), "utf8")).toBe("upper-host\n")
      expect(readFileSync(join(out, "etc/hostname.hard"), "utf8")).toBe("base-host\n")
      expect(lstatSync(join(out, "etc/hostname.hard")).isFile()).toBe(true)
      expect(readFileSync(join(out, "etc/config"), "utf8")).toBe("second")
      expect(mode(join(out, "etc/config"))).toBe(0o600)
      expect(mode(join(out, "etc"))).toBe(0o750)
      expect(mode(join(out, "bin/tool"))).toBe(0o755) // setuid dropped
      expect(readlinkSync(join(out, "bin/sh"))).toBe("tool")
      expect(readFileSync(join(out, "bin/sh"), "utf8")).toBe("tool bytes")
      expect(report.skipped).toEqual([
        { path: "dev/null", type: "char", reason: "devices and FIFOs are not extracted" },
      ])
      expect(report.written.find((w) => w.path === "etc/hostname")).toEqual({
        path: "etc/hostname",
        type: "reg",
        size: 11,
      })
      expect(report.cost.reads).toBeGreaterThan(0)
      // a second run replaces files in place
      yield* extractImage(image, ["etc/hostname"], out)
      expect(readFileSync(join(out, "etc/hostname"), "utf8")).toBe("upper-host\n")
      expect(walk(out).filter((p) => p.includes(".lazypull-"))).toEqual([])
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("extracts a large lazy file in windows of chunks, verified", () =>
    Effect.gen(function* () {
      const big = noise(3_000_000, 9)
      const layer = yield* encodeLayer(writeTar([file("data/big", big)]), "zstd:chunked", 1 << 20)
      const image = yield* assembleImage([layer])
      const out = join(tmpDir(), "out")
      yield* extractImage(image, ["data"], out)
      expect(Buffer.compare(readFileSync(join(out, "data/big")), Buffer.from(big))).toBe(0)
    }).pipe(Effect.provide(TestServices)),
  )

  const hostile = [
    { name: "an absolute symlink", items: [symlink("evil", "/etc/passwd")], paths: ["evil"] },
    {
      name: "a symlink with too many ..",
      items: [dir("a/"), symlink("a/up", "../../outside")],
      paths: ["a"],
    },
    {
      name: "a symlink through another symlink of the image",
      items: [dir("a/"), symlink("a/up", ".."), symlink("t", "a/up/../x")],
      paths: ["a", "t"],
    },
  ]
  for (const h of hostile) {
    it.effect(`refuses ${h.name} before writing anything (or skips it when asked)`, () =>
      Effect.gen(function* () {
        const image = yield* buildImage([{ items: [file("ok", "ok"), ...h.items], format: "estargz" }])
        const out = join(tmpDir(), "out")
        const e = yield* Effect.flip(extractImage(image, ["ok", ...h.paths], out))
        expect(e).toMatchObject({ _tag: "ImageError", reason: "Escape" })
        expect(existsSync(out) ? walk(out) : []).toEqual([])
        const report = yield* extractImage(image, ["ok", ...h.paths], out, { unsafeSymlinks: "skip" })
        expect(report.skipped.length).toBe(1)
        expect(walk(out)).toContain("ok")
        expect(walk(out)).not.toContain(report.skipped[0]!.path)
      }).pipe(Effect.provide(TestServices)),
    )
  }

  it.effect("a link inside the image that stays inside is written", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        {
          items: [dir("a/"), symlink("a/up", ".."), symlink("t", "a/up/ok"), file("ok", "ok")],
          format: "estargz",
        },
      ])
      const out = join(tmpDir(), "out")
      yield* extractImage(image, ["a", "t", "ok"], out)
      expect(readFileSync(join(out, "t"), "utf8")).toBe("ok")
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("refuses .. in a requested path, and writing through a symlink already in the target", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        { items: [file("etc/hostname", "h"), symlink("s", "lnk/etc")], format: "estargz" },
      ])
      const base = tmpDir()
      const out = join(base, "out")
      expect(yield* Effect.flip(extractImage(image, ["../etc/hostname"], out))).toMatchObject({
        reason: "Escape",
      })
      expect(yield* Effect.flip(extractImage(image, ["etc/../../x"], out))).toMatchObject({
        reason: "Escape",
      })
      const outside = join(base, "outside")
      mkdirSync(outside)
      mkdirSync(out, { recursive: true })
      symlinkSync(outside, join(out, "etc"))
      expect(yield* Effect.flip(extractImage(image, ["etc/hostname"], out))).toMatchObject({
        reason: "Escape",
        path: "etc",
      })
      expect(readdirSync(outside)).toEqual([])
      // an image symlink that would leave through a symlink already in the target
      symlinkSync("/", join(out, "lnk"))
      expect(yield* Effect.flip(extractImage(image, ["s"], out))).toMatchObject({
        reason: "Escape",
        path: "s",
      })
      expect(lstatSync(join(out, "etc")).isSymbolicLink()).toBe(true)
      expect(existsSync(join(out, "s"))).toBe(false)
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("tar names with .. or / land inside the target, as a runtime unpacks them", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        { items: [file("../../evil", "e"), file("/abs/file", "a"), file("./x/../y", "y")], format: "tar" },
      ])
      const base = tmpDir()
      const out = join(base, "out")
      yield* extractImage(image, ["/"], out)
      expect(walk(out)).toEqual(["abs", "abs/file", "evil", "y"])
      expect(readdirSync(base)).toEqual(["out"])
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a chunk that fails verification leaves neither the file nor a temp file", () =>
    Effect.gen(function* () {
      const content = noise(40_000, 4)
      const layer = yield* encodeLayer(writeTar([file("f", content)]), "estargz", 4096)
      const broken = layer.blob.slice()
      broken[Math.floor(broken.length / 2)]! ^= 0x55
      const image = yield* assembleImage([{ ...layer, blob: broken }])
      const out = join(tmpDir(), "out")
      expect(yield* Effect.flip(extractImage(image, ["f"], out))).toMatchObject({ reason: "BadLayer" })
      expect(walk(out)).toEqual([])
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("a requested path through a symlinked directory lands at its path in the image", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        { items: [file("usr/lib/a", "a"), symlink("lib", "usr/lib")], format: "zstd:chunked" },
      ])
      const out = join(tmpDir(), "out")
      const report = yield* extractImage(image, ["lib/a", "lib"], out)
      expect(walk(out)).toEqual(["lib", "usr", "usr/lib", "usr/lib/a"])
      expect(readlinkSync(join(out, "lib"))).toBe("usr/lib")
      expect(report.written.map((w) => [w.path, w.type])).toEqual([
        ["lib", "symlink"],
        ["usr/lib/a", "reg"],
      ])
      expect(yield* Effect.flip(extractImage(image, ["lib"], ""))).toMatchObject({ reason: "BadOption" })
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("NotFound for a path the image does not have", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([{ items: [file("a", "a")], format: "gzip" }])
      expect(yield* Effect.flip(extractImage(image, ["b"], join(tmpDir(), "out")))).toMatchObject({
        reason: "NotFound",
      })
    }).pipe(Effect.provide(TestServices)),
  )
})
