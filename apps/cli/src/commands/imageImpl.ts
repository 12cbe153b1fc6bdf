// Image commands: thin shells over @lazypull/sdk. Loaded on demand by imageCommand.ts.
import { readFile as readFileNode } from "node:fs/promises"
import * as Effect from "effect/Effect"
import { LayerError } from "@lazypull/codec"
import { parseRecordFile } from "@lazypull/estargz"
import type { ConvertProgress, ImageError } from "@lazypull/image"
import { type CheckImageOptions, type ConvertImageOptions, check, convert, layerNode } from "@lazypull/sdk"
import { type CommandFailed, checkFailed, runtimeFailed, usageFailed } from "../exit.ts"

/** Renders an SDK error as one line with its exit code: bad options are usage errors (2), the rest runtime (3). */
export const imageFailure = (e: ImageError): CommandFailed => {
  const where = [
    e.layer !== undefined && !e.message.includes(`layer ${e.layer}`) ? `layer ${e.layer}` : "",
    e.path !== undefined && !e.message.includes(e.path) ? e.path : "",
  ]
    .filter((s) => s !== "")
    .join(", ")
  const line = `${e.image}: ${e.message}${where ? ` (${where})` : ""}`
  return e.reason === "BadOption" ? usageFailed(line) : runtimeFailed(line)
}

const print = (s: string) => Effect.sync(() => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`))
const printJson = (v: unknown) => print(JSON.stringify(v, null, 2))
const warn = (s: string) => Effect.sync(() => process.stderr.write(`lazypull: warning: ${s}\n`))

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12)
const size = (n: number) =>
  n < 1024
    ? `${n} B`
    : n < 1 << 20
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1 << 30
        ? `${(n / (1 << 20)).toFixed(1)} MiB`
        : `${(n / (1 << 30)).toFixed(2)} GiB`

/**
 * Progress of a conversion on stderr: a status line redrawn in place on a terminal (layers done, bytes read,
 * rate, ETA), one plain line per finished layer otherwise, nothing with --json.
 */
const progressReporter = (json: boolean) => {
  if (json) return { onProgress: undefined, finish: () => {} }
  const tty = process.stderr.isTTY === true
  const layers = new Map<string, { done: number; bytes: number; finished: boolean }>()
  const start = Date.now()
  let last = 0
  let drawn = false
  const draw = (force: boolean) => {
    const now = Date.now()
    if (!force && now - last < 100) return
    last = now
    let done = 0
    let total = 0
    let finished = 0
    for (const l of layers.values()) {
      done += l.finished ? l.bytes : l.done
      total += l.bytes
      if (l.finished) finished++
    }
    const secs = Math.max(0.001, (now - start) / 1000)
    const rate = done / secs
    const eta = rate > 0 && total > done ? `, ETA ${Math.ceil((total - done) / rate)} s` : ""
    process.stderr.write(
      `\r\x1b[2Kconverting: ${finished}/${layers.size} layers, ${size(done)} of ${size(total)}, ${size(rate)}/s${eta}`,
    )
    drawn = true
  }
  const onProgress = (e: ConvertProgress) => {
    const key = `${e.image}/${e.layer}`
    if (e._tag === "LayerStart") layers.set(key, { done: 0, bytes: e.bytes, finished: false })
    const l = layers.get(key)
    if (!l) return
    if (e._tag === "LayerBytes") l.done = e.done
    if (e._tag === "LayerDone") {
      l.finished = true
      if (!tty)
        process.stderr.write(
          `layer ${e.layer}: ${e.kept ? "kept (already converted)" : "converted"} -> ${e.digest} (${size(e.size)})\n`,
        )
    }
    if (tty) draw(e._tag !== "LayerBytes")
  }
  return {
    onProgress,
    finish: () => {
      if (tty && drawn) process.stderr.write("\r\x1b[2K")
    },
  }
}

/** Flags of `lazypull convert`. */
export interface ConvertArgs {
  src: string
  dst: string
  zstdchunked: boolean
  estargz: boolean
  oci: boolean
  level: number
  chunkSize: number
  minChunkSize: number
  externalToc: boolean
  keepDiffId: boolean
  recordIn: string | undefined
  zstdLevel: number
  zstdChunkSize: number
  zstdDialect: "stargz" | "storage"
  platform: string | undefined
  allPlatforms: boolean
  json: boolean
}

/** `lazypull convert SRC DST`. */
export const convertImage = (a: ConvertArgs) =>
  Effect.gen(function* () {
    if (a.estargz && a.zstdchunked)
      return yield* Effect.fail(usageFailed("--estargz and --zstdchunked exclude each other"))
    if (!a.zstdchunked && a.zstdDialect !== "stargz")
      return yield* Effect.fail(usageFailed("--zstdchunked-dialect needs --zstdchunked"))
    if (a.zstdchunked && (a.externalToc || a.keepDiffId || a.minChunkSize > 0))
      return yield* Effect.fail(usageFailed("--estargz-* layout options do not apply to --zstdchunked"))
    let prioritizedFiles: ReadonlyArray<string> | undefined
    if (a.recordIn !== undefined) {
      const path = a.recordIn
      const text = yield* Effect.tryPromise({
        try: () => readFileNode(path, "utf8"),
        catch: (e) =>
          runtimeFailed(`cannot read record file ${path}: ${e instanceof Error ? e.message : String(e)}`),
      })
      const r = parseRecordFile(text)
      if (r instanceof LayerError) return yield* Effect.fail(usageFailed(`${path}: ${r.message}`))
      prioritizedFiles = r
    }
    const progress = progressReporter(a.json)
    const options: ConvertImageOptions = {
      format: a.zstdchunked ? "zstdchunked" : "estargz",
      oci: a.oci,
      estargz: {
        level: a.level,
        ...(a.chunkSize > 0 ? { chunkSize: a.chunkSize } : {}),
        ...(a.minChunkSize > 0 ? { minChunkSize: a.minChunkSize } : {}),
        externalToc: a.externalToc,
        keepDiffId: a.keepDiffId,
        ...(prioritizedFiles !== undefined ? { prioritizedFiles } : {}),
      },
      zstdchunked: {
        level: a.zstdLevel,
        dialect: a.zstdDialect,
        ...(a.zstdChunkSize > 0 ? { chunkSize: a.zstdChunkSize } : {}),
      },
      ...(a.platform !== undefined ? { platform: a.platform } : {}),
      allPlatforms: a.allPlatforms,
      ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
    }
    const result = yield* convert(a.src, a.dst, options).pipe(
      Effect.mapError(imageFailure),
      Effect.ensuring(Effect.sync(progress.finish)),
    )
    for (const w of result.warnings) yield* warn(w)
    for (const img of result.images)
      for (const l of img.layers)
        if (l.missedPrioritized.length > 0)
          yield* warn(`${a.recordIn}: not in layer ${l.source.digest}: ${l.missedPrioritized.join(", ")}`)
    if (a.json) return yield* printJson(result)
    const lines = [
      `converted ${a.src} -> ${a.dst}: ${result.descriptor.mediaType} ${result.descriptor.digest}`,
    ]
    for (const img of result.images) {
      lines.push(`  ${img.platform ?? "image"}: manifest ${img.manifest.digest}, config ${img.config.digest}`)
      img.layers.forEach((l, i) => {
        lines.push(
          `    layer ${i}: ${short(l.source.digest)} -> ${short(l.descriptor.digest)} ${size(l.descriptor.size)}${l.kept ? " (kept: already converted)" : ""}`,
        )
      })
    }
    if (result.tocImage) lines.push(`  TOC image ${result.tocImage.digest}`)
    yield* print(lines.join("\n"))
  }).pipe(Effect.provide(layerNode))

/** Flags of `lazypull check`. */
export interface CheckArgs {
  image: string
  platform: string | undefined
  allPlatforms: boolean
  json: boolean
}

/** `lazypull check IMAGE`: one line per layer; exit 1 when a layer is not lazy-pullable. */
export const checkImage = (a: CheckArgs) =>
  Effect.gen(function* () {
    const options: CheckImageOptions = {
      ...(a.platform !== undefined ? { platform: a.platform } : {}),
      allPlatforms: a.allPlatforms,
    }
    const result = yield* check(a.image, options).pipe(Effect.mapError(imageFailure))
    if (a.json) yield* printJson(result)
    else {
      const lines: Array<string> = []
      for (const img of result.images) {
        if (result.images.length > 1) lines.push(`${img.platform ?? img.manifestDigest ?? "image"}:`)
        for (const l of img.layers)
          lines.push(
            l.lazy
              ? `layer ${l.index} ${short(l.digest)} ok ${l.format}: ${l.files} files, ${l.chunks} chunks verified, TOC ${l.tocDigest}, diffID ${l.diffId}`
              : `layer ${l.index} ${short(l.digest)} NOT lazy-pullable (${l.format}): ${l.reason}`,
          )
      }
      lines.push(
        result.ok
          ? `ok: ${a.image} is lazy-pullable (every layer checked)`
          : `${a.image} is not lazy-pullable: ${result.images.flatMap((i) => i.layers).filter((l) => !l.lazy).length} layer(s) failed`,
      )
      yield* print(lines.join("\n"))
    }
    if (!result.ok) return yield* Effect.fail(checkFailed(`${a.image}: not lazy-pullable`))
  }).pipe(Effect.provide(layerNode))
