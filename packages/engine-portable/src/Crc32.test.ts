import { referenceCrc32 } from "@lazypull/codec/testing"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { crc32 } from "./Crc32.ts"

describe("crc32", () => {
  it("matches the check value and known strings", () => {
    const enc = new TextEncoder()
    assert.strictEqual(crc32(enc.encode("123456789")), 0xcbf43926)
    assert.strictEqual(crc32(new Uint8Array(0)), 0)
    assert.strictEqual(crc32(enc.encode("The quick brown fox jumps over the lazy dog")), 0x414fa339)
  })

  it("equals the bytewise reference on any input, and continues across splits", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), (data, cut) => {
        const at = cut % (data.length + 1)
        const whole = crc32(data)
        assert.strictEqual(whole, referenceCrc32(data))
        assert.strictEqual(crc32(data.subarray(at), crc32(data.subarray(0, at))), whole)
      }),
      { numRuns: 300 },
    )
  })
})
