import { assert, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { chmodSync, copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as fc from "fast-check"
import { runCommand } from "./Command.ts"
import { runInterop } from "./Interop.ts"
import { fixture } from "./Paths.ts"
import { tmpDir } from "./TmpDir.ts"
import { describeWithTool } from "./Tools.ts"

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const interop = (...args: Array<string>) => Effect.promise(() => runInterop(args))
const byName = (files: ReadonlyArray<any>) => new Map(files.map((f) => [f.name, f]))

/** Builds a blob with the reference and checks it with `verify`, returning both documents. */
const buildAndVerify = (input: string, zstd: boolean, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const out = join(tmpDir(), zstd ? "layer.zst" : "layer.esgz")
    const z = zstd ? ["--zstdchunked"] : []
    const build = yield* interop("build", "--in", input, "--out", out, ...z, ...extra)
    assert.strictEqual(build.code, 0, build.stdout)
    assert.strictEqual(build.json.blobDigest, sha256(readFileSync(out)))
    const verify = yield* interop(
      "verify",
      "--in",
      out,
      "--toc-digest",
      build.json.tocDigest,
      "--diff-id",
      build.json.diffID,
      "--uncompressed-size",
      String(build.json.uncompressedSize),
      ...z,
    )
    assert.strictEqual(verify.code, 0, verify.stdout)
    return { out, build: build.json, verify: verify.json }
  })

describeWithTool("lazypull-interop", "lazypull-interop listtar", () => {
  it.effect("reports pax.tar's binary xattr, empty xattr, modes, owners and rounded mtimes", () =>
    Effect.gen(function* () {
      const r = yield* interop("listtar", "--in", fixture("pax.tar"))
      assert.strictEqual(r.code, 0, r.stderr)
      assert.isTrue(r.json.ok)
      const files = byName(r.json.files)
      const cap = Buffer.from(files.get("bin/ping").xattrs["security.capability"], "base64")
      assert.strictEqual(cap.toString("hex"), "0100000280040000000000000000000000000000")
      assert.throws(() => new TextDecoder("utf-8", { fatal: true }).decode(cap))
      assert.deepStrictEqual(files.get("data/empty-xattr.txt").xattrs, {
        "user.empty": "",
        "user.mime_type": Buffer.from("text/plain").toString("base64"),
      })
      assert.deepStrictEqual(files.get("data").xattrs, {
        "user.purpose": Buffer.from("data").toString("base64"),
      })
      assert.strictEqual(files.get("data").mode, "02775")
      assert.strictEqual(files.get("tmp").mode, "01777")
      assert.strictEqual(files.get("bin/setuid-tool").mode, "04755")
      assert.include(files.get("data/secret"), { mode: "0600", uid: 1000, gid: 1000 })
      assert.strictEqual(files.get("data/fractional-mtime.txt").modtime, "2024-01-02T03:04:06Z")
      assert.strictEqual(files.get("data/epoch.txt").modtime, "")
      assert.strictEqual(files.get("usr/share/unicode/über").linkName, "café.txt")
      assert.isTrue([...files.keys()].some((n) => n.length >= 127))
      const names = r.json.files.map((f: any) => f.name)
      assert.deepStrictEqual(names, [...names].sort())
    }),
  )

  it.effect("gives the same facts for the .gz and .zst copies, and their diffID is the plain tar's", () =>
    Effect.gen(function* () {
      for (const base of ["pax.tar", "big.tar"]) {
        const plain = (yield* interop("listtar", "--in", fixture(base))).json
        assert.strictEqual(plain.diffID, sha256(readFileSync(fixture(base))))
        for (const ext of [".gz", ".zst"]) {
          const c = (yield* interop("listtar", "--in", fixture(base + ext))).json
          assert.strictEqual(c.compression, ext === ".gz" ? "gzip" : "zstd")
          assert.strictEqual(c.diffID, plain.diffID)
          assert.deepStrictEqual(c.files, plain.files)
        }
      }
    }),
  )

  it.effect("keeps the last occurrence of a duplicated path and cleans ./ names", () =>
    Effect.gen(function* () {
      const dup = byName((yield* interop("listtar", "--in", fixture("duplicates.tar"))).json.files)
      assert.strictEqual(dup.size, 3)
      assert.include(dup.get("etc/config"), {
        mode: "0600",
        sha256: sha256(Buffer.from("second version wins\n")),
        modtime: "2024-01-02T03:05:05Z",
      })
      const ustar = byName((yield* interop("listtar", "--in", fixture("ustar.tar"))).json.files)
      assert.include(ustar.get(""), { type: "dir" })
      assert.include(ustar.get("usr/bin/hello-hard"), { type: "hardlink", linkName: "usr/bin/hello" })
      assert.include(ustar.get("usr/bin/hi"), { type: "symlink", linkName: "hello" })
      const dev = byName((yield* interop("listtar", "--in", fixture("devices.tar"))).json.files)
      assert.include(dev.get("dev/null"), { type: "char", devMajor: 1, devMinor: 3 })
      assert.include(dev.get("dev/loop0"), { type: "block", devMajor: 7, devMinor: 0 })
      assert.include(dev.get("run/initctl"), { type: "fifo" })
    }),
  )

  it.effect("fails with a JSON error for a missing input", () =>
    Effect.gen(function* () {
      const r = yield* interop("listtar", "--in", join(tmpDir(), "nope.tar"))
      assert.strictEqual(r.code, 1)
      assert.include(r.json, { ok: false, stage: "read" })
    }),
  )
})

describeWithTool("lazypull-interop", "lazypull-interop build + verify", () => {
  for (const zstd of [false, true]) {
    it.effect(`round-trips big.tar (${zstd ? "zstd:chunked" : "eStargz"})`, () =>
      Effect.gen(function* () {
        const { out, build, verify } = yield* buildAndVerify(fixture("big.tar"), zstd)
        const listed = (yield* interop("listtar", "--in", fixture("big.tar"))).json
        assert.deepStrictEqual(verify.files, listed.files)
        assert.strictEqual(verify.tocDigest, build.tocDigest)
        assert.deepStrictEqual(verify.annotations, build.annotations)
        assert.strictEqual(verify.landmark, ".no.prefetch.landmark")
        // big.bin: 2 chunks; exact-4MiB: 1; one-byte: 1; landmark: 1; the empty file has none
        assert.strictEqual(verify.chunkCount, 5)
        const toc = (yield* interop("toc", "--in", out, ...(zstd ? ["--zstdchunked"] : []))).stdout
        assert.strictEqual(sha256(Buffer.from(toc, "utf8")), build.tocDigest)
        const entries: Array<any> = JSON.parse(toc).entries
        const big = entries.find((e) => e.name === "data/big.bin")
        assert.strictEqual(big.chunkSize, 4 * 1024 * 1024)
        const exact = entries.find((e) => e.name === "data/exact-4MiB.bin")
        assert.strictEqual(exact.chunkSize, 4 * 1024 * 1024)
        assert.strictEqual(entries.filter((e) => e.type === "chunk").length, 1)
        if (zstd) {
          assert.match(build.annotations["io.containers.zstd-chunked.manifest-position"], /^\d+:\d+:\d+:1$/)
        }
      }),
    )
  }

  it.effect("detects a corrupted chunk, a wrong TOC digest and a wrong diffID", () =>
    Effect.gen(function* () {
      const { out, build } = yield* buildAndVerify(fixture("big.tar"), false)
      const toc = JSON.parse((yield* interop("toc", "--in", out)).stdout)
      const big = toc.entries.find((e: any) => e.name === "data/big.bin")
      const bad = join(tmpDir(), "corrupt.esgz")
      copyFileSync(out, bad)
      const bytes = readFileSync(bad)
      bytes[big.offset + 200] = bytes[big.offset + 200]! ^ 0xff
      writeFileSync(bad, bytes)
      const corrupt = yield* interop("verify", "--in", bad, "--toc-digest", build.tocDigest)
      assert.strictEqual(corrupt.code, 1)
      assert.isFalse(corrupt.json.ok)
      assert.include(["chunks", "tar-stream"], corrupt.json.stage)

      const wrongToc = yield* interop("verify", "--in", out, "--toc-digest", sha256(Buffer.from("x")))
      assert.include(wrongToc.json, { ok: false, stage: "toc-digest" })
      const wrongDiff = yield* interop(
        "verify",
        ...["--in", out, "--toc-digest", build.tocDigest, "--diff-id", sha256(Buffer.from("x"))],
      )
      assert.include(wrongDiff.json, { ok: false, stage: "diff-id" })
      const notZstd = yield* interop("verify", "--in", out, "--toc-digest", build.tocDigest, "--zstdchunked")
      assert.include(notZstd.json, { ok: false, stage: "format" })
    }),
  )

  it.effect("honours a ctr-remote record file and reports the missing path", () =>
    Effect.gen(function* () {
      const { build, verify } = yield* buildAndVerify(fixture("ustar.tar"), false, [
        "--prioritized",
        fixture("record-in.json"),
      ])
      assert.deepStrictEqual(build.missedPrioritized, ["etc/does-not-exist"])
      assert.strictEqual(verify.landmark, ".prefetch.landmark")
      assert.includeMembers(verify.prefetchEntries, ["etc/hostname", "usr/bin/hello", "etc/motd"])
      assert.notInclude(verify.prefetchEntries, "var/empty")
    }),
  )

  it.effect("round-trips the nasty layers estargz 0.12 accepts, and rejects a global PAX header", () =>
    Effect.gen(function* () {
      for (const name of [
        "pax.tar",
        "gnu.tar",
        "ustar.tar.gz",
        "devices.tar",
        "duplicates.tar",
        "no-eof.tar",
      ]) {
        for (const zstd of [false, true]) {
          const { verify } = yield* buildAndVerify(fixture(name), zstd)
          const listed = (yield* interop("listtar", "--in", fixture(name))).json
          assert.deepStrictEqual(verify.files, listed.files, name)
        }
      }
      const g = yield* interop(
        "build",
        "--in",
        fixture("unsupported-global-pax.tar"),
        "--out",
        join(tmpDir(), "g"),
      )
      assert.strictEqual(g.code, 1)
      assert.include(g.json, { ok: false, stage: "build" })
    }),
  )
})

// GNU tar writes random small trees; listtar must report exactly what was staged.
describeWithTool(["lazypull-interop", "gnu-tar"], "lazypull-interop listtar vs GNU tar (property)", () => {
  const fileArb = fc.record({
    name: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,40}$/),
    content: fc.uint8Array({ maxLength: 3000 }),
    mode: fc.constantFrom(0o644, 0o600, 0o755, 0o4755, 0o2755),
    mtime: fc.integer({ min: 1, max: 2_000_000_000 }),
  })
  const treeArb = fc.uniqueArray(fileArb, {
    minLength: 1,
    maxLength: 8,
    selector: (f) => f.name.toLowerCase(),
  })

  it.effect("facts match the staged files", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(treeArb, fc.constantFrom("ustar", "gnu", "pax"), async (files, format) => {
          const root = tmpDir()
          const stage = join(root, "stage")
          mkdirSync(join(stage, "d"), { recursive: true })
          for (const f of files) {
            const p = join(stage, "d", f.name)
            writeFileSync(p, f.content)
            chmodSync(p, f.mode)
            utimesSync(p, f.mtime, f.mtime)
          }
          const tar = join(root, "t.tar")
          const t = await runCommand("tar", [
            `--format=${format}`,
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
            stage,
            "-cf",
            tar,
            "d",
          ])
          assert.strictEqual(t.code, 0, t.stderr)
          const r = await runInterop(["listtar", "--in", tar])
          assert.strictEqual(r.code, 0, r.stdout)
          const got = byName(r.json.files)
          assert.strictEqual(got.size, files.length + 1)
          for (const f of files) {
            const e = got.get(`d/${f.name}`)
            assert.include(e, {
              type: "reg",
              size: f.content.length,
              sha256: sha256(f.content),
              mode: `0${f.mode.toString(8)}`,
              uid: 0,
              gid: 0,
              modtime: new Date(f.mtime * 1000).toISOString().replace(".000Z", "Z"),
            })
          }
        }),
        { numRuns: 15 },
      ),
    ),
  )
})
