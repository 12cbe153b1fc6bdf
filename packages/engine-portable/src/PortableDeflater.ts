import { CodecError, type GzipDeflater } from "@lazypull/codec"
import * as Effect from "effect/Effect"
import { Gzip } from "fflate"

const fail = (message: string) => new CodecError({ reason: "Engine", codec: "gzip/fflate", message })

/**
 * fflate's streaming Gzip, one instance per member. `flush()` does NOT call fflate's sync flush: in
 * fflate 0.8 it corrupts the stream after some write patterns ("invalid stored block lengths", reproduced
 * in PortableDeflater.test.ts), so the position it reports is the output emitted so far. Still
 * deterministic, which is all min-chunk-size packing needs; node:zlib gives the exact position.
 */
export const makeDeflater = (level: number): Effect.Effect<GzipDeflater, CodecError> =>
  Effect.suspend(() => {
    if (!Number.isInteger(level) || level < -1 || level > 9)
      return Effect.fail(
        new CodecError({ reason: "Unsupported", codec: "gzip/fflate", message: `gzip level ${level}` }),
      )
    const lv = (level === -1 ? 6 : level) as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9
    let out: Array<Uint8Array> = []
    let current: Gzip | undefined
    const member = () => {
      if (!current) {
        current = new Gzip({ level: lv, mtime: 0 })
        current.ondata = (chunk) => {
          out.push(chunk)
        }
      }
      return current
    }
    const take = () => {
      const r = out
      out = []
      return r
    }
    const guard = (f: () => void) =>
      Effect.suspend(() => {
        try {
          f()
          return Effect.succeed(take())
        } catch (e) {
          return Effect.fail(fail(e instanceof Error ? e.message : String(e)))
        }
      })
    const deflater: GzipDeflater = {
      write: (data) => guard(() => data.length > 0 && member().push(data)),
      flush: () => guard(() => member()),
      finish: () =>
        guard(() => {
          member().push(new Uint8Array(0), true)
          current = undefined
        }),
    }
    return Effect.succeed(deflater)
  })
