import { CodecError, type GzipInflater, ZstdEngine } from "@lazypull/codec"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Decompress } from "fzstd"
import { FrameScanner, type FrameSpan, splitFrames } from "./PortableZstdFrames.ts"
import {
  checkCompress,
  MAX_WASM_DECODE,
  WASM_CODEC,
  wasmError,
  type ZstdWasm,
  zstdWasm,
} from "./PortableZstdWasm.ts"

/**
 * Shared with the Node engines: level/size checks, the level used for -1, the input cap, zstd-wasm error
 * mapping, and zstd-wasm on this thread when it is ready (`zstdWasmNow`).
 */
export {
  checkCompress,
  DEFAULT_LEVEL,
  MAX_COMPRESS_INPUT,
  wasmError,
  type ZstdWasm,
  zstdWasmNow,
} from "./PortableZstdWasm.ts"

const fail = (reason: CodecError["reason"], message: string, codec = "zstd") =>
  new CodecError({ reason, codec, message })

/**
 * An fzstd error: code 5 ("unexpected EOF") inside a frame the scanner saw complete means that
 * the content does not match its framing, so every fzstd error is Corrupt (truncation is the
 * scanner's call).
 */
const fromFzstd = (e: unknown): CodecError =>
  fail("Corrupt", e instanceof Error ? e.message : String(e), "zstd/fzstd")

/**
 * A streaming zstd decoder over every frame of a stream: a `FrameScanner` checks the framing and
 * tells where the stream may end, fzstd (pure JS) decodes, and output beyond `limit` is TooLarge.
 */
const makeInflater = (limit: number): GzipInflater => {
  let out: Array<Uint8Array> = []
  let total = 0
  let failure: CodecError | undefined
  let ended = false
  // what the frame headers scanned so far declare, while every one of them declares its size
  let declared = 0
  let allDeclared = true
  const scanner = new FrameScanner({
    frame: (_start, contentSize) => {
      if (contentSize < 0) allDeclared = false
      else declared += contentSize
    },
    frameEnd: () => {},
  })
  const d = new Decompress((chunk) => {
    total += chunk.length
    if (total > limit) failure ??= fail("TooLarge", `output exceeds the bound of ${limit} bytes`)
    else if (allDeclared && total > declared)
      failure ??= fail("Corrupt", `the frames decode to more than the ${declared} bytes they declare`)
    // fzstd hands out views of its window, which the next block overwrites
    else if (chunk.length > 0) out.push(chunk.slice())
  })
  const step = (chunk: Uint8Array, final: boolean) =>
    Effect.suspend(() => {
      if (failure) return Effect.fail(failure)
      if (ended) return Effect.fail(fail("Engine", "push after end"))
      const problem = final ? scanner.end() : scanner.scan(chunk)
      if (final) ended = true
      if (problem) {
        failure = fail(problem.reason, problem.message)
        return Effect.fail(failure)
      }
      try {
        d.push(chunk, final)
      } catch (e) {
        failure = fromFzstd(e)
        return Effect.fail(failure)
      }
      if (!failure && final && allDeclared && total !== declared)
        failure = fail("Corrupt", `the frames decode to ${total} bytes but declare ${declared}`)
      if (failure) return Effect.fail(failure)
      const r = out
      out = []
      return Effect.succeed(r)
    })
  return { push: (chunk) => step(chunk, false), end: () => step(new Uint8Array(0), true) }
}

const concat = (parts: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!
  const all = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  return all
}

/** One frame with fzstd, at most `limit` bytes of output. */
const fzstdFrame = (frame: Uint8Array, limit: number): Uint8Array | CodecError => {
  const parts: Array<Uint8Array> = []
  let total = 0
  let failure: CodecError | undefined
  try {
    new Decompress((chunk) => {
      total += chunk.length
      if (total > limit) failure ??= fail("TooLarge", `output exceeds the bound of ${limit} bytes`)
      else if (chunk.length > 0) parts.push(chunk.slice())
    }).push(frame, true)
  } catch (e) {
    return fromFzstd(e)
  }
  return failure ?? concat(parts, total)
}

/**
 * A one-shot decoder for single frames that declare their content size (zstd-wasm here, zstd-napi in
 * engine-node); frames it does not take go to fzstd.
 */
export interface FrameDecoder {
  /** Largest frame (compressed + content size) it takes. */
  readonly maxFrame: number
  /** Decodes exactly one frame whose header declares `contentSize`; may throw. */
  decode(frame: Uint8Array, contentSize: number): Uint8Array
  /** Maps what `decode` threw to a CodecError. */
  error(e: unknown): CodecError
}

/** zstd-wasm as a `FrameDecoder`. */
const wasmDecoder = (wasm: ZstdWasm): FrameDecoder => ({
  maxFrame: MAX_WASM_DECODE,
  decode: (frame) => wasm.decompressFrame(frame),
  error: (e) => wasmError(e),
})

/**
 * Decodes one frame: with `decoder` when it declares its content size and fits (the output buffer
 * is then sized exactly), with fzstd otherwise. `budget` is the output still allowed.
 */
const decodeFrame = (
  decoder: FrameDecoder | undefined,
  frame: Uint8Array,
  span: FrameSpan,
  budget: number,
): Uint8Array | CodecError => {
  const declared = span.contentSize
  if (declared > budget) {
    return fail("TooLarge", `the frame at ${span.start} declares ${declared} bytes, over the bound`)
  }
  let out: Uint8Array | CodecError
  if (decoder && declared >= 0 && frame.length + declared <= decoder.maxFrame) {
    try {
      out = decoder.decode(frame, declared)
    } catch (e) {
      return decoder.error(e)
    }
  } else {
    out = fzstdFrame(frame, budget)
  }
  if (out instanceof CodecError) return out
  if (declared >= 0 && out.length !== declared) {
    return fail("Corrupt", `the frame at ${span.start} declares ${declared} bytes but holds ${out.length}`)
  }
  return out
}

/**
 * Decompresses every frame of a whole blob, bounded by `maxOutput`: checks the framing with
 * `splitFrames` (Truncated / Corrupt / Unsupported before any decoding), fails with TooLarge when
 * the declared content sizes already exceed the bound, then decodes frame by frame with `decoder`
 * (or fzstd). Engines built on other decoders share it so that their errors agree.
 */
export const decompressFrames = (
  data: Uint8Array,
  maxOutput: number,
  decoder: FrameDecoder | undefined,
): Uint8Array | CodecError => {
  if (!(maxOutput >= 0)) return fail("Unsupported", `maxOutput ${maxOutput} is not a non-negative number`)
  const spans = splitFrames(data)
  if (!Array.isArray(spans)) return fail(spans.reason, spans.message)
  let declared = 0
  let known = true
  for (const s of spans) {
    if (s.contentSize < 0) known = false
    else declared += s.contentSize
  }
  if (declared > maxOutput) {
    return fail("TooLarge", `the frames declare ${declared} bytes, over the bound of ${maxOutput}`)
  }
  if (known && spans.length > 1) {
    // every size is known: decode straight into the result
    const all = new Uint8Array(declared)
    let at = 0
    for (const s of spans) {
      const out = decodeFrame(decoder, data.subarray(s.start, s.end), s, declared - at)
      if (out instanceof CodecError) return out
      all.set(out, at)
      at += out.length
    }
    return all
  }
  const parts: Array<Uint8Array> = []
  let total = 0
  for (const s of spans) {
    const out = decodeFrame(decoder, data.subarray(s.start, s.end), s, maxOutput - total)
    if (out instanceof CodecError) return out
    parts.push(out)
    total += out.length
  }
  return concat(parts, total)
}

/** The streaming decoder every zstd engine here uses: frame checks + fzstd, unbounded output. */
export const inflater = (): GzipInflater => makeInflater(Number.MAX_SAFE_INTEGER)

/** zstd-wasm when it loads, `undefined` otherwise (decoding then runs on fzstd alone). */
const wasmIfAvailable: Effect.Effect<FrameDecoder | undefined> = Effect.orElseSucceed(
  Effect.map(zstdWasm, wasmDecoder),
  () => undefined,
)

/**
 * The portable zstd engine: `compress` on zstd-wasm (one frame per call, content size recorded, no
 * checksum; level -1 = 3, else 1..22); `decompress` splits the blob at frame boundaries and decodes
 * each frame with zstd-wasm when it declares its content size (fzstd otherwise, or when the wasm
 * module cannot load); `inflater` streams on fzstd. No `node:*` imports.
 *
 * @example
 * const frame = yield* PortableZstd.make().compress(bytes, 3)
 */
export const make = (): ZstdEngine["Service"] =>
  ZstdEngine.of({
    name: "zstd-wasm",
    compress: (data, level) => {
      const checked = checkCompress(data.length, level, WASM_CODEC)
      if (typeof checked !== "number") return Effect.fail(checked)
      return Effect.flatMap(zstdWasm, (z) =>
        Effect.try({ try: () => z.compress(data, checked), catch: (e) => wasmError(e) }),
      )
    },
    decompress: (data, maxOutput) =>
      Effect.flatMap(wasmIfAvailable, (decoder) => {
        const out = decompressFrames(data, maxOutput, decoder)
        return out instanceof CodecError ? Effect.fail(out) : Effect.succeed(out)
      }),
    inflater: () => Effect.sync(inflater),
  })

/** Layer of the portable zstd engine. */
export const layer: Layer.Layer<ZstdEngine> = Layer.succeed(ZstdEngine, make())
