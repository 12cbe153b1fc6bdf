import { CodecError, concatBytes, GzipEngine, type GzipInflater } from "@lazypull/codec"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { gzipSync } from "fflate"
import { GunzipFailure, MultiMemberGunzip } from "./Gunzip.ts"
import { makeDeflater } from "./PortableDeflater.ts"

const CODEC = "gzip/fflate"
/** Input per decoding step in `decompress`, so the output bound is checked often. */
const STEP = 64 * 1024

const fail = (reason: CodecError["reason"], message: string) =>
  Effect.fail(new CodecError({ reason, codec: CODEC, message }))

const fromFailure = (e: unknown) =>
  e instanceof GunzipFailure
    ? fail(e.reason, e.message)
    : fail("Engine", e instanceof Error ? e.message : String(e))

const joinChunks = concatBytes

const compress = (data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError> =>
  Effect.suspend(() => {
    if (!Number.isInteger(level) || level < -1 || level > 9) {
      return fail("Unsupported", `gzip level ${level} is not an integer in -1..9`)
    }
    try {
      // fflate writes MTIME only when `mtime` is non-zero, so 0 leaves the field zeroed.
      const lv = (level === -1 ? 6 : level) as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9
      return Effect.succeed(gzipSync(data, { level: lv, mtime: 0 }))
    } catch (e) {
      return fail("Engine", e instanceof Error ? e.message : String(e))
    }
  })

const decompress = (data: Uint8Array, maxOutput?: number): Effect.Effect<Uint8Array, CodecError> =>
  Effect.suspend(() => {
    if (maxOutput !== undefined && !(Number.isSafeInteger(maxOutput) && maxOutput >= 0)) {
      return fail("Unsupported", `maxOutput ${maxOutput} is not a non-negative integer`)
    }
    const limit = maxOutput ?? Number.MAX_SAFE_INTEGER
    const g = new MultiMemberGunzip()
    const chunks: Array<Uint8Array> = []
    try {
      for (let pos = 0; pos < data.length; pos += STEP) {
        g.push(data.subarray(pos, pos + STEP))
        if (g.outputBytes > limit) {
          return fail("TooLarge", `output exceeds the bound of ${limit} bytes`)
        }
        for (const c of g.take()) chunks.push(c)
      }
      g.finish()
      return Effect.succeed(joinChunks(chunks, g.outputBytes))
    } catch (e) {
      return fromFailure(e)
    }
  })

const makeInflater = (): GzipInflater => {
  const g = new MultiMemberGunzip()
  return {
    push: (chunk) =>
      Effect.suspend(() => {
        try {
          g.push(chunk)
          return Effect.succeed(g.take())
        } catch (e) {
          return fromFailure(e)
        }
      }),
    end: () =>
      Effect.suspend(() => {
        try {
          g.finish()
          return Effect.succeed(g.take())
        } catch (e) {
          return fromFailure(e)
        }
      }),
  }
}

/**
 * The gzip engine on fflate (pure JavaScript: Node, Deno, browsers). Members are verified
 * (CRC32, ISIZE) and every member of a multi-member stream is decoded.
 *
 * @example
 * const member = yield* PortableGzip.make().compress(bytes, 9)
 */
export const make = (): GzipEngine["Service"] =>
  GzipEngine.of({
    name: "fflate",
    compress,
    decompress,
    inflater: () => Effect.sync(makeInflater),
    deflater: makeDeflater,
  })

/** `GzipEngine` on fflate. */
export const layer: Layer.Layer<GzipEngine> = Layer.succeed(GzipEngine, make())
