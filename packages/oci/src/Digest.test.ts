import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { blobPath, isDigest, parseDigest, sha256Digest } from "./Digest.ts"
import {
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  isIndex,
  isLayer,
  isManifest,
  layerCompression,
  OCI_EMPTY_DIGEST,
  OCI_INDEX,
  OCI_LAYER_NONDIST_ZSTD,
  OCI_LAYER_TAR,
  OCI_LAYER_ZSTD,
  OCI_MANIFEST,
} from "./MediaType.ts"
import { sha256Hex, sha256Layer } from "./Oci.test-utils.ts"

const hex64 = "a".repeat(63) + "0"

describe("Digest", () => {
  it("accepts the OCI grammar", () => {
    assert.isTrue(isDigest(`sha256:${hex64}`))
    assert.isTrue(isDigest(`sha512:${"0123456789abcdef".repeat(8)}`))
    assert.isTrue(isDigest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"))
    assert.isTrue(isDigest("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"))
  })

  it("rejects malformed digests", () => {
    for (const d of [
      "sha256",
      `sha256:${hex64.toUpperCase()}`,
      `sha256:${hex64}0`,
      `sha256:${hex64.slice(1)}`,
      `sha512:${hex64}`,
      `SHA256:${hex64}`,
      `sha256+:${hex64}`,
      ":abc",
      "sha256:",
      "sha256:ab/cd",
    ]) {
      assert.isFalse(isDigest(d), d)
    }
  })

  it.effect("parseDigest splits or fails with BadReference", () =>
    Effect.gen(function* () {
      const p = yield* parseDigest(`sha256:${hex64}`)
      assert.deepStrictEqual(p, { algorithm: "sha256", encoded: hex64 })
      assert.strictEqual(blobPath(`sha256:${hex64}`), `blobs/sha256/${hex64}`)
      const e = yield* Effect.flip(parseDigest("sha256:xyz", "img"))
      assert.strictEqual(e.reason, "BadReference")
      assert.strictEqual(e.image, "img")
      assert.strictEqual(e.digest, "sha256:xyz")
    }),
  )

  it.effect("sha256Digest matches node:crypto (and the empty descriptor digest)", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* sha256Digest(new TextEncoder().encode("{}")), OCI_EMPTY_DIGEST)
      yield* Effect.sync(() =>
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
            const d = Effect.runSync(Effect.provide(sha256Digest(b), sha256Layer))
            return d === `sha256:${sha256Hex(b)}` && isDigest(d)
          }),
        ),
      )
    }).pipe(Effect.provide(sha256Layer)),
  )

  it("parseDigest never throws and succeeds exactly on isDigest", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (s) => {
        const exit = Effect.runSyncExit(parseDigest(s))
        return Exit.isSuccess(exit) === isDigest(s)
      }),
    )
  })
})

describe("MediaType", () => {
  it("classifies indexes, manifests and layers", () => {
    assert.isTrue(isIndex(OCI_INDEX) && isIndex(DOCKER_MANIFEST_LIST) && !isIndex(OCI_MANIFEST))
    assert.isTrue(isManifest(OCI_MANIFEST) && isManifest(DOCKER_MANIFEST) && !isManifest(OCI_INDEX))
    assert.isTrue(isLayer(OCI_LAYER_TAR) && isLayer(DOCKER_LAYER_GZIP) && !isLayer(OCI_MANIFEST))
    assert.isFalse(isLayer(undefined))
    assert.strictEqual(layerCompression(OCI_LAYER_TAR), "none")
    assert.strictEqual(layerCompression(DOCKER_LAYER_GZIP), "gzip")
    assert.strictEqual(layerCompression(OCI_LAYER_ZSTD), "zstd")
    assert.strictEqual(layerCompression(OCI_LAYER_NONDIST_ZSTD), "zstd")
    assert.strictEqual(layerCompression("application/octet-stream"), undefined)
  })
})
