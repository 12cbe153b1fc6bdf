import { execFileSync } from "node:child_process"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { directorySource, openLayoutImage } from "@lazypull/oci"
import { fixture } from "@lazypull/testkit"
import { writeTar } from "@lazypull/tar"
import { LANDMARK_DIGEST } from "@lazypull/toc"
import { diffTrees } from "./Diff.ts"
import { comparePaths, imageTree, type TreeEntry } from "./Tree.ts"
import {
  assembleImage,
  buildImage,
  digest,
  CAP,
  EXPECTED_PATHS,
  encodeLayer,
  file,
  layeredItems,
  type TestFormat,
  TestServices,
} from "./Tree.test-utils.ts"

const layered = (formats: ReadonlyArray<TestFormat>, duplicates = true) =>
  buildImage(layeredItems({ duplicates }).map((items, i) => ({ items, format: formats[i]! })))

const get = (entries: ReadonlyArray<TreeEntry>, path: string): TreeEntry => {
  const e = entries.find((x) => x.path === path)
  assert.isDefined(e, path)
  return e!
}

const base64 = (b: Uint8Array) => Buffer.from(b).toString("base64")

describe("imageTree", () => {
  it.effect("merges layers the way a runtime unpacks them (tar, gzip, zstd layers)", () =>
    Effect.gen(function* () {
      const image = yield* layered(["tar", "gzip", "zstd"])
      const tree = yield* imageTree(image)
      expect(tree.entries.map((e) => e.path)).toEqual(EXPECTED_PATHS)
      // later layers win; a duplicate path in one layer keeps its last occurrence
      expect(get(tree.entries, "etc/hostname")).toMatchObject({
        sha256: digest("upper-host\n"),
        size: 11,
        layer: 1,
      })
      expect(get(tree.entries, "etc/config")).toMatchObject({ sha256: digest("second"), mode: 0o600 })
      // a hardlink keeps the content its target had when it was made
      expect(get(tree.entries, "etc/hostname.hard")).toMatchObject({
        type: "hardlink",
        linkName: "etc/hostname",
        sha256: digest("base-host\n"),
        size: 10,
      })
      expect(get(tree.entries, "bin/tool2")).toMatchObject({ type: "hardlink", sha256: digest("tool bytes") })
      // a directory over a directory changes its metadata and keeps its children
      expect(get(tree.entries, "etc")).toMatchObject({ mode: 0o750, layer: 2, implicit: false })
      // whiteout of a directory, then a file under it again: an implicit directory of the top layer
      expect(get(tree.entries, "usr/share/doc")).toMatchObject({ implicit: true, layer: 2, mode: 0o755 })
      expect(get(tree.entries, "usr")).toMatchObject({ implicit: true, layer: 0 })
      // the explicit root entry "./"
      expect(get(tree.entries, "")).toMatchObject({ type: "dir", implicit: false, layer: 0 })
      expect(get(tree.entries, "bin/tool")).toMatchObject({
        mode: 0o4755,
        uid: 1000,
        gid: 1000,
        userName: "app",
        xattrs: { "security.capability": base64(CAP), "user.empty": "" },
        modtime: 1_704_164_645,
      })
      expect(get(tree.entries, "bin/sh")).toMatchObject({
        type: "symlink",
        linkName: "tool",
        sha256: "",
        size: 0,
      })
      expect(get(tree.entries, "dev/null")).toMatchObject({ type: "char", devMajor: 1, devMinor: 3 })
      expect(get(tree.entries, "opt/dir-replaced")).toMatchObject({
        type: "reg",
        sha256: digest("now a file"),
      })
      expect(get(tree.entries, "opt/replaced-by-dir")).toMatchObject({ type: "dir", layer: 1 })
      // a whiteout hides lower layers only, not what its own layer wrote
      expect(get(tree.entries, "same/keep").sha256).toBe(digest("kept"))
      expect(tree.children("var/cache")!.map((e) => e.path)).toEqual(["var/cache/fresh"])
      expect(tree.subtree("opt").map((e) => e.path)).toEqual([
        "opt",
        "opt/dir-replaced",
        "opt/replaced-by-dir",
        "opt/replaced-by-dir/k",
      ])
      expect(tree.layers.map((l) => [l.format, l.entries, l.whiteouts, l.opaqueDirs])).toEqual([
        ["tar", 20, 0, 0],
        ["gzip", 8, 3, 1],
        ["zstd", 3, 0, 0],
      ])
      expect(tree.artefacts).toEqual([])
      expect(tree.get("/etc/")?.path).toBe("etc")
    }).pipe(Effect.provide(TestServices)),
  )

  for (const format of ["estargz", "zstd:chunked", "storage"] as const) {
    it.effect(`gives the same tree for ${format} layers, converter artefacts set apart`, () =>
      Effect.gen(function* () {
        const duplicates = format !== "storage" // containers/storage refuses duplicate paths
        const plain = yield* imageTree(yield* layered(["tar", "gzip", "zstd"], duplicates))
        const lazy = yield* imageTree(yield* layered([format, format, format], duplicates))
        const d = diffTrees(plain, lazy)
        expect(d.changed).toEqual([])
        expect(d.missing).toEqual([])
        expect(d.added).toEqual([])
        assert.isTrue(d.same)
        const kinds = lazy.artefacts.map((a) => `${a.layer}:${a.kind}`)
        if (format === "storage") expect(kinds).toEqual([])
        else if (format === "estargz")
          expect(kinds).toEqual([
            "0:no-prefetch-landmark",
            "0:toc",
            "1:no-prefetch-landmark",
            "1:toc",
            "2:no-prefetch-landmark",
            "2:toc",
          ])
        else
          expect(kinds).toEqual([
            "0:no-prefetch-landmark",
            "1:no-prefetch-landmark",
            "2:no-prefetch-landmark",
          ])
        for (const a of lazy.artefacts.filter((x) => x.kind !== "toc")) expect(a.sha256).toBe(LANDMARK_DIGEST)
        expect(lazy.layers.map((l) => l.format)).toEqual(
          format === "estargz" ? ["gzip", "gzip", "gzip"] : ["zstd", "zstd", "zstd"],
        )
      }).pipe(Effect.provide(TestServices)),
    )
  }

  it.effect("a stargz.index.json or landmark that is not what a converter writes is content", () =>
    Effect.gen(function* () {
      const image = yield* buildImage([
        {
          items: [
            file(".prefetch.landmark", "not the landmark byte"),
            file("stargz.index.json", "{}"),
            file("after", "x"),
          ],
          format: "gzip",
        },
        { items: [file("stargz.index.json", "{}")], format: "tar" },
      ])
      const tree = yield* imageTree(image)
      expect(tree.entries.map((e) => e.path)).toEqual([
        "",
        ".prefetch.landmark",
        "after",
        "stargz.index.json",
      ])
      expect(get(tree.entries, "stargz.index.json").layer).toBe(0)
      // the last entry of a layer called stargz.index.json is taken for an in-tar TOC
      expect(tree.artefacts).toEqual([
        { layer: 1, path: "stargz.index.json", kind: "toc", size: 2, sha256: digest("{}") },
      ])
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("fails with BadLayer on a corrupt stream, a bad tar, a bad whiteout or a file as root", () =>
    Effect.gen(function* () {
      const good = yield* encodeLayer(writeTar([file("a", "a".repeat(5000))]), "gzip")
      const corrupt = good.blob.slice()
      corrupt[Math.floor(corrupt.length / 2)]! ^= 0xff
      const garbage = new Uint8Array(1024).fill(0x41)
      const cases = [
        { blob: corrupt, mediaType: good.mediaType, diffId: good.diffId },
        { blob: garbage, mediaType: "application/vnd.oci.image.layer.v1.tar", diffId: digest(garbage) },
        yield* encodeLayer(writeTar([file("x/.wh.", "")]), "tar"),
        yield* encodeLayer(writeTar([file("./", "root as a file")]), "tar"),
      ]
      for (const c of cases) {
        const image = yield* assembleImage([yield* encodeLayer(writeTar([file("ok", "ok")]), "tar"), c])
        const e = yield* Effect.flip(imageTree(image))
        expect(e).toMatchObject({ _tag: "ImageError", reason: "BadLayer", layer: 1 })
        expect(e.message).toContain(image.layers[1]!.descriptor.digest)
      }
    }).pipe(Effect.provide(TestServices)),
  )

  it.effect("the generated fixture image matches an independent merge with Python's tarfile", () =>
    Effect.gen(function* () {
      const root = fixture("image")
      const image = yield* openLayoutImage(yield* directorySource(root))
      const tree = yield* imageTree(image)
      const layers = image.layers.map((l) => `${root}/${l.path}`)
      const oracle = JSON.parse(
        execFileSync("python3", ["-c", PY_MERGE, ...layers], { encoding: "utf8" }),
      ) as Array<Record<string, unknown>>
      const ours = tree.entries
        .filter((e) => !e.implicit)
        .map((e) => ({
          path: e.path,
          type: e.type,
          size: e.size,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          linkName: e.linkName,
          xattrs: e.xattrs,
          sha256: e.sha256,
        }))
      expect(ours).toEqual(oracle)
      expect(ours.length).toBeGreaterThan(20)
      const paths = tree.entries.map((e) => e.path)
      expect([...paths].sort(comparePaths)).toEqual(paths)
    }).pipe(Effect.provide(TestServices)),
  )
})

// An independent merge of layers without whiteouts: Python's tarfile, gzip, hashlib (later layers win; hardlinks
// carry their target's content).
const PY_MERGE = `
import sys, tarfile, hashlib, json, base64, posixpath
out = {}
for path in sys.argv[1:]:
    with tarfile.open(path, "r:*") as tf:
        for m in tf.getmembers():
            name = posixpath.normpath("/" + m.name).lstrip("/")
            name = "" if name == "." else name
            t = {tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
                 tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}[m.type]
            e = {"path": name, "type": t, "size": 0, "mode": m.mode & 0o7777, "uid": m.uid, "gid": m.gid,
                 "linkName": "", "xattrs": {}, "sha256": ""}
            if t == "reg":
                data = tf.extractfile(m).read()
                e["size"] = len(data)
                e["sha256"] = "sha256:" + hashlib.sha256(data).hexdigest()
            if t == "symlink":
                e["linkName"] = m.linkname
            if t == "hardlink":
                target = posixpath.normpath("/" + m.linkname).lstrip("/")
                e["linkName"] = target
                e["size"] = out[target]["size"]
                e["sha256"] = out[target]["sha256"]
            xs = {k[len("SCHILY.xattr."):]: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
            raw = {}
            for k, v in xs.items():
                b = v.encode("utf-8", "surrogateescape")
                raw[k] = base64.b64encode(b).decode()
            e["xattrs"] = {k: raw[k] for k in sorted(raw)}
            out[name] = e
keys = sorted(out, key=lambda s: s.encode("utf-8"))
print(json.dumps([out[k] for k in keys]))
`
