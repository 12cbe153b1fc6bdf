import { CodecError, type GzipInflater, ZstdEngine } from "@lazypull/codec"
import { Effect, Layer } from "effect"
import { Decompress } from "fzstd"

const CODEC = "zstd/fzstd"
const fail = (reason: CodecError["reason"], message: string) =>
  new CodecError({ reason, codec: CODEC, message })

/** fzstd error codes: 5 is "unexpected EOF", the rest are corrupt data. */
const fromFzstd = (e: unknown): CodecError => {
  const code = (e as { code?: unknown }).code
  const message = e instanceof Error ? e.message : String(e)
  return code === 5 ? fail("Truncated", message) : fail("Corrupt", message)
}

/** A streaming zstd decoder (fzstd: pure JS, multi-frame, skippable frames skipped) with an output bound. */
const makeInflater = (limit: number): GzipInflater => {
  let out: Array<Uint8Array> = []
  let total = 0
  let failure: CodecError | undefined
  let ended = false
  let sawInput = false
  const d = new Decompress((chunk) => {
    total += chunk.length
    if (total > limit) failure ??= fail("TooLarge", `output exceeds the bound of ${limit} bytes`)
    else out.push(chunk.slice())
  })
  const step = (chunk: Uint8Array, final: boolean) =>
    Effect.suspend(() => {
      if (failure) return Effect.fail(failure)
      if (ended) return Effect.fail(fail("Engine", "push after end"))
      if (chunk.length > 0) sawInput = true
      if (final) {
        ended = true
        if (!sawInput) return Effect.fail(fail("Truncated", "empty zstd stream"))
      }
      try {
        d.push(chunk, final)
      } catch (e) {
        failure = fromFzstd(e)
        return Effect.fail(failure)
      }
      if (failure) return Effect.fail(failure)
      const r = out
      out = []
      return Effect.succeed(r)
    })
  return { push: (chunk) => step(chunk, false), end: () => step(new Uint8Array(0), true) }
}

/** The portable zstd engine (decompression; compression comes with the zstd:chunked writer). */
export const make = (): ZstdEngine["Service"] =>
  ZstdEngine.of({
    name: CODEC,
    compress: (_data, _level) =>
      Effect.fail(fail("Unsupported", "zstd compression is not available in this engine yet")),
    decompress: (data, maxOutput) =>
      Effect.gen(function* () {
        const inf = makeInflater(maxOutput)
        const parts = [...(yield* inf.push(data)), ...(yield* inf.end())]
        const size = parts.reduce((n, p) => n + p.length, 0)
        const all = new Uint8Array(size)
        let at = 0
        for (const p of parts) {
          all.set(p, at)
          at += p.length
        }
        return all
      }),
    inflater: () => Effect.sync(() => makeInflater(Number.MAX_SAFE_INTEGER)),
  })

/** Layer of the portable zstd engine. */
export const layer: Layer.Layer<ZstdEngine> = Layer.succeed(ZstdEngine, make())
