import { compressibleBytes, concatBytes, firstDifference } from "@lazypull/codec/testing"
import { assert, describe, it } from "@effect/vitest"
import { gzipSync } from "fflate"
import { GunzipFailure, MultiMemberGunzip } from "./Gunzip.ts"

const decode = (input: Uint8Array, piece: number): Uint8Array => {
  const g = new MultiMemberGunzip()
  const out: Array<Uint8Array> = []
  for (let p = 0; p < input.length; p += piece) {
    g.push(input.subarray(p, p + piece))
    out.push(...g.take())
  }
  g.finish()
  out.push(...g.take())
  return concatBytes(out)
}

describe("MultiMemberGunzip", () => {
  it("finds member ends that fall anywhere inside a pushed piece", () => {
    // Many small members: most pieces hold the end of one member and the start of others.
    const parts = Array.from({ length: 200 }, (_, i) => compressibleBytes(1 + ((i * 37) % 500), i + 1))
    const stream = concatBytes(parts.map((p, i) => gzipSync(p, { level: (i % 10) as 0, mtime: 0 })))
    const expected = concatBytes(parts)
    for (const piece of [1, 2, 7, 100, 4096, stream.length]) {
      assert.strictEqual(firstDifference(decode(stream, piece), expected), -1, `piece ${piece}`)
    }
  })

  it("counts output bytes and members", () => {
    const data = compressibleBytes(100_000, 9)
    const g = new MultiMemberGunzip()
    g.push(concatBytes([gzipSync(data), gzipSync(data)]))
    g.finish()
    assert.strictEqual(g.outputBytes, 200_000)
    assert.strictEqual(g.members, 2)
  })

  it("throws GunzipFailure with a reason", () => {
    const g = new MultiMemberGunzip()
    try {
      g.push(Uint8Array.of(0x1f, 0x8b, 9))
      assert.fail("no failure")
    } catch (e) {
      assert.instanceOf(e, GunzipFailure)
      assert.strictEqual((e as GunzipFailure).reason, "Corrupt")
    }
  })
})
