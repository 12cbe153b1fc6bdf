import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { OciError } from "./OciError.ts"
import { decodeConfig, decodeIndex, decodeManifest, encodeJson } from "./Schema.ts"

const enc = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v))
const d64 = (c: string) => `sha256:${c.repeat(64)}`
const origin = { image: "test-image", path: "blobs/sha256/x" }

const manifest = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d64("a"), size: 10 },
  layers: [
    {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: d64("b"),
      size: 20,
      annotations: { "containerd.io/snapshot/stargz/toc.digest": d64("c") },
    },
  ],
  annotations: { a: "b" },
}

const reasonOf = <A>(eff: Effect.Effect<A, OciError>): string => {
  const exit = Effect.runSyncExit(eff)
  if (Exit.isSuccess(exit)) return "success"
  const e = Effect.runSync(Effect.flip(eff))
  return e.reason
}

describe("Schema", () => {
  it.effect("decodes manifests, indexes and Docker manifest lists", () =>
    Effect.gen(function* () {
      const m = yield* decodeManifest(enc(manifest), origin)
      assert.strictEqual(m.layers[0]!.size, 20)
      assert.strictEqual(m.layers[0]!.annotations!["containerd.io/snapshot/stargz/toc.digest"], d64("c"))
      const list = yield* decodeIndex(
        enc({
          schemaVersion: 2,
          mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
          manifests: [
            {
              mediaType: "application/vnd.docker.distribution.manifest.v2+json",
              digest: d64("d"),
              size: 5,
              platform: { os: "linux", architecture: "arm64", variant: "v8" },
            },
          ],
        }),
        origin,
      )
      assert.strictEqual(list.manifests[0]!.platform!.variant, "v8")
    }),
  )

  it.effect("a config keeps keys it does not type, so a rewrite loses nothing", () =>
    Effect.gen(function* () {
      const config = {
        architecture: "amd64",
        os: "linux",
        config: { Env: ["A=1"], Labels: { x: "y" } },
        rootfs: { type: "layers", diff_ids: [d64("e")], extra: true },
        history: [{ created_by: "RUN x", empty_layer: true, custom: [1, 2] }],
        "x-vendor": { nested: null },
      }
      const decoded = yield* decodeConfig(enc(config), origin)
      assert.deepStrictEqual(decoded.rootfs.diff_ids, [d64("e")])
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(encodeJson(decoded))), config)
      const m = yield* decodeManifest(enc({ ...manifest, "x-other": 1 }), origin)
      assert.strictEqual((m as Record<string, unknown>)["x-other"], 1)
    }),
  )

  it("malformed documents fail with the right reason and name the file", () => {
    assert.strictEqual(
      reasonOf(decodeManifest(enc(JSON.stringify(manifest).slice(0, 40)), origin)),
      "BadJson",
    )
    assert.strictEqual(reasonOf(decodeManifest(new Uint8Array([0x7b, 0xff, 0x7d]), origin)), "BadJson")
    assert.strictEqual(reasonOf(decodeManifest(enc({ ...manifest, schemaVersion: 1 }), origin)), "BadSchema")
    assert.strictEqual(reasonOf(decodeManifest(enc({ ...manifest, layers: "x" }), origin)), "BadSchema")
    assert.strictEqual(
      reasonOf(
        decodeManifest(enc({ ...manifest, config: { ...manifest.config, digest: "sha256:abc" } }), origin),
      ),
      "BadSchema",
    )
    assert.strictEqual(
      reasonOf(decodeManifest(enc({ ...manifest, config: { ...manifest.config, size: -1 } }), origin)),
      "BadSchema",
    )
    assert.strictEqual(
      reasonOf(
        decodeManifest(enc({ ...manifest, config: { ...manifest.config, mediaType: "text/plain" } }), origin),
      ),
      "UnknownMediaType",
    )
    assert.strictEqual(
      reasonOf(decodeIndex(enc({ ...manifest, mediaType: manifest.mediaType }), origin)),
      "BadSchema",
    )
    assert.strictEqual(
      reasonOf(decodeConfig(enc({ rootfs: { type: "layers", diff_ids: ["x"] } }), origin)),
      "BadSchema",
    )
    assert.strictEqual(reasonOf(decodeConfig(enc({ history: [] }), origin)), "BadSchema")
    const e = Effect.runSync(Effect.flip(decodeConfig(enc("[1,"), origin)))
    assert.instanceOf(e, OciError)
    assert.strictEqual(e.image, "test-image")
    assert.strictEqual(e.path, "blobs/sha256/x")
  })

  it("decoders fed arbitrary bytes or JSON only ever fail with OciError", () => {
    const check = (bytes: Uint8Array): boolean => {
      for (const decode of [decodeIndex, decodeManifest, decodeConfig] as const) {
        const exit = Effect.runSyncExit(decode(bytes, origin) as Effect.Effect<unknown, OciError>)
        if (Exit.isFailure(exit)) {
          const e = Effect.runSync(Effect.flip(decode(bytes, origin) as Effect.Effect<unknown, OciError>))
          if (!(e instanceof OciError)) return false
        }
      }
      return true
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 300 })
    fc.assert(
      fc.property(fc.json(), (j) => check(enc(j))),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(
        fc.record(
          {
            schemaVersion: fc.constantFrom(2, 1, "2"),
            manifests: fc.anything(),
            config: fc.anything(),
            layers: fc.anything(),
            rootfs: fc.anything(),
          },
          { requiredKeys: [] },
        ),
        (v) => check(enc(v)),
      ),
      { numRuns: 300 },
    )
  })
})
