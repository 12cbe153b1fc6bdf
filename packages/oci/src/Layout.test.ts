import { readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { fixture, tmpDir } from "@lazypull/testkit"
import { Effect } from "effect"
import { openImage } from "./Archive.ts"
import { blobPath } from "./Digest.ts"
import { openLayout, openLayoutImage, parsePlatform, resolveManifest } from "./Layout.ts"
import { digestFile, readBlob, verifyBlob } from "./LayoutSource.ts"
import { buildLayout, dirSource, noise, sha256Hex, sha256Layer, writeBlob } from "./Oci.test-utils.ts"

const MANIFEST = "application/vnd.oci.image.manifest.v1+json"

describe("Layout", () => {
  it.effect("opens the generated test-fixtures image layout and verifies every layer", () =>
    Effect.gen(function* () {
      const dir = fixture("image")
      const image = yield* openLayoutImage(dirSource(dir), { ref: "latest" })
      const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"))
      assert.strictEqual(image.manifestDescriptor!.digest, index.manifests[0].digest)
      const manifest = JSON.parse(readFileSync(join(dir, blobPath(index.manifests[0].digest)), "utf8"))
      assert.strictEqual(image.format, "oci")
      assert.strictEqual(image.layers.length, manifest.layers.length)
      assert.isTrue(image.layers.length > 0)
      const config = JSON.parse(readFileSync(join(dir, blobPath(manifest.config.digest)), "utf8"))
      for (const [i, l] of image.layers.entries()) {
        assert.strictEqual(l.descriptor.digest, manifest.layers[i].digest)
        assert.strictEqual(l.diffId, config.rootfs.diff_ids[i])
        assert.strictEqual(`sha256:${sha256Hex(readFileSync(join(dir, l.path)))}`, l.descriptor.digest)
        yield* verifyBlob(image.source, l.descriptor)
      }
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect(
    "opens a built layout by tag or as the only image, with unknown extra files and descriptors",
    () =>
      Effect.gen(function* () {
        const dir = join(tmpDir(), "layout")
        const built = buildLayout(dir, {
          gzip: true,
          extraManifests: [
            { mediaType: "application/vnd.example.sbom+json", digest: `sha256:${"1".repeat(64)}`, size: 3 },
          ],
        })
        writeFileSync(join(dir, "README.txt"), "unknown files are tolerated")
        const src = dirSource(dir)
        for (const selector of [{ ref: "latest" }, {}]) {
          const image = yield* openImage(src, selector)
          assert.strictEqual(image.manifestDescriptor!.digest, built.manifest.digest)
          assert.strictEqual(image.configDescriptor.digest, built.config.digest)
          assert.deepStrictEqual(
            image.layers.map((l) => [l.descriptor.digest, l.descriptor.size, l.diffId, l.compression]),
            built.layers.map((l, i) => [l.digest, l.size, built.diffIds[i], "gzip"]),
          )
          assert.deepStrictEqual(
            (image.config as Record<string, unknown>).config,
            { Env: ["PATH=/bin"] },
            "unknown config keys are kept",
          )
        }
        const { digest, size } = yield* digestFile(src, blobPath(built.layers[1]!.digest))
        assert.deepStrictEqual({ digest, size }, built.layers[1])
        const e = yield* Effect.flip(openLayoutImage(src, { ref: "nope" }))
        assert.strictEqual(e.reason, "NotFound")
      }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("walks a nested index and selects a platform", () =>
    Effect.gen(function* () {
      const dir = join(tmpDir(), "multi")
      const amd = buildLayout(dir, { layers: [noise(100, 7)], noIndex: true })
      const arm = buildLayout(dir, { layers: [noise(200, 8)], noIndex: true })
      const armV7 = buildLayout(dir, { layers: [noise(300, 9)], noIndex: true })
      const desc = (m: { digest: string; size: number }, architecture: string, variant?: string) => ({
        mediaType: MANIFEST,
        ...m,
        platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
      })
      const nested = writeBlob(
        dir,
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [
            desc(amd.manifest, "amd64"),
            desc(arm.manifest, "arm64", "v8"),
            desc(armV7.manifest, "arm", "v7"),
          ],
        }),
      )
      writeFileSync(
        join(dir, "index.json"),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: "application/vnd.oci.image.index.v1+json",
              ...nested,
              annotations: { "org.opencontainers.image.ref.name": "v1" },
            },
          ],
        }),
      )
      const src = dirSource(dir)
      const layout = yield* openLayout(src)
      assert.strictEqual(
        (yield* resolveManifest(layout, { ref: "v1", platform: "linux/amd64" })).digest,
        amd.manifest.digest,
      )
      assert.strictEqual(
        (yield* resolveManifest(layout, { platform: "linux/arm64/v8" })).digest,
        arm.manifest.digest,
      )
      assert.strictEqual(
        (yield* resolveManifest(layout, { platform: "linux/arm64" })).digest,
        arm.manifest.digest,
      )
      assert.strictEqual(
        (yield* resolveManifest(layout, { platform: "linux/arm/v7" })).digest,
        armV7.manifest.digest,
      )
      const image = yield* openLayoutImage(src, { platform: "linux/arm/v7" })
      assert.strictEqual(image.layers[0]!.descriptor.digest, armV7.layers[0]!.digest)
      assert.strictEqual((yield* Effect.flip(resolveManifest(layout, {}))).reason, "BadReference")
      assert.strictEqual(
        (yield* Effect.flip(resolveManifest(layout, { platform: "linux/arm/v6" }))).reason,
        "NotFound",
      )
      assert.strictEqual(
        (yield* Effect.flip(resolveManifest(layout, { platform: "windows/amd64" }))).reason,
        "NotFound",
      )
      assert.strictEqual(
        (yield* Effect.flip(resolveManifest(layout, { platform: "linux" }))).reason,
        "BadReference",
      )
      assert.deepStrictEqual(yield* parsePlatform("linux/arm64/v8"), {
        os: "linux",
        architecture: "arm64",
        variant: "v8",
      })
    }).pipe(Effect.provide(sha256Layer)),
  )

  const broken = (name: string, mutate: (dir: string, built: ReturnType<typeof buildLayout>) => void) => {
    const dir = join(tmpDir(), name)
    const built = buildLayout(dir)
    mutate(dir, built)
    return Effect.flip(openLayoutImage(dirSource(dir)))
  }

  it.effect("malformed layouts fail with the right reason", () =>
    Effect.gen(function* () {
      const cases: Array<[string, (dir: string, b: ReturnType<typeof buildLayout>) => void, string]> = [
        ["no-oci-layout", (d) => unlinkSync(join(d, "oci-layout")), "NotFound"],
        ["bad-oci-layout", (d) => writeFileSync(join(d, "oci-layout"), "{}"), "BadSchema"],
        ["truncated-index", (d) => truncateSync(join(d, "index.json"), 30), "BadJson"],
        ["index-not-json", (d) => writeFileSync(join(d, "index.json"), "not json"), "BadJson"],
        ["index-shape", (d) => writeFileSync(join(d, "index.json"), '{"schemaVersion":2}'), "BadSchema"],
        ["missing-manifest", (d, b) => unlinkSync(join(d, blobPath(b.manifest.digest))), "NotFound"],
        ["missing-config", (d, b) => unlinkSync(join(d, blobPath(b.config.digest))), "NotFound"],
        ["missing-layer", (d, b) => unlinkSync(join(d, blobPath(b.layers[0]!.digest))), "NotFound"],
        [
          "wrong-digest",
          (d, b) => {
            const p = join(d, blobPath(b.config.digest))
            const bytes = readFileSync(p)
            bytes[bytes.length - 2] = 0x20
            writeFileSync(p, bytes)
          },
          "DigestMismatch",
        ],
        ["wrong-size", (d, b) => writeFileSync(join(d, blobPath(b.config.digest)), "{}"), "SizeMismatch"],
        [
          "wrong-layer-size",
          (d, b) => truncateSync(join(d, blobPath(b.layers[1]!.digest)), 10),
          "SizeMismatch",
        ],
        [
          "unknown-layer-type",
          (d) => {
            rmSync(d, { recursive: true })
            buildLayout(d, { layerMediaType: "application/vnd.example.unknown" })
          },
          "UnknownMediaType",
        ],
        [
          "unknown-manifest-type",
          (d, b) => {
            const index = JSON.parse(readFileSync(join(d, "index.json"), "utf8"))
            index.manifests[0].mediaType = "application/vnd.example.thing"
            writeFileSync(join(d, "index.json"), JSON.stringify(index))
            void b
          },
          "UnknownMediaType",
        ],
        [
          "two-images-no-ref",
          (d, b) => {
            const index = JSON.parse(readFileSync(join(d, "index.json"), "utf8"))
            index.manifests.push({
              ...index.manifests[0],
              annotations: { "org.opencontainers.image.ref.name": "v2" },
            })
            writeFileSync(join(d, "index.json"), JSON.stringify(index))
            void b
          },
          "BadReference",
        ],
        [
          "diff-id-count",
          (d) => {
            rmSync(d, { recursive: true })
            buildLayout(d, { configExtra: { rootfs: { type: "layers", diff_ids: [] } } })
          },
          "BadSchema",
        ],
      ]
      for (const [name, mutate, reason] of cases) {
        const e = yield* broken(name, mutate)
        assert.strictEqual(e._tag, "OciError", name)
        assert.strictEqual(e.reason, reason, `${name}: ${e.message}`)
        assert.include(e.image, name)
      }
    }).pipe(Effect.provide(sha256Layer)),
  )

  it.effect("readBlob and verifyBlob check layer contents", () =>
    Effect.gen(function* () {
      const dir = join(tmpDir(), "corrupt-layer")
      const built = buildLayout(dir)
      const src = dirSource(dir)
      const image = yield* openLayoutImage(src)
      const layer = image.layers[1]!
      yield* verifyBlob(src, layer.descriptor)
      const p = join(dir, layer.path)
      const bytes = readFileSync(p)
      bytes[40_000] = bytes[40_000]! ^ 1
      writeFileSync(p, bytes)
      const e = yield* Effect.flip(verifyBlob(src, layer.descriptor))
      assert.strictEqual(e.reason, "DigestMismatch")
      assert.strictEqual(e.digest, built.layers[1]!.digest)
      assert.strictEqual(e.path, layer.path)
      assert.strictEqual((yield* Effect.flip(readBlob(src, layer.descriptor))).reason, "DigestMismatch")
    }).pipe(Effect.provide(sha256Layer)),
  )
})
