// End-to-end tests of `lazypull layer ... --zstdchunked` in both dialects, checked with zstd(1) and the
// reference checker (estargz 0.12's zstdchunked reader).
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { describeWithTool, fixture, runCommand, runInterop, tmpDir } from "@lazypull/testkit"
import { assertBuilt, jsonOf, lazypull, sha256 } from "./cli.test-utils.ts"

beforeAll(() => assertBuilt())

describeWithTool(["zstd", "lazypull-interop"], "lazypull layer convert --zstdchunked", () => {
  const dir = tmpDir()

  it("stargz dialect (default): the reference reader accepts it with the source's files; verify, ls and cat read it", async () => {
    const out = join(dir, "pax.zstd")
    const c = jsonOf(
      await lazypull(["layer", "convert", fixture("pax.tar"), out, "--zstdchunked", "--json"], { cwd: dir }),
    )
    expect(Object.keys(c.annotations).sort()).toEqual([
      "containerd.io/snapshot/stargz/toc.digest",
      "io.containers.estargz.uncompressed-size",
      "io.containers.zstd-chunked.manifest-checksum",
      "io.containers.zstd-chunked.manifest-position",
    ])
    const v = await runInterop([
      "verify",
      "--zstdchunked",
      "--in",
      out,
      "--toc-digest",
      c.tocDigest,
      "--diff-id",
      c.diffID,
    ])
    expect(v.code, v.stdout).toBe(0)
    expect(v.json.files).toEqual((await runInterop(["listtar", "--in", fixture("pax.tar")])).json.files)
    const ours = jsonOf(
      await lazypull(["layer", "verify", out, "--toc-digest", c.tocDigest, "--json"], { cwd: dir }),
    )
    expect(ours.files).toEqual(v.json.files)
    const cat = await lazypull(["layer", "cat", out, "bin/ping"], { cwd: dir })
    expect(cat.code).toBe(0)
    expect(cat.stdout.toString("latin1")).toContain("fake ping")
  })

  it("storage dialect: zstd -d gives the input tar byte for byte, io.github annotations only, verify checks the tar-split", async () => {
    for (const name of ["pax.tar", "gnu.tar", "big.tar.gz"]) {
      const out = join(dir, `${name}.storage`)
      const c = jsonOf(
        await lazypull(
          [
            "layer",
            "convert",
            fixture(name),
            out,
            "--zstdchunked",
            "--zstdchunked-dialect",
            "storage",
            "--json",
          ],
          { cwd: dir },
        ),
      )
      expect(Object.keys(c.annotations).sort()).toEqual([
        "io.github.containers.zstd-chunked.manifest-checksum",
        "io.github.containers.zstd-chunked.manifest-position",
        "io.github.containers.zstd-chunked.tarsplit-position",
      ])
      const plain = await runCommand("zstd", ["-dc", out])
      expect(plain.code).toBe(0)
      const source = name.endsWith(".gz")
        ? (await runCommand("gzip", ["-dc", fixture(name)])).stdout
        : readFileSync(fixture(name))
      expect(Buffer.compare(plain.stdout, source)).toBe(0)
      expect(c.diffID).toBe(sha256(source))
      const v = await lazypull(["layer", "verify", out, "--toc-digest", c.tocDigest], { cwd: dir })
      expect(v.code, v.stderr).toBe(0)
      expect(v.out).toContain("zstd:chunked/storage")
    }
  })

  it("usage errors: eStargz-only flags and a dialect without --zstdchunked exit 2", async () => {
    const out = join(dir, "x")
    for (const args of [
      ["--zstdchunked", "--estargz-external-toc", join(dir, "t")],
      ["--zstdchunked", "--estargz-min-chunk-size", "1000"],
      ["--zstdchunked-dialect", "storage"],
      ["--zstdchunked", "--zstdchunked-compression-level", "30"],
    ]) {
      const r = await lazypull(["layer", "convert", fixture("pax.tar"), out, ...args], { cwd: dir })
      expect(r.code, args.join(" ")).toBe(2)
    }
  })
})

describe("zstd:chunked reading needs no tools", () => {
  it("a corrupted zstd:chunked blob fails verify with exit 1", async () => {
    const dir = tmpDir()
    const out = join(dir, "u.zstd")
    const c = jsonOf(
      await lazypull(["layer", "convert", fixture("ustar.tar"), out, "--zstdchunked", "--json"], {
        cwd: dir,
      }),
    )
    const blob = readFileSync(out)
    blob[Math.floor(blob.length / 3)]! ^= 0xff
    const bad = join(dir, "bad.zstd")
    const { writeFileSync } = await import("node:fs")
    writeFileSync(bad, blob)
    const r = await lazypull(["layer", "verify", bad, "--toc-digest", c.tocDigest], { cwd: dir })
    expect(r.code).toBe(1)
  })
})
