// Bad input to the image commands: each case is one line on stderr, exit 3, and the destination untouched.
import { cpSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { describe, expect, it } from "vitest"
import { repoRoot, requireTool, runCommand, tmpDir } from "@lazypull/testkit"
import { lazypull, sha256 } from "./cli.test-utils.ts"

const SAMPLE = join(repoRoot(), "test-fixtures", "sample", "image")
const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"))
const blobOf = (dir: string, digest: string) => join(dir, "blobs", ...digest.split(":"))

interface Layout {
  dir: string
  index: any
  manifestDigest: string
  manifest: any
  config: any
}

const open = (dir: string): Layout => {
  const index = readJson(join(dir, "index.json"))
  const manifestDigest = index.manifests[0].digest
  const manifest = readJson(blobOf(dir, manifestDigest))
  return { dir, index, manifestDigest, manifest, config: readJson(blobOf(dir, manifest.config.digest)) }
}

/** Stores bytes as a blob of the layout; returns its descriptor fields. */
const put = (dir: string, bytes: Uint8Array) => {
  const digest = sha256(bytes)
  writeFileSync(blobOf(dir, digest), bytes)
  return { digest, size: bytes.length }
}

/** Rewrites manifest (and config) JSON of a copy of the sample and points index.json at the result. */
const withManifest = (l: Layout, edit: (m: any, c: any) => void) => {
  const m = structuredClone(l.manifest)
  const c = structuredClone(l.config)
  edit(m, c)
  m.config = { ...m.config, ...put(l.dir, Buffer.from(JSON.stringify(c))) }
  const md = put(l.dir, Buffer.from(JSON.stringify(m)))
  l.index.manifests[0] = { ...l.index.manifests[0], ...md }
  writeFileSync(join(l.dir, "index.json"), JSON.stringify(l.index))
}

const CASES: Array<[string, (l: Layout) => void, RegExp]> = [
  [
    "index.json is not JSON",
    (l) => writeFileSync(join(l.dir, "index.json"), '{"schemaVersion":2,"manifests":[{"mediaT'),
    /index\.json/,
  ],
  [
    "the manifest is not JSON (its digest matches)",
    (l) => {
      const md = put(l.dir, Buffer.from("{not json"))
      l.index.manifests[0] = { ...l.index.manifests[0], ...md }
      writeFileSync(join(l.dir, "index.json"), JSON.stringify(l.index))
    },
    /blobs\/sha256\/[0-9a-f]{64}.*(JSON|json)|(JSON|json).*blobs\/sha256/,
  ],
  [
    "the config has no rootfs",
    (l) =>
      withManifest(l, (_m, c) => {
        delete c.rootfs
      }),
    /rootfs/,
  ],
  [
    "a layer blob is missing",
    (l) => rmSync(blobOf(l.dir, l.manifest.layers[1].digest)),
    /does not exist|missing|not found/i,
  ],
  [
    "a layer's size differs from its descriptor",
    (l) =>
      withManifest(l, (m) => {
        m.layers[0].size += 1
      }),
    /descriptor says/,
  ],
  [
    "a layer does not hash to its digest",
    (l) => {
      const p = blobOf(l.dir, l.manifest.layers[0].digest)
      const b = readFileSync(p)
      // a changed byte in the gzip header's mtime keeps the gzip valid: only the digest can tell
      b[4] = b[4]! ^ 1
      writeFileSync(p, b)
    },
    /hashes to sha256:[0-9a-f]{64}/,
  ],
  [
    "an unknown layer media type",
    (l) =>
      withManifest(l, (m) => {
        m.layers[0].mediaType = "application/vnd.example.unknown"
      }),
    /application\/vnd\.example\.unknown/,
  ],
  [
    "a layer that is not a tar (valid gzip of random bytes)",
    (l) => {
      const junk = gzipSync(Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)))
      const d = put(l.dir, junk)
      withManifest(l, (m) => {
        m.layers[1] = { ...m.layers[1], ...d }
      })
    },
    /layer 1/,
  ],
]

describe("bad images: one line, exit 3, destination untouched", () => {
  for (const [what, mutate, message] of CASES)
    it(what, async () => {
      const d = tmpDir()
      cpSync(SAMPLE, join(d, "src"), { recursive: true })
      mutate(open(join(d, "src")))
      writeFileSync(join(d, "out.tar"), "previous archive")
      const r = await lazypull(["convert", "oci:src", "oci-archive:out.tar"], { cwd: d })
      expect(r.code, r.stderr).toBe(3)
      // progress lines (a pipe gets plain ones) may come first; the error is one line, the last
      const errors = r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("lazypull:"))
      expect(errors).toHaveLength(1)
      expect(r.stderr.trim().split("\n").at(-1)).toBe(errors[0])
      expect(errors[0]).toMatch(/^lazypull: oci:src: /)
      expect(errors[0]).toMatch(message)
      expect(readFileSync(join(d, "out.tar"), "utf8")).toBe("previous archive")
      expect(readdirSync(d).sort()).toEqual(["out.tar", "src"])
      // check reads the same image: a broken document is a runtime error too, a broken layer a failed check
      const c = await lazypull(["check", "oci:src"], { cwd: d })
      expect([1, 3]).toContain(c.code)
    })

  it("a truncated OCI archive", async () => {
    const d = tmpDir()
    const ok = await lazypull(["convert", `oci:${SAMPLE}`, "oci-archive:good.tar"], { cwd: d })
    expect(ok.code, ok.stderr).toBe(0)
    cpSync(join(d, "good.tar"), join(d, "cut.tar"))
    truncateSync(join(d, "cut.tar"), Math.floor(readFileSync(join(d, "good.tar")).length / 2))
    const r = await lazypull(["convert", "oci-archive:cut.tar", "oci:out"], { cwd: d })
    expect(r.code, r.stderr).toBe(3)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toMatch(/cut\.tar/)
    expect(readdirSync(d).sort()).toEqual(["cut.tar", "good.tar"])
  })

  it.skipIf(!requireTool("skopeo"))(
    "a docker archive whose manifest.json names a missing layer",
    async () => {
      const d = tmpDir()
      const made = await runCommand("skopeo", [
        "copy",
        "-q",
        `oci:${SAMPLE}:latest`,
        `docker-archive:${join(d, "a.tar")}:x/y:1`,
      ])
      expect(made.code, made.stderr).toBe(0)
      // rewrite the archive with manifest.json naming a layer file that is not in it
      const x = join(d, "x")
      cpSync(join(d, "a.tar"), join(d, "keep.tar"))
      await runCommand("mkdir", [x])
      expect((await runCommand("tar", ["-xf", join(d, "a.tar"), "-C", x])).code).toBe(0)
      const manifest = readJson(join(x, "manifest.json"))
      manifest[0].Layers[1] = "0000000000000000000000000000000000000000000000000000000000000000.tar"
      writeFileSync(join(x, "manifest.json"), JSON.stringify(manifest))
      rmSync(join(d, "a.tar"))
      expect((await runCommand("tar", ["-cf", join(d, "a.tar"), "-C", x, "."])).code).toBe(0)
      rmSync(x, { recursive: true })
      const r = await lazypull(["convert", "docker-archive:a.tar", "oci:out"], { cwd: d })
      expect(r.code, r.stderr).toBe(3)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toMatch(/0{64}\.tar/)
      expect(readdirSync(d).sort()).toEqual(["a.tar", "keep.tar"])
    },
  )
})
