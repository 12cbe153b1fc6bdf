import * as zlib from "node:zlib"
import { CodecError, type GzipDeflater } from "@lazypull/codec"
import * as Effect from "effect/Effect"

const fail = (message: string) => new CodecError({ reason: "Engine", codec: "gzip/node:zlib", message })

/**
 * A node:zlib Gzip stream driven member by member: `flush()` is Z_SYNC_FLUSH, `finish()` is Z_FINISH
 * followed by `reset()`, after which zlib starts a new gzip member (header with MTIME 0).
 */
export const makeDeflater = (level: number): Effect.Effect<GzipDeflater, CodecError> =>
  Effect.suspend(() => {
    if (!Number.isInteger(level) || level < -1 || level > 9)
      return Effect.fail(
        new CodecError({ reason: "Unsupported", codec: "gzip/node:zlib", message: `gzip level ${level}` }),
      )
    const gz = zlib.createGzip({ level, chunkSize: 256 * 1024 })
    let out: Array<Uint8Array> = []
    let broken: CodecError | undefined
    gz.on("data", (b: Buffer) => out.push(new Uint8Array(b.buffer, b.byteOffset, b.length)))
    gz.on("error", (e) => {
      broken = fail(String(e))
    })
    const take = () => {
      const r = out
      out = []
      return r
    }
    const flushWith = (kind: number, reset: boolean) =>
      Effect.callback<ReadonlyArray<Uint8Array>, CodecError>((resume) => {
        if (broken) return resume(Effect.fail(broken))
        gz.flush(kind, () => {
          if (broken) return resume(Effect.fail(broken))
          if (reset) (gz as unknown as { reset(): void }).reset()
          resume(Effect.succeed(take()))
        })
      })
    const deflater: GzipDeflater = {
      write: (data) =>
        Effect.callback<ReadonlyArray<Uint8Array>, CodecError>((resume) => {
          if (broken) return resume(Effect.fail(broken))
          if (data.length === 0) return resume(Effect.succeed(take()))
          gz.write(data, (e) => (e ? resume(Effect.fail(fail(String(e)))) : resume(Effect.succeed(take()))))
        }),
      flush: () => flushWith(zlib.constants.Z_SYNC_FLUSH, false),
      finish: () => flushWith(zlib.constants.Z_FINISH, true),
    }
    return Effect.succeed(deflater)
  })
