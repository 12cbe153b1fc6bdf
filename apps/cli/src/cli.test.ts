// End-to-end tests of `lazypull layer convert|verify|ls|cat`: the built CLI runs as a child process on
// the generated fixtures; its outputs are checked with node:zlib/node:crypto, GNU tar, gzip(1) and the
// reference checker (lazypull-interop, estargz 0.12).
import { spawn } from "node:child_process"
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { describeWithTool, fixture, requireTool, runCommand, runInterop, tmpDir } from "@lazypull/testkit"
import {
  BIN,
  type CliResult,
  assertBuilt,
  jsonOf,
  lazypull,
  leftovers,
  sha256,
  tocOf,
} from "./cli.test-utils.ts"

const TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest"
const UNCOMPRESSED_SIZE = "io.containers.estargz.uncompressed-size"
const CONVERT_KEYS = ["annotations", "blobDigest", "blobSize", "diffID", "tocDigest", "uncompressedSize"]

beforeAll(() => assertBuilt())

/** The run failed with `code` and exactly one line on stderr; returns that line. */
const failsWith = (r: CliResult, code: number): string => {
  expect(r.code, `stdout: ${r.out}\nstderr: ${r.stderr}`).toBe(code)
  const lines = r.stderr.split("\n").filter((l) => l !== "")
  expect(lines, r.stderr).toHaveLength(1)
  return lines[0]!
}

const succeeds = (r: CliResult): CliResult => {
  expect(r.code, `stderr: ${r.stderr}`).toBe(0)
  return r
}

interface Converted {
  readonly blob: string
  readonly out: {
    blobDigest: string
    tocDigest: string
    diffID: string
    uncompressedSize: number
    blobSize: number
    annotations: Record<string, string>
  }
}

/** `layer convert IN OUT --json ...flags` in `dir`, checked for success. */
const convert = async (dir: string, input: string, name: string, flags: ReadonlyArray<string> = []) => {
  const r = succeeds(await lazypull(["layer", "convert", input, name, "--json", ...flags], { cwd: dir }))
  return { blob: join(dir, name), out: jsonOf(r) } as Converted
}

/** The convert result describes the blob on disk: digests, sizes and annotations recomputed here. */
const expectDescribesBlob = (c: Converted) => {
  expect(Object.keys(c.out).sort()).toEqual(CONVERT_KEYS)
  const blob = readFileSync(c.blob)
  const tar = gunzipSync(blob)
  expect(c.out.blobDigest).toBe(sha256(blob))
  expect(c.out.blobSize).toBe(blob.length)
  expect(c.out.diffID).toBe(sha256(tar))
  expect(c.out.uncompressedSize).toBe(tar.length)
  expect(c.out.annotations).toEqual({
    [TOC_DIGEST]: c.out.tocDigest,
    [UNCOMPRESSED_SIZE]: String(tar.length),
  })
}

const verifyJson = async (dir: string, blob: string, flags: ReadonlyArray<string> = []) => {
  const v = jsonOf(succeeds(await lazypull(["layer", "verify", blob, "--json", ...flags], { cwd: dir })))
  expect(Object.keys(v).sort()).toEqual(["files", "ok", "tocDigest"])
  expect(v.ok).toBe(true)
  return v as { ok: true; tocDigest: string; files: Array<Record<string, any>> }
}

/** A file's bytes as GNU tar extracts them from the source tar. */
const tarExtract = async (tar: string, member: string) => {
  const r = await runCommand("tar", ["-xOf", tar, member])
  expect(r.code, r.stderr).toBe(0)
  return r.stdout
}

const hasZstd = existsSync(join(fixture("pax.tar"), "..", "pax.tar.zst"))
const SOURCES = [
  "pax.tar",
  "ustar.tar",
  "gnu.tar",
  "big.tar.gz",
  "devices.tar",
  ...(hasZstd ? ["pax.tar.zst"] : []),
]

describe.concurrent("layer convert → verify", () => {
  const dir = tmpDir()

  for (const name of SOURCES) {
    it(`${name}: --json shapes, digests and sizes match the blob, verify accepts it`, async () => {
      const c = await convert(dir, fixture(name), `${name}.esgz`)
      expectDescribesBlob(c)
      const { toc, json } = tocOf(c.blob)
      expect(sha256(json)).toBe(c.out.tocDigest)
      expect(toc.version).toBe(1)
      const v = await verifyJson(dir, c.blob, ["--toc-digest", c.out.tocDigest])
      expect(v.tocDigest).toBe(c.out.tocDigest)
    })
  }

  it("verify in text mode says ok and names the blob", async () => {
    const c = await convert(dir, fixture("pax.tar"), "text-verify.esgz")
    const t = succeeds(await lazypull(["layer", "verify", "text-verify.esgz"], { cwd: dir }))
    expect(t.out).toMatch(
      /^ok text-verify\.esgz: estargz, 27 files, \d+ chunks verified, TOC sha256:[0-9a-f]{64}/,
    )
    expect(t.out).toContain(c.out.tocDigest)
  })

  it("is deterministic and independent of --parallelism; --engine portable verifies too", async () => {
    const a = await convert(dir, fixture("big.tar.gz"), "det-a.esgz")
    const b = await convert(dir, fixture("big.tar.gz"), "det-b.esgz", ["--parallelism", "1"])
    expect(b.out).toEqual(a.out)
    expect(readFileSync(b.blob).equals(readFileSync(a.blob))).toBe(true)
    // fflate deflates differently from zlib (other bytes, offsets, TOC), but the layer is as good
    const p = await convert(dir, fixture("big.tar.gz"), "det-p.esgz", ["--engine", "portable"])
    expectDescribesBlob(p)
    const v = await verifyJson(dir, p.blob, ["--engine", "portable", "--toc-digest", p.out.tocDigest])
    expect(v.files).toEqual((await verifyJson(dir, a.blob)).files)
  })

  it("text output names the blob and its digests", async () => {
    const r = succeeds(await lazypull(["layer", "convert", fixture("pax.tar"), "text.esgz"], { cwd: dir }))
    const blob = readFileSync(join(dir, "text.esgz"))
    expect(r.out).toContain(`wrote text.esgz: ${blob.length} bytes`)
    expect(r.out).toContain(sha256(blob))
    expect(r.out).toContain(sha256(tocOf(join(dir, "text.esgz")).json))
  })

  it("replaces an existing OUT and leaves no temp file", async () => {
    const d = tmpDir()
    writeFileSync(join(d, "replace.esgz"), "old contents")
    const c = await convert(d, fixture("ustar.tar"), "replace.esgz")
    expectDescribesBlob(c)
    expect(readdirSync(d)).toEqual(["replace.esgz"])
  })
})

describeWithTool("lazypull-interop", "layer convert/verify against the reference checker", () => {
  const dir = tmpDir()
  const listtar = async (path: string) => {
    const r = await runInterop(["listtar", "--in", path])
    expect(r.code, r.stderr).toBe(0)
    return r.json.files
  }

  describe.concurrent("every source", () => {
    for (const name of [...SOURCES, "whiteout.tar", "duplicates.tar", "implicit-parent.tar", "empty.tar"]) {
      it(`${name}: verify --json files equal the reference's facts of the source; the reference accepts the blob`, async () => {
        const c = await convert(dir, fixture(name), `${name}.esgz`)
        const v = await verifyJson(dir, c.blob)
        expect(v.files).toEqual(await listtar(fixture(name)))
        const ref = await runInterop([
          "verify",
          "--in",
          c.blob,
          "--toc-digest",
          c.out.tocDigest,
          "--diff-id",
          c.out.diffID,
          "--uncompressed-size",
          String(c.out.uncompressedSize),
        ])
        expect(ref.json?.error ?? null, ref.stderr).toBe(null)
        expect(ref.code).toBe(0)
        expect(ref.json.files).toEqual(v.files)
      })
    }

    it("ls --json equals the reference's facts of the source", async () => {
      const c = await convert(dir, fixture("pax.tar"), "ls.esgz")
      const ls = jsonOf(succeeds(await lazypull(["layer", "ls", c.blob, "--json"], { cwd: dir })))
      expect(ls).toEqual(await listtar(fixture("pax.tar")))
    })
  })

  it("--estargz-record-in: the same TOC order as the reference built with the same record file", async () => {
    const c = await convert(dir, fixture("ustar.tar"), "rec.esgz", [
      "--estargz-record-in",
      fixture("record-in.json"),
    ])
    const ref = await runInterop([
      "build",
      "--in",
      fixture("ustar.tar"),
      "--out",
      join(dir, "rec-ref.esgz"),
      "--prioritized",
      fixture("record-in.json"),
    ])
    expect(ref.code, ref.stderr).toBe(0)
    const names = (blob: string) => tocOf(blob).toc.entries.map((e) => `${e.type} ${e.name}`)
    expect(names(c.blob)).toEqual(names(join(dir, "rec-ref.esgz")))
    expect(ref.json.missedPrioritized).toEqual(["etc/does-not-exist"])
  })

  it("--estargz-chunk-size: the reference reads every chunk", async () => {
    const c = await convert(dir, fixture("big.tar"), "chunks-ref.esgz", ["--estargz-chunk-size", "65536"])
    const ref = await runInterop(["verify", "--in", c.blob, "--toc-digest", c.out.tocDigest])
    expect(ref.json?.error ?? null, ref.stderr).toBe(null)
    const data = tocOf(c.blob).toc.entries.filter(
      (e) => e.type === "chunk" || (e.type === "reg" && e.size > 0 && !e.name.endsWith(".landmark")),
    )
    // big.bin, exact-4MiB.bin and one-byte in 64 KiB chunks: 81 + 64 + 1
    expect(data).toHaveLength(146)
    expect(ref.json.chunkCount).toBe(146 + 1) // and the landmark's one-byte chunk
  })
})

describe.concurrent("layer convert options", () => {
  const dir = tmpDir()

  it("--estargz-compression-level: 0 stores, 1 is larger than 9 (the default); chunks default to 4 MiB", async () => {
    const sizes: Record<string, number> = {}
    let payload = 0
    for (const level of ["0", "1", "9"]) {
      const c = await convert(dir, fixture("big.tar"), `level-${level}.esgz`, [
        "--estargz-compression-level",
        level,
      ])
      expectDescribesBlob(c)
      if (level === "0") await verifyJson(dir, c.blob)
      sizes[level] = c.out.blobSize
      payload = c.out.uncompressedSize
    }
    expect(sizes["0"]).toBeGreaterThan(payload) // stored blocks: no compression at all
    expect(sizes["1"]).toBeLessThan(payload * 0.8)
    expect(sizes["9"]).toBeLessThan(sizes["1"]!)
    // the default is 9, as ctr-remote
    const d = await convert(dir, fixture("big.tar"), "level-default.esgz")
    expect(d.out.blobDigest).toBe(sha256(readFileSync(join(dir, "level-9.esgz"))))
    // and the default chunk size is 4 MiB
    const entries = tocOf(d.blob).toc.entries.filter((e) => e.name === "data/big.bin")
    expect(entries.map((e) => e.chunkOffset ?? 0)).toEqual([0, 4 << 20])
  })

  it("--estargz-chunk-size: files are split into chunk entries of that size", async () => {
    const size = 1_000_000
    const c = await convert(dir, fixture("big.tar"), "chunk.esgz", ["--estargz-chunk-size", String(size)])
    expectDescribesBlob(c)
    const entries = tocOf(c.blob).toc.entries.filter((e) => e.name === "data/big.bin")
    // 5,243,003 bytes: a reg entry and five chunk entries at multiples of the chunk size
    expect(entries.map((e) => e.type)).toEqual(["reg", "chunk", "chunk", "chunk", "chunk", "chunk"])
    expect(entries.map((e) => e.chunkOffset ?? 0)).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * size))
    expect(entries.slice(0, 5).every((e) => e.chunkSize === size)).toBe(true)
    // every chunk starts a gzip member of its own
    expect(new Set(entries.map((e) => e.offset)).size).toBe(entries.length)
    await verifyJson(dir, c.blob)
    const cat = succeeds(await lazypull(["layer", "cat", c.blob, "data/big.bin"], { cwd: dir }))
    expect(cat.stdout.equals(await tarExtract(fixture("big.tar"), "data/big.bin"))).toBe(true)
  })

  it("--estargz-min-chunk-size: small files share gzip members (innerOffset) and read back", async () => {
    const c = await convert(dir, fixture("pax.tar"), "min.esgz", ["--estargz-min-chunk-size", "100000"])
    expectDescribesBlob(c)
    const data = tocOf(c.blob).toc.entries.filter((e) => e.type === "reg" || e.type === "chunk")
    const packed = data.filter((e) => (e.innerOffset ?? 0) > 0)
    expect(packed.length).toBeGreaterThan(0)
    expect(new Set(data.map((e) => e.offset)).size).toBeLessThan(data.length)
    const v = await verifyJson(dir, c.blob)
    const packedNames = new Set(packed.map((e) => e.name.replace(/^\.?\/+/, "")))
    const sample = v.files.filter((f) => f.type === "reg" && packedNames.has(f.name)).slice(0, 4)
    expect(sample.length).toBeGreaterThan(0)
    for (const f of sample) {
      const r = succeeds(await lazypull(["layer", "cat", c.blob, f.name], { cwd: dir }))
      expect(sha256(r.stdout), f.name).toBe(f.sha256)
    }
    const plain = await convert(dir, fixture("pax.tar"), "nomin.esgz")
    expect(c.out.blobSize).toBeLessThan(plain.out.blobSize)
    expect(c.out.diffID).not.toBe(plain.out.diffID)
  })

  it("--estargz-external-toc: the TOC goes to its own blob; verify and ls need --toc", async () => {
    const c = await convert(dir, fixture("ustar.tar"), "ext.esgz", ["--estargz-external-toc", "ext.toc"])
    expectDescribesBlob(c)
    const blob = readFileSync(c.blob)
    expect(blob.subarray(blob.length - 46 + 16, blob.length - 46 + 33).toString("latin1")).toBe(
      "STARGZEXTERNALTOC",
    )
    const toc = tocOf(c.blob, join(dir, "ext.toc"))
    expect(sha256(toc.json)).toBe(c.out.tocDigest)
    const line = failsWith(await lazypull(["layer", "verify", "ext.esgz"], { cwd: dir }), 1)
    expect(line).toMatch(/^lazypull: ext\.esgz: .*TOC/)
    const v = await verifyJson(dir, "ext.esgz", ["--toc", "ext.toc", "--toc-digest", c.out.tocDigest])
    expect(v.tocDigest).toBe(c.out.tocDigest)
    expect(
      jsonOf(
        succeeds(await lazypull(["layer", "ls", "ext.esgz", "--toc", "ext.toc", "--json"], { cwd: dir })),
      ),
    ).toEqual(v.files)
    const cat = succeeds(
      await lazypull(["layer", "cat", "ext.esgz", "etc/motd", "--toc", "ext.toc"], { cwd: dir }),
    )
    expect(cat.stdout.equals(await tarExtract(fixture("ustar.tar"), "./etc/motd"))).toBe(true)
    expect(leftovers(dir).filter((n) => n.startsWith("ext."))).toEqual([])
  })

  it.skipIf(!requireTool("gzip"))(
    "--estargz-keep-diff-id: gzip -dc of the blob is the input tar byte for byte",
    async () => {
      for (const name of ["ustar.tar", "trailing-garbage.tar", "pax.tar.gz"]) {
        const c = await convert(dir, fixture(name), `keep-${name}.esgz`, [
          "--estargz-external-toc",
          `keep-${name}.toc`,
          "--estargz-keep-diff-id",
        ])
        expectDescribesBlob(c)
        const source = name.endsWith(".gz")
          ? gunzipSync(readFileSync(fixture(name)))
          : readFileSync(fixture(name))
        const plain = await runCommand("gzip", ["-dc", c.blob])
        expect(plain.code, plain.stderr).toBe(0)
        expect(plain.stdout.equals(source), name).toBe(true)
        expect(c.out.diffID).toBe(sha256(source))
        await verifyJson(dir, c.blob, ["--toc", join(dir, `keep-${name}.toc`)])
      }
    },
  )

  it("--estargz-record-in: prioritized files come first, then .prefetch.landmark; missing paths are a warning", async () => {
    const r = succeeds(
      await lazypull(
        [
          "layer",
          "convert",
          fixture("ustar.tar"),
          "rec.esgz",
          "--json",
          "--estargz-record-in",
          fixture("record-in.json"),
        ],
        { cwd: dir },
      ),
    )
    expectDescribesBlob({ blob: join(dir, "rec.esgz"), out: jsonOf(r) })
    expect(r.stderr.trim()).toMatch(/^lazypull: warning: .*etc\/does-not-exist/)
    // TOC names keep the tar's spelling ("./etc/motd"); compare them cleaned
    const clean = (n: string) => n.replace(/^\.?\/+/, "").replace(/\/$/, "")
    const names = tocOf(join(dir, "rec.esgz"))
      .toc.entries.filter((e) => e.type !== "chunk")
      .map((e) => clean(e.name))
    const landmark = names.indexOf(".prefetch.landmark")
    expect(landmark).toBeGreaterThan(0)
    const before = names.slice(0, landmark)
    for (const p of ["etc/hostname", "usr/bin/hello", "etc/motd"]) expect(before).toContain(p)
    expect(before.indexOf("etc/hostname")).toBeLessThan(before.indexOf("etc/motd"))
    expect(names).not.toContain(".no.prefetch.landmark")
    // without a record file the layer says "no prefetch"
    const plain = tocOf((await convert(dir, fixture("ustar.tar"), "norec.esgz")).blob).toc.entries.map((e) =>
      clean(e.name),
    )
    expect(plain).toContain(".no.prefetch.landmark")
    expect(plain).not.toContain(".prefetch.landmark")
    await verifyJson(dir, "rec.esgz")
  })
})

describe.concurrent("layer ls and cat", () => {
  const dir = tmpDir()
  let ustar: Converted
  let big: Converted
  beforeAll(async () => {
    ustar = await convert(dir, fixture("ustar.tar"), "ustar.esgz")
    big = await convert(dir, fixture("big.tar.gz"), "big.esgz")
  })

  it("ls prints one line per file with mode, owner, size, type and link target", async () => {
    const r = succeeds(await lazypull(["layer", "ls", ustar.blob], { cwd: dir }))
    const lines = r.out.trimEnd().split("\n")
    const files = jsonOf(succeeds(await lazypull(["layer", "ls", ustar.blob, "--json"], { cwd: dir })))
    expect(lines).toHaveLength(files.length)
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}0644 +0 +0 +30 reg +etc\/motd$/))
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}0777 +0 +0 +0 symlink +usr\/bin\/hi -> hello$/))
    expect(lines).toContainEqual(expect.stringMatching(/ hardlink +usr\/bin\/hello-hard -> usr\/bin\/hello$/))
    expect(files.find((f: any) => f.name === "etc/motd")).toMatchObject({
      type: "reg",
      size: 30,
      mode: "0644",
    })
  })

  it("ls of an empty layer prints nothing (text) or [] (--json)", async () => {
    const e = await convert(dir, fixture("empty.tar"), "empty.esgz")
    expect(succeeds(await lazypull(["layer", "ls", e.blob], { cwd: dir })).out).toBe("")
    expect(jsonOf(succeeds(await lazypull(["layer", "ls", e.blob, "--json"], { cwd: dir })))).toEqual([])
  })

  it("cat streams a file larger than its read window, whole chunks at a time", async () => {
    // 9.5 MiB of incompressible bytes in 1 MiB chunks: two windows of at most 8 MiB, each one read
    const src = tmpDir()
    const bytes = Buffer.alloc(9.5 * (1 << 20))
    for (let i = 0, x = 12345; i < bytes.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      bytes[i] = x >>> 24
    }
    writeFileSync(join(src, "large.bin"), bytes)
    const tar = await runCommand("tar", ["-cf", join(src, "large.tar"), "-C", src, "large.bin"])
    expect(tar.code, tar.stderr).toBe(0)
    const c = await convert(dir, join(src, "large.tar"), "large.esgz", [
      "--estargz-chunk-size",
      String(1 << 20),
      "--estargz-compression-level",
      "1",
    ])
    const r = succeeds(await lazypull(["layer", "cat", c.blob, "large.bin", "--stats"], { cwd: dir }))
    expect(r.stdout.equals(bytes)).toBe(true)
    expect(r.stderr).toMatch(/\(2 reads, \d+ bytes for the file/)
  })

  it("cat prints a file's bytes exactly as in the source tar", async () => {
    for (const [blob, tar, member, path] of [
      [ustar.blob, "ustar.tar", "./etc/motd", "etc/motd"],
      [ustar.blob, "ustar.tar", "./usr/bin/hello", "./usr/bin/hello-hard"],
      [ustar.blob, "ustar.tar", "./etc/empty-file", "/etc/empty-file"],
      [big.blob, "big.tar.gz", "data/big.bin", "data/big.bin"],
      [big.blob, "big.tar.gz", "data/exact-4MiB.bin", "data/exact-4MiB.bin"],
      [big.blob, "big.tar.gz", "data/one-byte", "data/one-byte"],
    ] as const) {
      const r = succeeds(await lazypull(["layer", "cat", blob, path], { cwd: dir }))
      expect(r.stdout.equals(await tarExtract(fixture(tar), member)), path).toBe(true)
      expect(r.stderr).toBe("")
    }
  })

  it("cat --stats reports the reads on stderr and fetches only the file's chunks", async () => {
    const r = succeeds(await lazypull(["layer", "cat", big.blob, "data/one-byte", "--stats"], { cwd: dir }))
    expect(r.stdout.equals(await tarExtract(fixture("big.tar.gz"), "data/one-byte"))).toBe(true)
    const m =
      /^stats: data\/one-byte: 1 bytes; fetched (\d+) bytes in (\d+) reads \((\d+) reads, (\d+) bytes for the file/.exec(
        r.stderr,
      )
    expect(m, r.stderr).not.toBe(null)
    const [fetched, reads, fileReads, fileBytes] = m!.slice(1).map(Number) as [number, number, number, number]
    expect(reads).toBeGreaterThanOrEqual(2)
    expect(fileReads).toBe(1)
    expect(fileBytes).toBeLessThan(100)
    expect(fetched).toBeLessThan(big.out.blobSize / 10)
  })

  it("cat of a directory or a missing path: exit 3, one line naming the path", async () => {
    for (const path of ["etc", "etc/nope", "usr/bin/hi"]) {
      const line = failsWith(await lazypull(["layer", "cat", ustar.blob, path], { cwd: dir }), 3)
      expect(line).toMatch(/^lazypull: /)
      expect(line).toContain(path)
      expect(line).toContain("ustar.esgz")
    }
  })

  it("cat into a closed pipe ends quietly", async () => {
    if (!requireTool("bash") || !requireTool("head")) return
    const r = await runCommand("bash", [
      "-c",
      'set -o pipefail; "$0" "$1" layer cat "$2" data/big.bin | head -c 10 >/dev/null',
      process.execPath,
      BIN,
      big.blob,
    ])
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
  })

  it("ls and cat of something that is not a blob: exit 3 with the file named", async () => {
    const line = failsWith(await lazypull(["layer", "ls", fixture("pax.tar")], { cwd: dir }), 3)
    expect(line).toContain("pax.tar")
    expect(failsWith(await lazypull(["layer", "cat", "missing.esgz", "x"], { cwd: dir }), 3)).toContain(
      "missing.esgz",
    )
  })
})

describe.concurrent("exit codes and error lines", () => {
  const dir = tmpDir()
  let big: Converted
  beforeAll(async () => {
    big = await convert(dir, fixture("big.tar.gz"), "big.esgz")
  })

  it("usage errors exit 2 with one line naming the command and the problem", async () => {
    const cases: Array<[ReadonlyArray<string>, RegExp]> = [
      [["layer", "convert", "--bogus", "a", "b"], /^lazypull: layer convert: .*--bogus.*--help/],
      [["layer", "convert", "a"], /^lazypull: layer convert: .*OUT/],
      [["layer", "verify"], /^lazypull: layer verify: .*BLOB/],
      [["layer", "cat", "x.esgz"], /^lazypull: layer cat: .*PATH/],
      [["layer", "ls", "a", "b"], /^lazypull: layer ls: .*"b"/],
      [["layer", "convert", "a", "b", "--estargz-chunk-size", "big"], /--estargz-chunk-size/],
      [["layer", "convert", "a", "b", "--estargz-compression-level", "10"], /--estargz-compression-level 10/],
      [["layer", "convert", "a", "b", "--estargz-keep-diff-id"], /--estargz-external-toc/],
      [["layer", "convert", "a", "b", "--estargz-external-toc", "b"], /--estargz-external-toc/],
      [["layer", "verify", "x.esgz", "--toc-digest", "md5:1"], /--toc-digest/],
      [["layer", "frobnicate"], /^lazypull: layer: .*frobnicate/],
    ]
    const d = tmpDir()
    for (const [args, want] of cases) {
      const line = failsWith(await lazypull(args, { cwd: d }), 2)
      expect(line, args.join(" ")).toMatch(want)
    }
    expect(readdirSync(d)).toEqual([])
  })

  it("a missing subcommand shows the help on stderr and exits 2", async () => {
    const r = await lazypull(["layer"], { cwd: dir })
    expect(r.code).toBe(2)
    expect(r.out).toBe("")
    expect(r.stderr).toContain("convert")
    expect(r.stderr.trimEnd().split("\n").at(-1)).toMatch(/^lazypull: layer: missing subcommand/)
  })

  it("verify of a blob with a byte flipped in the middle: exit 1, the reason on one line", async () => {
    const bytes = readFileSync(big.blob)
    const mid = bytes.length >> 1
    bytes[mid] = bytes[mid]! ^ 0xff
    writeFileSync(join(dir, "flipped.esgz"), bytes)
    const line = failsWith(await lazypull(["layer", "verify", "flipped.esgz"], { cwd: dir }), 1)
    expect(line).toMatch(
      /^lazypull: flipped\.esgz: .*\((Corrupt|ChunkDigestMismatch|StreamMismatch)\b.*offset \d+/,
    )
    const j = await lazypull(["layer", "verify", "flipped.esgz", "--json"], { cwd: dir })
    failsWith(j, 1)
    expect(jsonOf(j)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/Corrupt|ChunkDigestMismatch|StreamMismatch/),
    })
  })

  it("verify of a truncated blob or a tar: exit 1", async () => {
    writeFileSync(join(dir, "cut.esgz"), readFileSync(big.blob).subarray(0, 1_000_000))
    expect(failsWith(await lazypull(["layer", "verify", "cut.esgz"], { cwd: dir }), 1)).toContain("cut.esgz")
    expect(failsWith(await lazypull(["layer", "verify", fixture("pax.tar")], { cwd: dir }), 1)).toContain(
      "pax.tar",
    )
  })

  it("verify with a wrong --toc-digest or --diff-id: exit 1 naming both digests", async () => {
    const wrong = `sha256:${"0".repeat(64)}`
    const line = failsWith(
      await lazypull(["layer", "verify", big.blob, "--toc-digest", wrong], { cwd: dir }),
      1,
    )
    expect(line).toContain("TocDigestMismatch")
    expect(line).toContain(big.out.tocDigest)
    expect(line).toContain(wrong)
    const d = failsWith(await lazypull(["layer", "verify", big.blob, "--diff-id", wrong], { cwd: dir }), 1)
    expect(d).toContain(big.out.diffID)
    succeeds(await lazypull(["layer", "verify", big.blob, "--diff-id", big.out.diffID], { cwd: dir }))
  })

  it("verify of a missing file: exit 3", async () => {
    expect(failsWith(await lazypull(["layer", "verify", "nope.esgz"], { cwd: dir }), 3)).toContain(
      "nope.esgz",
    )
  })

  it("convert of unsupported-sparse.tar: exit 3 and nothing left behind", async () => {
    const d = tmpDir()
    const line = failsWith(
      await lazypull(["layer", "convert", fixture("unsupported-sparse.tar"), "out.esgz"], { cwd: d }),
      3,
    )
    expect(line).toMatch(/unsupported-sparse\.tar: .*sparse.*\(Unsupported/)
    expect(readdirSync(d)).toEqual([])
    // nor with an external TOC
    failsWith(
      await lazypull(
        [
          "layer",
          "convert",
          fixture("unsupported-sparse.tar"),
          "out.esgz",
          "--estargz-external-toc",
          "out.toc",
        ],
        { cwd: d },
      ),
      3,
    )
    expect(readdirSync(d)).toEqual([])
  })

  it("convert of unsupported-global-pax.tar and of a missing input: exit 3 naming the input", async () => {
    const d = tmpDir()
    expect(
      failsWith(
        await lazypull(["layer", "convert", fixture("unsupported-global-pax.tar"), "o.esgz"], { cwd: d }),
        3,
      ),
    ).toContain("unsupported-global-pax.tar")
    expect(failsWith(await lazypull(["layer", "convert", "no-such.tar", "o.esgz"], { cwd: d }), 3)).toContain(
      "no-such.tar",
    )
    expect(
      failsWith(await lazypull(["layer", "convert", fixture("pax.tar"), "no/dir/o.esgz"], { cwd: d }), 3),
    ).toContain("no/dir/o.esgz")
    expect(readdirSync(d)).toEqual([])
  })

  it("a convert that fails midway leaves the existing OUT (and TOC_OUT) untouched", async () => {
    const d = tmpDir()
    writeFileSync(join(d, "out.esgz"), "previous blob")
    writeFileSync(join(d, "out.toc"), "previous toc")
    // a gzip input with damage in the middle fails after the outputs were opened
    const damaged = readFileSync(fixture("big.tar.gz"))
    damaged.fill(0x55, damaged.length >> 1, (damaged.length >> 1) + 64)
    writeFileSync(join(d, "damaged.tar.gz"), damaged)
    for (const extra of [[], ["--estargz-external-toc", "out.toc"]]) {
      const line = failsWith(
        await lazypull(["layer", "convert", "damaged.tar.gz", "out.esgz", ...extra], { cwd: d }),
        3,
      )
      expect(line).toMatch(/^lazypull: damaged\.tar\.gz: /)
      expect(readFileSync(join(d, "out.esgz"), "utf8")).toBe("previous blob")
      expect(readFileSync(join(d, "out.toc"), "utf8")).toBe("previous toc")
      expect(leftovers(d)).toEqual([])
    }
    // the TOC_OUT cannot be created: the blob is not replaced either
    failsWith(
      await lazypull(
        ["layer", "convert", fixture("pax.tar"), "out.esgz", "--estargz-external-toc", "no/dir/x.toc"],
        {
          cwd: d,
        },
      ),
      3,
    )
    expect(readFileSync(join(d, "out.esgz"), "utf8")).toBe("previous blob")
    expect(leftovers(d)).toEqual([])
  })

  it("a convert interrupted while writing (SIGINT) exits 130, keeps the old OUT, removes its temp file", async () => {
    const d = tmpDir()
    writeFileSync(join(d, "out.esgz"), "previous blob")
    copyFileSync(fixture("big.tar.gz"), join(d, "in.tar.gz"))
    const child = spawn(
      process.execPath,
      [BIN, "layer", "convert", "in.tar.gz", "out.esgz", "--engine", "portable", "--parallelism", "1"],
      { cwd: d, stdio: ["ignore", "pipe", "pipe"] },
    )
    let stderr = ""
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString("utf8")
    })
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
    let finished = false
    void exited.then(() => {
      finished = true
    })
    // wait until the temp file has bytes in it: the conversion is writing
    const started = Date.now()
    for (;;) {
      const tmp = leftovers(d)
      if (tmp.length > 0 && statSync(join(d, tmp[0]!), { throwIfNoEntry: false })?.size) break
      if (finished || Date.now() - started > 60_000)
        throw new Error(`the conversion never started writing: ${stderr}`)
      await new Promise((r) => setTimeout(r, 5))
    }
    child.kill("SIGINT")
    expect(await exited).toBe(130)
    expect(stderr.trim()).toBe("lazypull: interrupted")
    expect(readFileSync(join(d, "out.esgz"), "utf8")).toBe("previous blob")
    expect(leftovers(d)).toEqual([])
  })
})

describe.concurrent("--help and --version", () => {
  const dir = tmpDir()
  const FLAGS: Record<string, ReadonlyArray<string>> = {
    convert: [
      "--estargz-compression-level",
      "--estargz-chunk-size",
      "--estargz-min-chunk-size",
      "--estargz-external-toc",
      "--estargz-keep-diff-id",
      "--estargz-record-in",
      "--json",
    ],
    verify: ["--toc-digest", "--toc", "--diff-id", "--json"],
    ls: ["--toc", "--json"],
    cat: ["--toc", "--stats"],
  }

  for (const [sub, flags] of Object.entries(FLAGS)) {
    it(`layer ${sub} --help lists its flags and examples`, async () => {
      const r = succeeds(await lazypull(["layer", sub, "--help"], { cwd: dir }))
      expect(r.stderr).toBe("")
      for (const f of flags) expect(r.out, f).toMatch(new RegExp(`^\\s+${f}\\b`, "m"))
      expect(r.out).toMatch(/^EXAMPLES$/m)
      expect(r.out).toMatch(new RegExp(`^\\s+lazypull layer ${sub} \\S`, "m"))
    })
  }

  it("lazypull --help lists the layer command; --version prints the package version", async () => {
    const h = succeeds(await lazypull(["--help"], { cwd: dir }))
    expect(h.out).toMatch(/^\s+layer\s/m)
    const { version } = JSON.parse(readFileSync(join(BIN, "..", "..", "package.json"), "utf8"))
    const v = succeeds(await lazypull(["--version"], { cwd: dir }))
    expect(v.out.trim()).toBe(`lazypull v${version}`)
  })
})
