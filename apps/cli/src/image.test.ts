// End-to-end tests of the image commands (`lazypull convert`, `lazypull check`) through the built CLI.
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { fixture, repoRoot, runCommand, tmpDir } from "@lazypull/testkit"
import { BIN, jsonOf, lazypull, sha256 } from "./cli.test-utils.ts"

const SAMPLE = join(repoRoot(), "test-fixtures", "sample", "image")
const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"))
const blob = (dir: string, digest: string) => join(dir, "blobs", ...digest.split(":"))

/** Builds a one-layer OCI layout around a gzip layer file (used for the big layer of the SIGINT test). */
const layoutOf = (gz: string, diffId: string): string => {
  const dir = join(tmpDir(), "layout")
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  const put = (bytes: Buffer) => {
    const digest = sha256(bytes)
    writeFileSync(blob(dir, digest), bytes)
    return { digest, size: bytes.length }
  }
  const layer = put(readFileSync(gz))
  const config = put(
    Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } }),
    ),
  )
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...layer }],
      }),
    ),
  )
  writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "latest" },
        },
      ],
    }),
  )
  return dir
}

describe("lazypull convert / check", () => {
  it("converts the sample image to eStargz; check passes (exit 0) on it and fails (exit 1) on the original", async () => {
    const d = tmpDir()
    const conv = await lazypull(["convert", `oci:${SAMPLE}:latest`, "oci:out:esgz", "--oci", "--json"], {
      cwd: d,
    })
    expect(conv.code, conv.stderr).toBe(0)
    expect(conv.stderr).toBe("") // --json: nothing but the result
    const result = jsonOf(conv)
    expect(result.images[0].layers).toHaveLength(2)
    const index = readJson(join(d, "out", "index.json"))
    expect(index.manifests[0].digest).toBe(result.descriptor.digest)
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("esgz")

    const ok = await lazypull(["check", "oci:out:esgz"], { cwd: d })
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.out.split("\n").filter((l) => / ok estargz: /.test(l))).toHaveLength(2)
    const bad = await lazypull(["check", `oci:${SAMPLE}:latest`, "--json"], { cwd: d })
    expect(bad.code).toBe(1)
    const report = jsonOf(bad)
    expect(report.ok).toBe(false)
    expect(report.images[0].layers.map((l: any) => l.reason)).toEqual([
      expect.stringMatching(/plain gzip layer/),
      expect.stringMatching(/plain gzip layer/),
    ])
  })

  it("zstd:chunked into an OCI archive, both dialects; progress lines on a pipe", async () => {
    const d = tmpDir()
    for (const dialect of ["stargz", "storage"]) {
      const out = `oci-archive:${dialect}.tar:v1`
      const conv = await lazypull(
        ["convert", `oci:${SAMPLE}`, out, "--zstdchunked", "--zstdchunked-dialect", dialect],
        { cwd: d },
      )
      expect(conv.code, conv.stderr).toBe(0)
      expect(conv.stderr).toMatch(/^layer 0: converted -> sha256:[0-9a-f]{64} /m)
      const check = await lazypull(["check", out, "--json"], { cwd: d })
      expect(check.code, check.out).toBe(0)
      expect(jsonOf(check).images[0].layers.map((l: any) => l.format)).toEqual(
        dialect === "stargz"
          ? ["zstd:chunked", "zstd:chunked"]
          : ["zstd:chunked/storage", "zstd:chunked/storage"],
      )
    }
  })

  it("usage errors exit 2, runtime errors exit 3 with one line, and DST is untouched", async () => {
    const d = tmpDir()
    const usage = await lazypull(["convert", `oci:${SAMPLE}`, "oci:x", "--estargz", "--zstdchunked"], {
      cwd: d,
    })
    expect(usage.code).toBe(2)
    const transport = await lazypull(["convert", `oci:${SAMPLE}`, "docker-archive:x.tar"], { cwd: d })
    expect(transport.code).toBe(2)
    expect(transport.stderr).toMatch(/writes oci:DIR\[:TAG\] and oci-archive:FILE\[:TAG\]/)
    const missing = await lazypull(["convert", "oci:nope", "oci:x"], { cwd: d })
    expect(missing.code).toBe(3)
    expect(missing.stderr.trim().split("\n")).toHaveLength(1)
    const tag = await lazypull(["convert", `oci:${SAMPLE}:nosuchtag`, "oci:x"], { cwd: d })
    expect(tag.code).toBe(3)
    expect(tag.stderr).toMatch(/no image tagged nosuchtag/)
    // a destination that exists and is not a layout is refused and left as it is
    mkdirSync(join(d, "busy"))
    writeFileSync(join(d, "busy", "keep.txt"), "mine")
    const busy = await lazypull(["convert", `oci:${SAMPLE}`, "oci:busy"], { cwd: d })
    expect(busy.code).toBe(3)
    expect(readdirSync(join(d, "busy"))).toEqual(["keep.txt"])
    // a broken source layer: nothing appears at DST, no temp files
    const broken = join(d, "broken")
    cpSync(SAMPLE, broken, { recursive: true })
    const m = readJson(blob(broken, readJson(join(broken, "index.json")).manifests[0].digest))
    const layer = blob(broken, m.layers[1].digest)
    const bytes = readFileSync(layer)
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x55
    writeFileSync(layer, bytes)
    const corrupt = await lazypull(["convert", "oci:broken", "oci-archive:out.tar"], { cwd: d })
    expect(corrupt.code).toBe(3)
    expect(corrupt.stderr).toMatch(/layer 1/)
    expect(readdirSync(d).sort()).toEqual(["broken", "busy"])
  })

  it("an interrupted conversion (SIGINT) exits 130 and leaves no output and no temp files", async () => {
    const d = tmpDir()
    const src = layoutOf(fixture("big.tar.gz"), sha256(readFileSync(fixture("big.tar"))))
    const child = spawn(process.execPath, [BIN, "convert", `oci:${src}`, "oci-archive:out.tar"], {
      cwd: d,
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stderr = ""
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString("utf8")
    })
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
    let finished = false
    void exited.then(() => {
      finished = true
    })
    const started = Date.now()
    // wait until the staging directory beside out.tar has a blob being written
    for (;;) {
      const staging = readdirSync(d).find((f) => f.includes("lazypull-tmp"))
      if (staging !== undefined && existsSync(join(d, staging)) && statSync(join(d, staging)).isDirectory())
        break
      if (finished || Date.now() - started > 60_000)
        throw new Error(`the conversion never started: ${stderr}`)
      await new Promise((r) => setTimeout(r, 5))
    }
    child.kill("SIGINT")
    const code = await exited
    // a conversion that won the race finished first; otherwise it was interrupted and cleaned up
    if (code === 130) {
      expect(stderr.trim().split("\n").at(-1)).toBe("lazypull: interrupted")
      expect(readdirSync(d)).toEqual([])
    } else {
      expect(code).toBe(0)
      expect(readdirSync(d)).toEqual(["out.tar"])
    }
  })

  it("--help lists the nerdctl/ctr-remote flags", async () => {
    const d = tmpDir()
    const help = await lazypull(["convert", "--help"], { cwd: d })
    expect(help.code).toBe(0)
    for (const flag of [
      "--estargz",
      "--zstdchunked",
      "--oci",
      "--estargz-compression-level",
      "--estargz-chunk-size",
      "--estargz-min-chunk-size",
      "--estargz-external-toc",
      "--estargz-keep-diff-id",
      "--estargz-record-in",
      "--zstdchunked-compression-level",
      "--zstdchunked-chunk-size",
      "--zstdchunked-dialect",
      "--platform",
      "--all-platforms",
      "--json",
    ])
      expect(help.out).toContain(flag)
  })

  it("diff, toc, ls, cat, extract on a converted image", async () => {
    const d = tmpDir()
    const conv = await lazypull(["convert", `oci:${SAMPLE}`, "oci:out:esgz", "--oci"], { cwd: d })
    expect(conv.code, conv.stderr).toBe(0)
    const same = await lazypull(["diff", `oci:${SAMPLE}`, "oci:out:esgz", "--json"], { cwd: d })
    expect(same.code, same.stderr).toBe(0)
    const sd = jsonOf(same)
    expect(sd.same).toBe(true)
    expect(sd.artefacts.b.map((x: any) => x.path).sort()).toEqual([
      ".no.prefetch.landmark",
      ".no.prefetch.landmark",
      "stargz.index.json",
      "stargz.index.json",
    ])
    // against the sample's first layer alone: what the second layer adds is missing, exit 1
    const srcM = readJson(blob(SAMPLE, readJson(join(SAMPLE, "index.json")).manifests[0].digest))
    const srcConfig = readJson(blob(SAMPLE, srcM.config.digest))
    const firstOnly = layoutOf(blob(SAMPLE, srcM.layers[0].digest), srcConfig.rootfs.diff_ids[0])
    const other = await lazypull(["diff", "oci:out:esgz", `oci:${firstOnly}`, "--json"], { cwd: d })
    expect(other.code, other.stderr).toBe(1)
    const od = jsonOf(other)
    expect(od.same).toBe(false)
    expect(od.missing.length).toBeGreaterThan(0)
    expect(od.added).toEqual([])
    const text = await lazypull(["diff", "oci:out:esgz", `oci:${firstOnly}`], { cwd: d })
    expect(text.out).toContain(`missing in B: ${od.missing[0]}`)

    const m = readJson(blob(join(d, "out"), readJson(join(d, "out", "index.json")).manifests[0].digest))
    const toc0 = await lazypull(["toc", "oci:out:esgz", "--layer", "0"], { cwd: d })
    expect(toc0.code).toBe(0)
    expect(sha256(toc0.stdout)).toBe(m.layers[0].annotations["containerd.io/snapshot/stargz/toc.digest"])

    const list = await lazypull(["ls", "oci:out:esgz", "--json"], { cwd: d })
    expect(list.code).toBe(0)
    const paths = jsonOf(list).map((e: any) => e.path)
    expect(paths).toContain("etc/hostname")
    expect(paths).not.toContain(".no.prefetch.landmark")

    const cat = await lazypull(["cat", "oci:out:esgz", "/etc/hostname", "--stats"], { cwd: d })
    expect(cat.code).toBe(0)
    // what GNU tar finds in the original gzip layer
    const srcManifest = readJson(blob(SAMPLE, readJson(join(SAMPLE, "index.json")).manifests[0].digest))
    const want = await runCommand("tar", [
      "-xzOf",
      blob(SAMPLE, srcManifest.layers[0].digest),
      "./etc/hostname",
    ])
    expect(want.code).toBe(0)
    expect(cat.out).toBe(want.stdout.toString("utf8"))
    expect(cat.stderr).toMatch(
      /^stats: \/etc\/hostname: \d+ bytes from layer \d; fetched \d+ bytes in \d+ reads/,
    )
    const none = await lazypull(["cat", "oci:out:esgz", "etc/nope"], { cwd: d })
    expect(none.code).toBe(3)

    // an absolute symlink would point outside the target: refused, nothing written; or skipped on request
    const refused = await lazypull(["extract", "oci:out:esgz", "etc", "-o", "rootfs"], { cwd: d })
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/points outside the target directory/)
    expect(existsSync(join(d, "rootfs", "etc", "hostname"))).toBe(false)
    const skipped = await lazypull(
      ["extract", "oci:out:esgz", "etc", "-o", "rootfs", "--skip-unsafe-symlinks"],
      {
        cwd: d,
      },
    )
    expect(skipped.code, skipped.stderr).toBe(0)
    expect(readFileSync(join(d, "rootfs", "etc", "hostname"), "utf8")).toBe(cat.out)
  })

  it("--estargz-record-in puts the recorded files first in each layer, then the prefetch landmark", async () => {
    const d = tmpDir()
    writeFileSync(
      join(d, "record.json"),
      '{"path":"etc/hostname"}\n{"path":"/usr/share/unicode/café.txt"}\n{"path":"no/such/file"}\n',
    )
    const conv = await lazypull(
      ["convert", `oci:${SAMPLE}`, "oci:out", "--estargz-record-in", "record.json"],
      {
        cwd: d,
      },
    )
    expect(conv.code, conv.stderr).toBe(0)
    // only the path that no layer has is reported
    expect(conv.stderr).toMatch(/warning: record\.json: in no layer of [^:]+: no\/such\/file$/m)
    expect(conv.stderr).not.toMatch(/warning:.*etc\/hostname/)
    for (const [layer, file] of [
      [0, "etc/hostname"],
      [1, "usr/share/unicode/café.txt"],
    ] as const) {
      const t = await lazypull(["toc", "oci:out", "--layer", String(layer)], { cwd: d })
      const names: Array<string> = JSON.parse(t.out).entries.map((e: any) => e.name.replace(/^\.\//, ""))
      const at = names.indexOf(file)
      expect(at).toBeGreaterThanOrEqual(0)
      expect(names.indexOf(".prefetch.landmark")).toBeGreaterThan(at)
    }
    const check = await lazypull(["check", "oci:out"], { cwd: d })
    expect(check.code, check.out).toBe(0)
  })
})
