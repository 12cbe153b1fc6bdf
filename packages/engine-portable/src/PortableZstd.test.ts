import { execFileSync } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { requireTool } from "@lazypull/testkit"
import * as PortableZstd from "./PortableZstd.ts"

const z = PortableZstd.make()
const zstd = (data: Uint8Array, level = 3) =>
  new Uint8Array(execFileSync("zstd", [`-${level}`, "-q", "-c"], { input: data }))
const text = (n: number) => new TextEncoder().encode("lazypull zstd ".repeat(Math.ceil(n / 14)).slice(0, n))
const concat = (...parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const skippable = (payload: Uint8Array) => {
  const h = new Uint8Array(8)
  h.set([0x50, 0x2a, 0x4d, 0x18])
  new DataView(h.buffer).setUint32(4, payload.length, true)
  return concat(h, payload)
}

describe.skipIf(!requireTool("zstd"))("PortableZstd (fzstd)", () => {
  it.effect("decodes several frames with skippable frames between them as one stream", () =>
    Effect.gen(function* () {
      const a = text(100_000)
      const b = text(3_000)
      const blob = concat(
        zstd(a),
        skippable(new TextEncoder().encode("metadata")),
        zstd(b, 19),
        skippable(new Uint8Array(40)),
      )
      const out = yield* z.decompress(blob, 1 << 20)
      expect(Buffer.from(out).equals(Buffer.from(concat(a, b)))).toBe(true)
    }),
  )

  it.effect("the inflater gives the same bytes whatever the pieces", () =>
    Effect.gen(function* () {
      const a = text(300_000)
      const blob = concat(zstd(a), zstd(a))
      for (const piece of [1, 7, 4096, 65536]) {
        const inf = yield* z.inflater()
        const parts: Array<Uint8Array> = []
        for (let off = 0; off < blob.length; off += piece)
          parts.push(...(yield* inf.push(blob.subarray(off, off + piece))))
        parts.push(...(yield* inf.end()))
        expect(Buffer.from(concat(...parts)).equals(Buffer.from(concat(a, a)))).toBe(true)
      }
    }),
  )

  it.effect("truncated, corrupt, empty and oversized inputs are typed errors", () =>
    Effect.gen(function* () {
      const blob = zstd(text(50_000))
      const truncated = yield* Effect.result(z.decompress(blob.subarray(0, blob.length - 5), 1 << 20))
      expect(truncated._tag === "Failure" && truncated.failure.reason).toBe("Truncated")
      const bad = blob.slice()
      bad[0] = 0x00
      const corrupt = yield* Effect.result(z.decompress(bad, 1 << 20))
      expect(corrupt._tag === "Failure" && corrupt.failure.reason).toBe("Corrupt")
      const empty = yield* Effect.result(z.decompress(new Uint8Array(0), 1 << 20))
      expect(empty._tag === "Failure" && empty.failure.reason).toBe("Truncated")
      const bomb = yield* Effect.result(z.decompress(zstd(new Uint8Array(10 << 20)), 1 << 20))
      expect(bomb._tag === "Failure" && bomb.failure.reason).toBe("TooLarge")
    }),
  )
})
