import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeDeflater } from "./NodeDeflater.ts"

const enc = (s: string) => new TextEncoder().encode(s)
const join = (parts: ReadonlyArray<Uint8Array>) => Buffer.concat(parts.map((p) => Buffer.from(p)))

describe("NodeDeflater", () => {
  it.effect("flush makes the position exact: the bytes so far decode to everything written so far", () =>
    Effect.gen(function* () {
      const d = yield* makeDeflater(9)
      const parts: Array<Uint8Array> = []
      const inputs = ["x".repeat(512), "y".repeat(300), "z".repeat(4096), "q".repeat(50)]
      let written = ""
      for (const i of inputs) {
        parts.push(...(yield* d.write(enc(i))))
        parts.push(...(yield* d.flush()))
        written += i
        // a sync-flushed prefix of a member inflates (without trailer) to exactly what was written
        const { inflateRawSync } = yield* Effect.promise(() => import("node:zlib"))
        expect(inflateRawSync(join(parts).subarray(10), { finishFlush: 2 }).toString()).toBe(written)
      }
      parts.push(...(yield* d.finish()))
      const first = join(parts).length
      parts.push(...(yield* d.write(enc("second"))))
      parts.push(...(yield* d.finish()))
      const all = join(parts)
      expect(all[first]).toBe(0x1f)
      expect(all[first + 1]).toBe(0x8b)
      expect(gunzipSync(all).toString()).toBe(written + "second")
      expect(gunzipSync(all.subarray(first)).toString()).toBe("second")
    }),
  )
})
