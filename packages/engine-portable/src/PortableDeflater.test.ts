import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Gzip } from "fflate"
import { makeDeflater } from "./PortableDeflater.ts"

const enc = (s: string) => new TextEncoder().encode(s)
const join = (parts: ReadonlyArray<Uint8Array>) => Buffer.concat(parts.map((p) => Buffer.from(p)))

describe("PortableDeflater", () => {
  it("fflate's own sync flush corrupts this write pattern (why flush() does not use it)", () => {
    const out: Array<Uint8Array> = []
    const g = new Gzip({ level: 6, mtime: 0 })
    g.ondata = (c) => {
      out.push(c)
    }
    for (const op of ["x".repeat(512), "y".repeat(300), "F", "z".repeat(4096), "F", "q".repeat(50)]) {
      if (op === "F") g.flush(true)
      else g.push(enc(op))
    }
    g.push(new Uint8Array(0), true)
    expect(() => gunzipSync(join(out))).toThrow()
  })

  it.effect("members written with flushes in between decode to the input, one member per finish", () =>
    Effect.gen(function* () {
      const d = yield* makeDeflater(6)
      const parts: Array<Uint8Array> = []
      const inputs = ["x".repeat(512), "y".repeat(300), "z".repeat(4096), "q".repeat(50)]
      for (const i of inputs) {
        parts.push(...(yield* d.write(enc(i))))
        parts.push(...(yield* d.flush()))
      }
      parts.push(...(yield* d.finish()))
      const first = join(parts).length
      parts.push(...(yield* d.write(enc("second"))))
      parts.push(...(yield* d.finish()))
      const all = join(parts)
      expect(gunzipSync(all).toString()).toBe(inputs.join("") + "second")
      expect(gunzipSync(all.subarray(first)).toString()).toBe("second")
    }),
  )

  it.effect("rejects a bad level", () =>
    Effect.gen(function* () {
      const r = yield* Effect.result(makeDeflater(12))
      expect(r._tag).toBe("Failure")
    }),
  )
})
