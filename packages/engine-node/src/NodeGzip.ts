import * as zlib from "node:zlib"
import { CodecError, concatBytes, GzipEngine, type GzipInflater } from "@lazypull/codec"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { makeDeflater } from "./NodeDeflater.ts"

const CODEC = "gzip/node:zlib"
// zlib's output buffer size decides how many threadpool round trips one call takes (one per
// filled buffer); the 16 KiB default costs a third of the throughput with two calls in flight.
/** Output buffer for the streaming inflater. */
const INFLATER_CHUNK = 256 * 1024
/** Output buffer for `compress`: the input size (compressed output rarely exceeds it), 16 KiB..1 MiB. */
const compressChunk = (n: number) => Math.min(1024 * 1024, Math.max(16 * 1024, n))
/** Output buffer for `decompress`: sized from the last member's ISIZE, 1 KiB..256 KiB. */
const decompressChunk = (data: Uint8Array) => {
  const n = data.length
  const isize =
    n >= 18 ? (data[n - 4]! | (data[n - 3]! << 8) | (data[n - 2]! << 16) | (data[n - 1]! << 24)) >>> 0 : 0
  return Math.min(INFLATER_CHUNK, Math.max(1024, isize + 64))
}

const codecError = (reason: CodecError["reason"], message: string) =>
  new CodecError({ reason, codec: CODEC, message })

/** Maps a zlib error (`code` Z_DATA_ERROR, Z_BUF_ERROR, ...) to a CodecError reason. */
const fromZlib = (e: unknown): CodecError => {
  const err = e as { code?: unknown; message?: unknown }
  const message = typeof err?.message === "string" ? err.message : String(e)
  switch (err?.code) {
    case "Z_DATA_ERROR":
    case "Z_NEED_DICT":
      return codecError("Corrupt", message)
    case "Z_BUF_ERROR":
      return codecError("Truncated", message)
    case "ERR_BUFFER_TOO_LARGE":
      return codecError("TooLarge", message)
    default:
      return codecError("Engine", message)
  }
}

/** A plain Uint8Array view of a Buffer (Buffer#slice shares memory; Uint8Array#slice copies). */
const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length)

const isZero = (b: Uint8Array, from: number): boolean => {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false
  return true
}

const joinChunks = concatBytes

const compress = (data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError> =>
  Number.isInteger(level) && level >= -1 && level <= 9
    ? Effect.callback<Uint8Array, CodecError>((resume) => {
        // The async API runs on libuv's threadpool, so several calls in flight use several cores.
        zlib.gzip(data, { level, chunkSize: compressChunk(data.length) }, (err, out) =>
          // copy out of the worst-case-sized buffer so that it is freed now, not when the member is written
          resume(
            err
              ? Effect.fail(fromZlib(err))
              : Effect.succeed(out.buffer.byteLength > out.length * 2 ? new Uint8Array(out) : view(out)),
          ),
        )
      })
    : Effect.fail(codecError("Unsupported", `gzip level ${level} is not an integer in -1..9`))

/**
 * zlib's Gunzip decodes member after member but, after a member followed by a zero byte, silently
 * ignores the rest of that write (it takes it for padding). `bytesWritten` tells how much input it
 * really consumed, so such a tail is checked here: zeros are padding, anything else is corrupt.
 */
class Gunzip {
  readonly z: zlib.Gunzip
  out: Array<Uint8Array> = []
  outBytes = 0
  failure: CodecError | undefined
  private pushed = 0
  private ignored = 0
  private padding = false
  private readableEnded = false
  private waiting: ((e: Effect.Effect<void, CodecError>) => void) | undefined
  private finishing: ((e: Effect.Effect<void, CodecError>) => void) | undefined

  constructor(
    private readonly limit: number,
    chunkSize: number,
  ) {
    this.z = zlib.createGunzip({ chunkSize })
    this.z.on("data", (b: Buffer) => {
      this.outBytes += b.length
      if (this.outBytes > this.limit) {
        this.fail(codecError("TooLarge", `output exceeds the bound of ${this.limit} bytes`))
      } else {
        this.out.push(view(b))
      }
    })
    this.z.on("error", (e) => this.fail(fromZlib(e)))
    // After padding zlib ends its readable side by itself, before the input is ended.
    this.z.on("end", () => {
      this.readableEnded = true
      const w = this.finishing
      this.finishing = undefined
      w?.(Effect.void)
    })
  }

  fail(e: CodecError): void {
    if (this.failure) return
    this.failure = e
    this.out = []
    this.z.destroy()
    const w = this.waiting ?? this.finishing
    this.waiting = undefined
    this.finishing = undefined
    w?.(Effect.fail(e))
  }

  take(): Array<Uint8Array> {
    const out = this.out
    this.out = []
    return out
  }

  /** Writes one chunk and waits until zlib has consumed it (one chunk in flight: backpressure). */
  write(chunk: Uint8Array): Effect.Effect<void, CodecError> {
    return Effect.callback<void, CodecError>((resume) => {
      if (this.failure) return resume(Effect.fail(this.failure))
      if (chunk.length === 0) return resume(Effect.void)
      if (this.padding) {
        // zlib would start a new member at a non-zero byte; after padding that is not allowed.
        return resume(
          isZero(chunk, 0)
            ? Effect.void
            : Effect.fail(codecError("Corrupt", "non-zero byte in the zero padding after the last member")),
        )
      }
      this.waiting = resume
      this.z.write(chunk, (err) => {
        if (this.waiting !== resume) return
        this.waiting = undefined
        if (err || this.failure) return resume(Effect.fail(this.failure ?? fromZlib(err)))
        this.pushed += chunk.length
        const skipped = this.pushed - this.z.bytesWritten - this.ignored
        if (skipped > 0) {
          this.ignored += skipped
          this.padding = true
          if (!isZero(chunk, chunk.length - skipped)) {
            this.fail(codecError("Corrupt", "non-zero byte in the zero padding after the last member"))
            return resume(Effect.fail(this.failure!))
          }
        }
        resume(Effect.void)
      })
      return Effect.sync(() => this.fail(codecError("Engine", "interrupted")))
    })
  }

  /** Ends the input and waits for the last output. */
  finish(): Effect.Effect<void, CodecError> {
    return Effect.callback<void, CodecError>((resume) => {
      if (this.failure) return resume(Effect.fail(this.failure))
      this.z.end()
      if (this.readableEnded) return resume(Effect.void)
      this.finishing = resume
      return Effect.sync(() => this.fail(codecError("Engine", "interrupted")))
    })
  }
}

/** Inputs up to this size are decompressed synchronously. */
const SYNC_DECOMPRESS_MAX = 256 * 1024

const decompress = (data: Uint8Array, maxOutput?: number): Effect.Effect<Uint8Array, CodecError> =>
  Effect.suspend(() => {
    if (maxOutput !== undefined && !(Number.isSafeInteger(maxOutput) && maxOutput >= 0)) {
      return Effect.fail(codecError("Unsupported", `maxOutput ${maxOutput} is not a non-negative integer`))
    }
    if (data.length > 0 && data.length <= SYNC_DECOMPRESS_MAX) {
      // Small inputs (most eStargz chunks): one synchronous call beats a stream's threadpool round trips.
      // `bytesWritten` gives the same trailing-bytes check as the streaming path.
      try {
        const r = zlib.gunzipSync(data, {
          info: true,
          ...(maxOutput === undefined ? {} : { maxOutputLength: Math.max(1, maxOutput) }),
        }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
        if (maxOutput !== undefined && r.buffer.length > maxOutput)
          return Effect.fail(codecError("TooLarge", `output exceeds the bound of ${maxOutput} bytes`))
        if (r.engine.bytesWritten < data.length && !isZero(data, r.engine.bytesWritten))
          return Effect.fail(codecError("Corrupt", "non-zero byte in the zero padding after the last member"))
        return Effect.succeed(view(r.buffer))
      } catch (e) {
        return Effect.fail(fromZlib(e))
      }
    }
    const g = new Gunzip(maxOutput ?? Number.MAX_SAFE_INTEGER, decompressChunk(data))
    return g.write(data).pipe(
      Effect.andThen(g.finish()),
      Effect.map(() => joinChunks(g.take(), g.outBytes)),
    )
  })

const makeInflater = (): GzipInflater => {
  const g = new Gunzip(Number.MAX_SAFE_INTEGER, INFLATER_CHUNK)
  let ended = false
  return {
    push: (chunk) =>
      ended
        ? Effect.fail(codecError("Engine", "push after end"))
        : Effect.map(g.write(chunk), () => g.take()),
    end: () =>
      Effect.suspend(() => {
        if (ended) return Effect.fail(codecError("Engine", "end called twice"))
        ended = true
        return Effect.map(g.finish(), () => g.take())
      }),
  }
}

/**
 * The gzip engine on node:zlib. `compress` runs on libuv's threadpool (keep a few calls in
 * flight to use several cores); `decompress` and `inflater` decode every member.
 *
 * @example
 * const member = yield* NodeGzip.make().compress(bytes, 9)
 */
export const make = (): GzipEngine["Service"] =>
  GzipEngine.of({
    name: "node:zlib",
    compress,
    decompress,
    inflater: () => Effect.sync(makeInflater),
    deflater: makeDeflater,
  })

/** `GzipEngine` on node:zlib. */
export const layer: Layer.Layer<GzipEngine> = Layer.succeed(GzipEngine, make())
