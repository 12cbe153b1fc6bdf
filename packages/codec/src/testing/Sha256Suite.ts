import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import * as fc from "fast-check"
import { digestOf, Sha256 } from "../Sha256.ts"
import { randomBytes } from "./TestData.ts"

const enc = new TextEncoder()

/** FIPS 180-2 / NIST test vectors. */
const VECTORS: ReadonlyArray<readonly [string, () => Uint8Array, string]> = [
  ["empty", () => new Uint8Array(0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", () => enc.encode("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "448-bit message",
    () => enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
  [
    "one million 'a'",
    () => new Uint8Array(1_000_000).fill(0x61),
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
  ],
]

/**
 * Registers the conformance tests every `Sha256` must pass: known vectors, `digestOf`, and
 * incremental hashing equal to one-shot hashing over arbitrary splits.
 *
 * @example
 * sha256Suite("node:crypto", NodeEngine.layerSha256)
 */
export const sha256Suite = (name: string, layer: Layer.Layer<Sha256>): void => {
  const run = <A, E>(body: (sha: Sha256["Service"]) => Effect.Effect<A, E>) =>
    Sha256.use(body).pipe(Effect.provide(layer))

  const oneShot = (sha: Sha256["Service"], data: Uint8Array): string => {
    const h = sha.make()
    h.update(data)
    return h.hex()
  }

  describe(`Sha256 conformance: ${name}`, () => {
    it.effect("has a name", () => run((sha) => Effect.sync(() => assert.isTrue(sha.name.length > 0))))

    for (const [label, data, hex] of VECTORS) {
      it.effect(`known vector: ${label}`, () =>
        run((sha) =>
          Effect.sync(() => {
            assert.strictEqual(oneShot(sha, data()), hex)
          }),
        ),
      )
    }

    it.effect("digestOf prefixes sha256:", () =>
      run((sha) =>
        Effect.sync(() => {
          assert.strictEqual(
            digestOf(sha, enc.encode("abc")),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
          )
        }),
      ),
    )

    it.effect("hashers are independent", () =>
      run((sha) =>
        Effect.sync(() => {
          const a = sha.make()
          const b = sha.make()
          a.update(enc.encode("a"))
          b.update(enc.encode("abc"))
          a.update(enc.encode("bc"))
          assert.strictEqual(a.hex(), b.hex())
          assert.strictEqual(sha.make().hex(), VECTORS[0]![2])
        }),
      ),
    )

    it.effect("byte-at-a-time equals one-shot around the 64-byte block boundaries", () =>
      run((sha) =>
        Effect.sync(() => {
          for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129]) {
            const data = randomBytes(n, n)
            const h = sha.make()
            for (let i = 0; i < n; i++) h.update(data.subarray(i, i + 1))
            assert.strictEqual(h.hex(), oneShot(sha, data), `length ${n}`)
          }
        }),
      ),
    )

    it.effect("incremental equals one-shot on random splits", () =>
      run((sha) =>
        Effect.sync(() => {
          fc.assert(
            fc.property(
              fc.uint8Array({ maxLength: 4000 }),
              fc.array(fc.nat({ max: 4000 }), { maxLength: 12 }),
              (data, cuts) => {
                const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((x, y) => x - y)
                const h = sha.make()
                let prev = 0
                for (const p of [...points, data.length]) {
                  h.update(data.subarray(prev, p))
                  prev = p
                }
                assert.strictEqual(h.hex(), oneShot(sha, data))
              },
            ),
            { numRuns: 200 },
          )
        }),
      ),
    )
  })
}
