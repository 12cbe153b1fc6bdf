import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { randomBytes } from "@lazypull/codec/testing"
import { Crc64, crc64 } from "./Crc64.ts"

const enc = new TextEncoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

/** Bit-at-a-time CRC-64/ISO written from its definition: reflected 0xD800000000000000, init and xorout all ones. */
const reference = (data: Uint8Array): string => {
  const poly = 0xd800000000000000n
  let crc = 0xffffffffffffffffn
  for (const b of data) {
    crc ^= BigInt(b)
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n
  }
  return (crc ^ 0xffffffffffffffffn).toString(16).padStart(16, "0")
}

describe("CRC-64/ISO", () => {
  it("matches Go's hash/crc64 with crc64.ISO (values printed by Go 1.19)", () => {
    expect(hex(crc64(new Uint8Array(0)))).toBe("0000000000000000")
    expect(hex(crc64(enc.encode("a")))).toBe("3420000000000000")
    // the catalogued check value of CRC-64/GO-ISO
    expect(hex(crc64(enc.encode("123456789")))).toBe("b90956c775a41001")
    expect(hex(crc64(enc.encode("hello world, this is a longer string of 57 bytes......!!")))).toBe(
      "737fc812500665fd",
    )
    const pattern = new Uint8Array(100000)
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + Math.floor(i / 13)) & 0xff
    expect(hex(crc64(pattern))).toBe("d923fce041d9e9b1")
  })

  it("equals the bitwise definition on random inputs", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(hex(crc64(data))).toBe(reference(data))
      }),
      { numRuns: 200 },
    )
  })

  it("is the same whatever the pieces it is fed in; hex() and sum() agree", () => {
    const data = randomBytes(10_000, 5)
    const whole = hex(crc64(data))
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: data.length }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), data.length]
        const c = new Crc64()
        for (let i = 1; i < points.length; i++) c.update(data.subarray(points[i - 1], points[i]))
        expect(hex(c.sum())).toBe(whole)
        expect(c.hex()).toBe(whole)
      }),
    )
  })
})
