import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { gunzipSync } from "node:zlib"
import { Effect } from "effect"
import { runCommand } from "./Command.ts"
import { fixture, fixturesDir } from "./Paths.ts"
import { ensureFixtures } from "./Setup.ts"
import { tmpDir } from "./TmpDir.ts"
import { describeWithTool } from "./Tools.ts"

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

const plainTars = [
  "ustar.tar",
  "gnu.tar",
  "pax.tar",
  "whiteout.tar",
  "big.tar",
  "implicit-parent.tar",
  "devices.tar",
  "duplicates.tar",
  "unsupported-sparse.tar",
  "unsupported-global-pax.tar",
  "empty.tar",
  "no-eof.tar",
  "trailing-garbage.tar",
]
const compressed = ["ustar.tar.gz", "pax.tar.gz", "big.tar.gz", "pax.tar.zst", "big.tar.zst"]

/** GNU tar's listing of an archive (names exactly as stored, no quoting). */
const gnuList = (file: string, extra: ReadonlyArray<string> = []) =>
  Effect.promise(() => runCommand("tar", ["--quoting-style=literal", ...extra, "-tf", file])).pipe(
    Effect.map((r) => ({
      code: r.code,
      names: r.stdout
        .toString("utf8")
        .split("\n")
        .filter((l) => l !== ""),
      stderr: r.stderr,
    })),
  )

/** Every file under dir, relative path -> sha256. */
const treeDigests = (dir: string): Map<string, string> => {
  const out = new Map<string, string>()
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.set(relative(dir, p), sha256(readFileSync(p)))
    }
  }
  walk(dir)
  return out
}

describe("generated fixtures", () => {
  it("every documented fixture exists", () => {
    for (const name of [
      ...plainTars,
      ...compressed,
      "record-in.json",
      "image/index.json",
      "image/oci-layout",
    ]) {
      assert.isTrue(statSync(fixture(name)).isFile(), name)
    }
  })

  it("plain tars are whole 512-byte blocks, except trailing-garbage.tar", () => {
    for (const name of plainTars) {
      const size = statSync(fixture(name)).size
      if (name === "trailing-garbage.tar") assert.strictEqual(size % 512, 100, name)
      else assert.strictEqual(size % 512, 0, name)
    }
  })

  it("no-eof.tar ends right after its last entry; trailing-garbage.tar has end blocks then 100 junk bytes", () => {
    const noEof = readFileSync(fixture("no-eof.tar"))
    assert.isFalse(noEof.subarray(noEof.length - 1024).every((b) => b === 0))
    const junk = readFileSync(fixture("trailing-garbage.tar"))
    const end = junk.length - 100
    assert.isTrue(junk.subarray(end - 1024, end).every((b) => b === 0))
    assert.isFalse(junk.subarray(end).every((b) => b === 0))
  })

  it("empty.tar holds only zero blocks", () => {
    const b = readFileSync(fixture("empty.tar"))
    assert.isAtLeast(b.length, 1024)
    assert.isTrue(b.every((x) => x === 0))
  })

  it("the special headers are really there", () => {
    const gnu = readFileSync(fixture("gnu.tar")).toString("latin1")
    assert.include(gnu, "././@LongLink")
    // 'L' (long name) and 'K' (long link target) records at byte 156 of their headers
    const flags = new Set<string>()
    for (let o = 0; o + 512 <= gnu.length; o += 512)
      if (gnu.startsWith("././@LongLink", o)) flags.add(gnu[o + 156]!)
    assert.deepStrictEqual([...flags].sort(), ["K", "L"])
    const pax = readFileSync(fixture("pax.tar")).toString("latin1")
    assert.include(pax, "hdrcharset=BINARY")
    assert.include(pax, "SCHILY.xattr.security.capability=")
    assert.include(pax, "SCHILY.xattr.user.empty=\n")
    assert.include(pax, " mtime=1704164645.6\n")
    const global = readFileSync(fixture("unsupported-global-pax.tar"))
    assert.strictEqual(String.fromCharCode(global[156]!), "g")
    const sparse = readFileSync(fixture("unsupported-sparse.tar")).toString("latin1")
    assert.include(sparse, "GNU.sparse.major=1")
    assert.include(sparse, "GNUSparseFile.0/holes.img")
  })

  it("record-in.json is ctr-remote NDJSON naming files of ustar.tar and one missing path", () => {
    const lines = readFileSync(fixture("record-in.json"), "utf8").trim().split("\n")
    const records = lines.map((l) => JSON.parse(l))
    for (const r of records) {
      assert.deepStrictEqual(Object.keys(r).sort(), ["layerIndex", "manifestDigest", "path"])
      assert.match(r.manifestDigest, /^sha256:[0-9a-f]{64}$/)
      assert.strictEqual(r.layerIndex, 0)
    }
    assert.include(
      records.map((r) => r.path),
      "etc/does-not-exist",
    )
  })

  it("image/ is an OCI layout whose digests, sizes and diff_ids are right", () => {
    const root = fixture("image")
    const blob = (d: string) => readFileSync(join(root, "blobs", "sha256", d.replace(/^sha256:/, "")))
    const check = (desc: { digest: string; size: number }) => {
      const b = blob(desc.digest)
      assert.strictEqual(`sha256:${sha256(b)}`, desc.digest)
      assert.strictEqual(b.length, desc.size)
      return b
    }
    assert.deepStrictEqual(JSON.parse(readFileSync(join(root, "oci-layout"), "utf8")), {
      imageLayoutVersion: "1.0.0",
    })
    const index = JSON.parse(readFileSync(join(root, "index.json"), "utf8"))
    assert.strictEqual(index.manifests.length, 1)
    assert.strictEqual(index.manifests[0].annotations["org.opencontainers.image.ref.name"], "latest")
    const manifest = JSON.parse(check(index.manifests[0]).toString("utf8"))
    assert.strictEqual(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json")
    const config = JSON.parse(check(manifest.config).toString("utf8"))
    assert.strictEqual(manifest.layers.length, 2)
    const diffIds = manifest.layers.map(
      (l: { digest: string; size: number }) => `sha256:${sha256(gunzipSync(check(l)))}`,
    )
    assert.deepStrictEqual(config.rootfs, { type: "layers", diff_ids: diffIds })
    assert.deepStrictEqual(diffIds, [
      `sha256:${sha256(readFileSync(fixture("ustar.tar")))}`,
      `sha256:${sha256(readFileSync(fixture("pax.tar")))}`,
    ])
  })
})

describeWithTool("gnu-tar", "GNU tar reads the fixtures", () => {
  it.effect("lists every plain tar without error", () =>
    Effect.gen(function* () {
      for (const name of plainTars) {
        const r = yield* gnuList(fixture(name))
        assert.strictEqual(r.code, 0, `${name}: ${r.stderr}`)
      }
    }),
  )

  it.effect("lists the expected names", () =>
    Effect.gen(function* () {
      const ustar = yield* gnuList(fixture("ustar.tar"))
      assert.strictEqual(ustar.names[0], "./")
      assert.isTrue(ustar.names.every((n) => n.startsWith("./")))
      assert.includeMembers(ustar.names, ["./etc/hostname", "./usr/bin/hello-hard", "./usr/bin/hi"])
      const gnu = yield* gnuList(fixture("gnu.tar"))
      assert.isTrue(gnu.names.some((n) => n.length > 100))
      assert.include(gnu.names, "srv/name with space.txt")
      const pax = yield* gnuList(fixture("pax.tar"))
      assert.includeMembers(pax.names, ["usr/share/unicode/café.txt", "usr/share/unicode/日本語.txt"])
      assert.isTrue(pax.names.some((n) => n.length >= 127))
      assert.deepStrictEqual((yield* gnuList(fixture("implicit-parent.tar"))).names, ["a/b/c.txt"])
      assert.deepStrictEqual((yield* gnuList(fixture("empty.tar"))).names, [])
      assert.deepStrictEqual((yield* gnuList(fixture("no-eof.tar"))).names, [
        "dir/",
        "dir/file.txt",
        "dir/second.txt",
      ])
      assert.deepStrictEqual((yield* gnuList(fixture("trailing-garbage.tar"))).names, [
        "dir/",
        "dir/file.txt",
        "dir/second.txt",
      ])
      const dups = (yield* gnuList(fixture("duplicates.tar"))).names
      assert.strictEqual(dups.filter((n) => n === "etc/config").length, 2)
      const wh = (yield* gnuList(fixture("whiteout.tar"))).names
      assert.includeMembers(wh, ["etc/.wh.motd", "var/cache/.wh..wh..opq"])
    }),
  )

  it.effect("the compressed copies hold the same tar", () =>
    Effect.gen(function* () {
      for (const name of compressed) {
        const plain = yield* gnuList(fixture(name.replace(/\.(gz|zst)$/, "")))
        const flag = name.endsWith(".zst") ? "--zstd" : "--gzip"
        const r = yield* gnuList(fixture(name), [flag])
        assert.strictEqual(r.code, 0, `${name}: ${r.stderr}`)
        assert.deepStrictEqual(r.names, plain.names, name)
      }
    }),
  )
})

describeWithTool(["gnu-tar", "python3", "gzip", "zstd"], "test-fixtures/generate.sh", () => {
  it("is deterministic: a second run gives byte-identical files", () => {
    const out = join(tmpDir(), "out")
    const outcome = ensureFixtures({ outDir: out, ci: true })
    assert.strictEqual(outcome.action, "generated")
    assert.deepStrictEqual(treeDigests(out), treeDigests(fixturesDir()))
    assert.strictEqual(ensureFixtures({ outDir: out, ci: true }).action, "up-to-date")
  })
})
