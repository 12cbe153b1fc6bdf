import { CodecError } from "@lazypull/codec"
import * as Effect from "effect/Effect"

type ZstdWasmModule = typeof import("@bokuweb/zstd-wasm")

/** The codec name zstd-wasm errors carry. */
export const WASM_CODEC = "zstd/zstd-wasm"

/**
 * Largest input one `compress` call takes. zstd-wasm copies the input and a worst-case output
 * buffer into its heap (capped at 2 GiB) without checking that malloc succeeded, so both must fit
 * with room for the compressor's own tables; the zstd:chunked writer's frames are far smaller.
 */
export const MAX_COMPRESS_INPUT = 512 * 1024 * 1024

/** Largest frame (compressed + declared content size) decoded in the wasm heap; bigger ones go to fzstd. */
export const MAX_WASM_DECODE = 768 * 1024 * 1024

/** Level used for -1 ("default"), as `zstd` and klauspost's SpeedDefault do. */
export const DEFAULT_LEVEL = 3

/**
 * Checks a `compress` call: the level must be -1 (default, 3) or an integer in 1..22 and the input
 * at most `MAX_COMPRESS_INPUT` bytes. Returns the level to use, or the error.
 */
export const checkCompress = (size: number, level: number, codec: string): number | CodecError => {
  if (level === -1) level = DEFAULT_LEVEL
  if (!Number.isInteger(level) || level < 1 || level > 22) {
    return new CodecError({ reason: "Unsupported", codec, message: `zstd level ${level} is not -1 or 1..22` })
  }
  if (size > MAX_COMPRESS_INPUT) {
    return new CodecError({
      reason: "TooLarge",
      codec,
      message: `one zstd frame takes at most ${MAX_COMPRESS_INPUT} input bytes here, got ${size}`,
    })
  }
  return level
}

/**
 * Maps a zstd-wasm failure to a CodecError. zstd-wasm throws `Error("Failed to compress with code
 * -N")` where N is a ZSTD_ErrorCode; anything else (a wasm trap) is an engine failure.
 */
export const wasmError = (e: unknown, codec: string = WASM_CODEC): CodecError => {
  const message = e instanceof Error ? e.message : String(e)
  const m = /code (-?\d+)/.exec(message)
  if (!m) return new CodecError({ reason: "Engine", codec, message })
  const raw = Number(m[1])
  const code = raw < 0 ? -raw : 2 ** 32 - raw
  switch (code) {
    case 10: // prefix_unknown
    case 20: // corruption_detected
    case 22: // checksum_wrong
    case 24: // literals_headerWrong
    case 30: // dictionary_corrupted
    case 40: // tableLog_tooLarge
    case 41: // maxSymbolValue_tooLarge
    case 42: // maxSymbolValue_tooSmall
    case 70: // dstSize_tooSmall: the frame decodes to more than its content size says
    case 72: // srcSize_wrong
      return new CodecError({ reason: "Corrupt", codec, message: `${message} (zstd error ${code})` })
    case 12: // version_unsupported
    case 14: // frameParameter_unsupported
    case 16: // frameParameter_windowTooLarge
    case 32: // dictionary_wrong
      return new CodecError({ reason: "Unsupported", codec, message: `${message} (zstd error ${code})` })
    default: // 64 memory_allocation and the rest
      return new CodecError({ reason: "Engine", codec, message: `${message} (zstd error ${code})` })
  }
}

/** zstd-wasm after `init()`, with one reused compression context. */
export interface ZstdWasm {
  /** One frame of `data` (content size recorded, no checksum); throws zstd-wasm's errors. */
  compress(data: Uint8Array, level: number): Uint8Array
  /** Decodes exactly one frame that declares its content size; throws zstd-wasm's errors. */
  decompressFrame(frame: Uint8Array): Uint8Array
}

const NO_DICT = new Uint8Array(0)

let ready: ZstdWasm | undefined
let loading: Promise<ZstdWasm> | undefined

/** Starts initialising zstd-wasm once; a failure is remembered by `zstdWasm`. */
const startLoading = (): Promise<ZstdWasm> => {
  if (loading === undefined) {
    loading = load()
    // `zstdWasm` reports the failure to whoever waits for it; this copy must not be an unhandled rejection
    loading.catch(() => undefined)
  }
  return loading
}

const load = async (): Promise<ZstdWasm> => {
  const imported = (await import("@bokuweb/zstd-wasm")) as ZstdWasmModule & { default?: ZstdWasmModule }
  const z: ZstdWasmModule = typeof imported.init === "function" ? imported : imported.default!
  await z.init()
  // ZSTD_compress_usingDict with no dictionary is what ZSTD_compress runs on a fresh context, so the
  // frames are the same; reusing the context saves allocating and clearing its tables on every call.
  const cctx = z.createCCtx()
  const api: ZstdWasm = {
    compress: (data, level) => z.compressUsingDict(cctx, data, NO_DICT, level),
    decompressFrame: (frame) => z.decompress(frame),
  }
  ready = api
  return api
}

/**
 * zstd-wasm, initialised once per realm on first use and shared. Fails with reason "Engine" when
 * the wasm module cannot be loaded (e.g. Deno without `--allow-read`); the failure is remembered.
 */
export const zstdWasm: Effect.Effect<ZstdWasm, CodecError> = Effect.suspend(() =>
  ready
    ? Effect.succeed(ready)
    : Effect.tryPromise({
        try: startLoading,
        catch: (e) =>
          new CodecError({
            reason: "Engine",
            codec: WASM_CODEC,
            message: `zstd-wasm could not be initialised: ${e instanceof Error ? e.message : String(e)}`,
          }),
      }),
)

/**
 * zstd-wasm if it is initialised on this thread already, else `undefined` (and it starts loading, so
 * that a later call finds it): for callers that must compress synchronously or not at all.
 */
export const zstdWasmNow = (): ZstdWasm | undefined => {
  if (ready === undefined) void startLoading()
  return ready
}
