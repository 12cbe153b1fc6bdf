// Interop with the reference: our blobs are read by Debian's estargz 0.12 (lazypull-interop), and the
// reference's blobs are read by us, with the same per-file facts as the source tar.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Decompressors, layerScratchMemory } from "@lazypull/codec"
import * as NodeEngine from "@lazypull/engine-node"
import * as PortableEngine from "@lazypull/engine-portable"
import { fromBytes } from "@lazypull/range"
import { describeWithTool, fixture, runInterop, tmpDir } from "@lazypull/testkit"
import { LayerError } from "@lazypull/codec"
import { layerFacts, makeDecompressor, openLayer, parseRecordFile, verifyLayer } from "./index.ts"
import { convertInMemory } from "./InMemory.test-utils.ts"

const engine = Layer.merge(NodeEngine.layerGzip, NodeEngine.layerSha256)
const layer = Layer.mergeAll(
  engine,
  PortableEngine.layerZstd,
  layerScratchMemory,
  Layer.effect(
    Decompressors,
    Effect.map(makeDecompressor(), (d) => [d]),
  ).pipe(Layer.provide(engine)),
)
const run = <A, E>(eff: Effect.Effect<A, E, any>) =>
  Effect.runPromise(Effect.provide(eff, layer) as Effect.Effect<A, E>)

const TARS = [
  "ustar.tar",
  "gnu.tar",
  "pax.tar",
  "whiteout.tar",
  "big.tar",
  "implicit-parent.tar",
  "devices.tar",
  "duplicates.tar",
  "empty.tar",
  "no-eof.tar",
  "trailing-garbage.tar",
] as const

const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`

const listtar = async (path: string) => {
  const r = await runInterop(["listtar", "--in", path])
  expect(r.code, r.stderr).toBe(0)
  return r.json.files
}

describeWithTool("lazypull-interop", "estargz interop with the reference (estargz 0.12)", () => {
  const dir = tmpDir()

  describe("our blobs open and verify with the reference reader, same files as the source", () => {
    for (const name of [...TARS, "ustar.tar.gz", "pax.tar.gz", "big.tar.gz", "pax.tar.zst", "big.tar.zst"]) {
      for (const opts of [
        { label: "defaults", level: 9, chunkSize: 0 },
        { label: "chunk 64 KiB, level 1", level: 1, chunkSize: 65536 },
      ]) {
        it(`${name}, ${opts.label}`, async () => {
          const input = new Uint8Array(readFileSync(fixture(name)))
          const c = await run(convertInMemory(input, { chunkSize: opts.chunkSize }, opts.level))
          const blob = join(dir, `${name}-${opts.level}-${opts.chunkSize}.esgz`)
          writeFileSync(blob, c.blob)
          const v = await runInterop([
            "verify",
            "--in",
            blob,
            "--toc-digest",
            c.tocDigest,
            "--diff-id",
            c.diffId,
            "--uncompressed-size",
            String(c.uncompressedSize),
          ])
          expect(v.json?.error ?? null, v.stderr).toBe(null)
          expect(v.code).toBe(0)
          expect(v.json.files).toEqual(await listtar(fixture(name)))
          expect(v.json.landmark).toBe(".no.prefetch.landmark")
        })
      }
    }

    it("prioritized files from a ctr-remote record file", async () => {
      const paths = parseRecordFile(readFileSync(fixture("record-in.json"), "utf8"))
      if (paths instanceof LayerError) throw paths
      const input = new Uint8Array(readFileSync(fixture("ustar.tar")))
      const c = await run(convertInMemory(input, { prioritizedFiles: paths }, 9))
      const blob = join(dir, "prio.esgz")
      writeFileSync(blob, c.blob)
      const v = await runInterop(["verify", "--in", blob, "--toc-digest", c.tocDigest, "--diff-id", c.diffId])
      expect(v.code, v.stdout).toBe(0)
      expect(v.json.landmark).toBe(".prefetch.landmark")
      expect(v.json.files).toEqual(await listtar(fixture("ustar.tar")))
      // the reference reports what comes before the landmark: the prioritized files and their parents
      const ref = await runInterop([
        "build",
        "--in",
        fixture("ustar.tar"),
        "--out",
        join(dir, "prio-ref.esgz"),
        "--prioritized",
        fixture("record-in.json"),
      ])
      expect(ref.code).toBe(0)
      const rv = await runInterop([
        "verify",
        "--in",
        join(dir, "prio-ref.esgz"),
        "--toc-digest",
        ref.json.tocDigest,
      ])
      expect(v.json.prefetchEntries).toEqual(rv.json.prefetchEntries)
    })

    it("external TOC: our reader opens it with the TOC blob, and plain gunzip gives a tar with the same files", async () => {
      const input = new Uint8Array(readFileSync(fixture("pax.tar")))
      const c = await run(convertInMemory(input, { externalToc: true }, 9))
      expect(c.externalToc).toBeDefined()
      const r = await run(
        Effect.flatMap(
          openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest, externalToc: c.externalToc! }),
          (l) => verifyLayer(l),
        ),
      )
      expect(r.diffId).toBe(c.diffId)
      const plain = join(dir, "ext.tar")
      writeFileSync(plain, gunzipSync(c.blob))
      expect(sha256(readFileSync(plain))).toBe(c.diffId)
      const files = (await listtar(plain)) as Array<{ name: string }>
      expect(files).toEqual(await listtar(fixture("pax.tar")))
      // the TOC blob is itself a tar+gzip layer holding stargz.index.json
      const tocTar = gunzipSync(c.externalToc!)
      expect(new TextDecoder().decode(tocTar.subarray(0, 17))).toBe("stargz.index.json")
    })

    it("min-chunk-size (innerOffset, which estargz 0.12 cannot read): our reader verifies it, gunzip gives the same files", async () => {
      for (const name of ["pax.tar", "ustar.tar", "big.tar"]) {
        const input = new Uint8Array(readFileSync(fixture(name)))
        const c = await run(convertInMemory(input, { chunkSize: 65536, minChunkSize: 16384 }, 9))
        const layer = await run(openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest }))
        expect(layer.toc.entries.some((e) => (e.innerOffset ?? 0) > 0)).toBe(true)
        const report = await run(verifyLayer(layer, { diffId: c.diffId }))
        expect(report.files).toEqual(await listtar(fixture(name)))
        const plain = join(dir, `${name}.mcs.tar`)
        writeFileSync(plain, gunzipSync(c.blob))
        expect(sha256(readFileSync(plain))).toBe(c.diffId)
        expect(await listtar(plain)).toEqual(await listtar(fixture(name)))
      }
    })

    it("keep-diff-id: gunzip of the blob is the input tar, byte for byte", async () => {
      for (const name of ["gnu.tar", "trailing-garbage.tar", "big.tar"]) {
        const input = new Uint8Array(readFileSync(fixture(name)))
        const c = await run(convertInMemory(input, { externalToc: true, keepDiffId: true }, 9))
        expect(Buffer.from(gunzipSync(c.blob)).equals(Buffer.from(input))).toBe(true)
        expect(c.diffId).toBe(sha256(input))
        const facts = await run(
          Effect.map(
            openLayer(fromBytes(c.blob), { tocDigest: c.tocDigest, externalToc: c.externalToc! }),
            layerFacts,
          ),
        )
        expect(facts).toEqual(await listtar(fixture(name)))
      }
    })
  })

  describe("the reference's blobs open and verify with our reader, same files as the source", () => {
    for (const name of [...TARS, "pax.tar.zst"]) {
      it(name, async () => {
        const blob = join(dir, `${name}.ref.esgz`)
        const b = await runInterop(["build", "--in", fixture(name), "--out", blob, "--chunk-size", "1048576"])
        expect(b.code, b.stdout).toBe(0)
        const report = await run(
          Effect.flatMap(
            openLayer(fromBytes(new Uint8Array(readFileSync(blob))), { tocDigest: b.json.tocDigest }),
            (l) => verifyLayer(l, { diffId: b.json.diffID, uncompressedSize: b.json.uncompressedSize }),
          ),
        )
        expect(report.files).toEqual(await listtar(fixture(name)))
        expect(report.tocDigest).toBe(b.json.tocDigest)
      })
    }
  })

  describe("inputs eStargz cannot carry are refused with a typed error", () => {
    for (const name of ["unsupported-global-pax.tar", "unsupported-sparse.tar"]) {
      it(name, async () => {
        const input = new Uint8Array(readFileSync(fixture(name)))
        const r = await run(Effect.result(convertInMemory(input, {}, 1)))
        expect(r._tag).toBe("Failure")
        if (r._tag === "Failure") {
          expect(r.failure).toBeInstanceOf(LayerError)
          expect((r.failure as LayerError).reason).toBe("Unsupported")
        }
      })
    }
  })
})
