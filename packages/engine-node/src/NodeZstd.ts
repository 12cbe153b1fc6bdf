import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { pathToFileURL } from "node:url"
import { CodecError, ZstdEngine } from "@lazypull/codec"
import { PortableZstd } from "@lazypull/engine-portable"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type CompressPool, makeCompressPool } from "./NodeZstdPool.ts"
import { ZSTD_WORKER_SOURCE } from "./NodeZstdWorker.ts"

const WASM_CODEC = "zstd/zstd-wasm-workers"
const NAPI_CODEC = "zstd/zstd-napi"

/** Workers retire after a job over 64 MiB, so that a wasm heap grown by it is given back. */
const RETIRE_ABOVE = 64 * 1024 * 1024

/**
 * Inputs below this size compress on the calling thread: a worker round trip costs ~50 µs here, more
 * than zstd needs for a few KiB, and zstd:chunked has many tiny frames (small files, tar headers).
 */
const INLINE_BELOW = 2048

/** Options of the worker-pool engines. */
export interface NodeZstdOptions {
  /** Most compression workers (default: one fewer than `os.availableParallelism()`, at least 1). */
  readonly workers?: number
  /** Inputs shorter than this compress on the calling thread, same bytes (default 2048; 0: never). */
  readonly inlineBelow?: number
  /**
   * Whether the calling thread compresses a frame itself when every worker already has work waiting
   * (default true): it is then one of the compressors, and the pool needs one worker (and its memory)
   * fewer. False: it only hands frames out, and never blocks for longer than a small frame takes.
   */
  readonly callerRuns?: boolean
}

/** Options of the native engine. */
export interface NodeZstdNativeOptions extends NodeZstdOptions {
  /** The zstd-napi module to load: a package name or a path (default "zstd-napi"). */
  readonly module?: string
}

/** Default pool size: one worker per core but the calling thread's, at least 1. */
export const defaultWorkers = (): number => Math.max(1, availableParallelism() - 1)

const poolSize = (options: NodeZstdOptions): number =>
  options.workers !== undefined && Number.isInteger(options.workers) && options.workers >= 1
    ? options.workers
    : defaultWorkers()

const requireHere = createRequire(import.meta.url)

/** The pool as a scoped resource: closed (workers terminated) when the scope closes. */
const scopedPool = (build: () => CompressPool): Effect.Effect<CompressPool, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(build), (pool) => Effect.promise(() => pool.close()))

const portable = PortableZstd.make()

/**
 * The calling thread compresses nothing bigger than this for the pool: its wasm heap never shrinks (a
 * worker that took a big job retires instead), so it stays within a few chunks' worth.
 */
const CALLER_RUNS_UP_TO = 16 * 1024 * 1024

/**
 * zstd-wasm on the calling thread, synchronously: undefined while its module is still loading, and for
 * inputs over CALLER_RUNS_UP_TO (they wait for a worker).
 */
const wasmHere = (data: Uint8Array, level: number): Uint8Array | CodecError | undefined => {
  if (data.length > CALLER_RUNS_UP_TO) return undefined
  const wasm = PortableZstd.zstdWasmNow()
  if (wasm === undefined) return undefined
  try {
    return wasm.compress(data, level)
  } catch (e) {
    return PortableZstd.wasmError(e, WASM_CODEC)
  }
}

/**
 * The Node zstd engine: `compress` runs zstd-wasm in a pool of `node:worker_threads` workers, so
 * that several frames in flight use several cores, and writes the same bytes as `PortableZstd.make()`
 * for the same input and level, whichever thread compresses it. Inputs under `inlineBelow` compress on
 * the calling thread, and so does any frame that finds every worker busy (unless `callerRuns` is off).
 * Decoding is the portable engine's (zstd-wasm per frame on this thread, fzstd for streaming). Workers
 * start on the first `compress`, never keep an idle process alive, and are terminated when the scope
 * closes.
 *
 * @example
 * const zstd = yield* NodeZstd.make({ workers: 4 })
 * const frame = yield* zstd.compress(chunk, 3)
 */
export const make = (
  options: NodeZstdOptions = {},
): Effect.Effect<ZstdEngine["Service"], never, Scope.Scope> => {
  const inlineBelow = options.inlineBelow ?? INLINE_BELOW
  return Effect.map(
    scopedPool(() =>
      makeCompressPool({
        size: poolSize(options),
        source: ZSTD_WORKER_SOURCE,
        workerData: {
          backend: "wasm",
          moduleUrl: pathToFileURL(requireHere.resolve("@bokuweb/zstd-wasm")).href,
        },
        codec: WASM_CODEC,
        error: (message) => PortableZstd.wasmError(new Error(message), WASM_CODEC),
        retireAbove: RETIRE_ABOVE,
        callerRuns: options.callerRuns === false ? undefined : wasmHere,
      }),
    ),
    (pool) =>
      ZstdEngine.of({
        name: "zstd-wasm workers",
        compress: (data, level) => {
          const checked = PortableZstd.checkCompress(data.length, level, WASM_CODEC)
          if (typeof checked !== "number") return Effect.fail(checked)
          return data.length < inlineBelow ? portable.compress(data, checked) : pool.compress(data, checked)
        },
        decompress: portable.decompress,
        inflater: portable.inflater,
      }),
  )
}

/** Layer of the worker-pool zstd engine (default pool size). */
export const layer: Layer.Layer<ZstdEngine> = Layer.effect(ZstdEngine, make())

/** The parts of zstd-napi used here. */
interface ZstdNapi {
  readonly Decompressor: new () => { decompress(data: Uint8Array): Uint8Array }
  readonly Compressor: new () => {
    setParameters(parameters: { compressionLevel: number }): void
    compress(data: Uint8Array): Uint8Array
  }
}

const nativeError = (reason: CodecError["reason"], e: unknown) =>
  new CodecError({ reason, codec: NAPI_CODEC, message: e instanceof Error ? e.message : String(e) })

/** Maps what zstd-napi's decoder throws: memory problems are the engine's, the rest is bad input. */
const nativeDecodeError = (e: unknown): CodecError => {
  const message = e instanceof Error ? e.message : String(e)
  if (/memory|allocat/i.test(message)) return nativeError("Engine", e)
  if (/dictionary|window|unsupported/i.test(message)) return nativeError("Unsupported", e)
  return nativeError("Corrupt", e)
}

/** Loads zstd-napi by name or path; fails with Unsupported when it is not installed or not built. */
const loadNative = (specifier: string): Effect.Effect<{ module: ZstdNapi; path: string }, CodecError> =>
  Effect.tryPromise({
    try: async () => {
      const path = requireHere.resolve(specifier)
      const imported = (await import(pathToFileURL(path).href)) as Partial<ZstdNapi> & {
        default?: Partial<ZstdNapi>
      }
      const module = typeof imported.Compressor === "function" ? imported : imported.default
      if (typeof module?.Compressor !== "function" || typeof module.Decompressor !== "function") {
        throw new Error(`${path} does not look like zstd-napi (no Compressor/Decompressor)`)
      }
      return { module: module as ZstdNapi, path }
    },
    catch: (e) =>
      new CodecError({
        reason: "Unsupported",
        codec: NAPI_CODEC,
        message:
          `the native zstd engine needs the optional package zstd-napi ("${specifier}" did not load: ` +
          `${e instanceof Error ? e.message : String(e)}); install it with \`npm i zstd-napi\``,
      }),
  })

/**
 * The native zstd engine on zstd-napi (libzstd built at install), when that optional package can be
 * imported: `compress` runs in a worker pool as in `make`, inputs under `inlineBelow` (and, with
 * `callerRuns`, frames that find every worker busy) on the calling thread (one frame per call, content
 * size recorded, no checksum), `decompress` decodes frames that declare their content size with libzstd on
 * this thread and the rest with fzstd, `inflater` is the portable one. Frames may differ in bytes
 * from zstd-wasm's (another libzstd version) but decode the same. Fails with reason "Unsupported"
 * when zstd-napi does not load.
 *
 * @example
 * const zstd = yield* NodeZstd.makeNative({ module: "/opt/zstd-napi" })
 */
export const makeNative = (
  options: NodeZstdNativeOptions = {},
): Effect.Effect<ZstdEngine["Service"], CodecError, Scope.Scope> =>
  Effect.gen(function* () {
    const { module, path } = yield* loadNative(options.module ?? "zstd-napi")
    const inlineBelow = options.inlineBelow ?? INLINE_BELOW
    const decompressor = new module.Decompressor()
    const compressor = new module.Compressor()
    let compressorLevel = -1
    const napiHere = (data: Uint8Array, level: number): Uint8Array | CodecError => {
      try {
        if (level !== compressorLevel) {
          compressor.setParameters({ compressionLevel: level })
          compressorLevel = level
        }
        // an exact copy: the result may be a view into a shared pool or scratch buffer
        return new Uint8Array(compressor.compress(data))
      } catch (e) {
        return nativeError("Engine", e)
      }
    }
    const compressHere = (data: Uint8Array, level: number) =>
      Effect.suspend(() => {
        const out = napiHere(data, level)
        return out instanceof CodecError ? Effect.fail(out) : Effect.succeed(out)
      })
    const decoder: PortableZstd.FrameDecoder = {
      // its one-shot decoder allocates the declared size itself: keep frames to a sane size
      maxFrame: 1024 * 1024 * 1024,
      decode: (frame) => {
        const out = decompressor.decompress(frame)
        return Object.getPrototypeOf(out) === Uint8Array.prototype
          ? out
          : new Uint8Array(out.buffer, out.byteOffset, out.length)
      },
      error: nativeDecodeError,
    }
    const pool = yield* scopedPool(() =>
      makeCompressPool({
        size: poolSize(options),
        source: ZSTD_WORKER_SOURCE,
        workerData: { backend: "napi", moduleUrl: pathToFileURL(path).href },
        codec: NAPI_CODEC,
        error: (message) => nativeError("Engine", new Error(message)),
        retireAbove: Number.POSITIVE_INFINITY,
        callerRuns: options.callerRuns === false ? undefined : napiHere,
      }),
    )
    return ZstdEngine.of({
      name: "zstd-napi",
      compress: (data, level) => {
        const checked = PortableZstd.checkCompress(data.length, level, NAPI_CODEC)
        if (typeof checked !== "number") return Effect.fail(checked)
        return data.length < inlineBelow ? compressHere(data, checked) : pool.compress(data, checked)
      },
      decompress: (data, maxOutput) =>
        Effect.suspend(() => {
          const out = PortableZstd.decompressFrames(data, maxOutput, decoder)
          return out instanceof CodecError ? Effect.fail(out) : Effect.succeed(out)
        }),
      inflater: portable.inflater,
    })
  })

/** Layer of the native zstd engine; fails to build (reason "Unsupported") without zstd-napi. */
export const layerNative: Layer.Layer<ZstdEngine, CodecError> = Layer.effect(ZstdEngine, makeNative())
