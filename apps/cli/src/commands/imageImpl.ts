// Image commands: thin shells over @lazypull/sdk. Loaded on demand by imageCommand.ts.
import { readFile as readFileNode } from "node:fs/promises"
import * as Effect from "effect/Effect"
import { LayerError } from "@lazypull/codec"
import { parseRecordFile } from "@lazypull/estargz"
import type { ConvertProgress, ImageError } from "@lazypull/image"
import { imageToc } from "@lazypull/image"
import {
  type CheckImageOptions,
  type ConvertImageOptions,
  cat,
  check,
  convert,
  diff,
  extract,
  layerNode,
  ls,
  toc,
  withImage,
} from "@lazypull/sdk"
import { type CommandFailed, checkFailed, runtimeFailed, usageFailed } from "../exit.ts"
import { print, printJson, warn, writeStdout } from "../output.ts"

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
    // a record names files of every layer: only a path that no layer has is worth a warning
    for (const img of result.images) {
      const missed = img.layers
        .filter((l) => !l.kept)
        .map((l) => new Set(l.missedPrioritized))
        .reduce<Set<string> | undefined>(
          (acc, m) => (acc === undefined ? m : new Set([...acc].filter((p) => m.has(p)))),
          undefined,
        )
      if (missed !== undefined && missed.size > 0)
        yield* warn(`${a.recordIn}: in no layer of ${img.platform ?? "the image"}: ${[...missed].join(", ")}`)
    }
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

const stats = (what: string, cost: { bytesRead: number; reads: number }) =>
  Effect.sync(() =>
    process.stderr.write(`stats: ${what}: fetched ${cost.bytesRead} bytes in ${cost.reads} reads\n`),
  )

const platformOption = (platform: string | undefined) => (platform !== undefined ? { platform } : {})

/** Flags of `lazypull diff`. */
export interface DiffArgs {
  a: string
  b: string
  platform: string | undefined
  compareModtime: boolean
  json: boolean
}

/** `lazypull diff A B`: exit 1 when the merged trees differ. */
export const diffImages = (a: DiffArgs) =>
  Effect.gen(function* () {
    const d = yield* diff(a.a, a.b, { ...platformOption(a.platform), compareModtime: a.compareModtime }).pipe(
      Effect.mapError(imageFailure),
    )
    if (a.json) yield* printJson(d)
    else {
      const lines: Array<string> = []
      for (const p of d.missing) lines.push(`missing in B: ${p}`)
      for (const p of d.added) lines.push(`added in B:   ${p}`)
      for (const c of d.changed)
        lines.push(
          `changed:      ${c.path}: ${c.fields.map((f) => `${f.field} ${f.a} -> ${f.b}`).join(", ")}`,
        )
      const art = (list: ReadonlyArray<{ layer: number; path: string }>) =>
        list.length === 0 ? "none" : list.map((x) => `${x.path} (layer ${x.layer})`).join(", ")
      lines.push(`converter artefacts, not compared: A: ${art(d.artefacts.a)}; B: ${art(d.artefacts.b)}`)
      lines.push(
        d.same
          ? "same: no path missing, added or changed"
          : `${d.missing.length} missing, ${d.added.length} added, ${d.changed.length} changed`,
      )
      yield* print(lines.join("\n"))
    }
    if (!d.same) return yield* Effect.fail(checkFailed(`${a.a} and ${a.b} differ`))
  }).pipe(Effect.provide(layerNode))

/** Flags of `lazypull toc`. */
export interface TocArgs {
  image: string
  layer: number | undefined
  platform: string | undefined
}

/** `lazypull toc IMAGE [--layer N]`: one layer's TOC JSON as stored, or every layer's TOC digest. */
export const tocOf = (a: TocArgs) =>
  Effect.gen(function* () {
    if (a.layer !== undefined) {
      const t = yield* toc(a.image, a.layer, platformOption(a.platform)).pipe(Effect.mapError(imageFailure))
      return yield* writeStdout(t.json)
    }
    const rows = yield* withImage(a.image, platformOption(a.platform), (image, view) =>
      Effect.forEach(image.layers, (_, i) =>
        imageToc(image, i, view).pipe(
          Effect.map(
            (t) => `layer ${i} ${t.digest} ${t.format}: TOC ${t.tocDigest}, ${t.toc.entries.length} entries`,
          ),
          Effect.catchTag("ImageError", (e) =>
            e.reason === "NotLazy"
              ? Effect.succeed(`layer ${i} ${image.layers[i]!.descriptor.digest}: no TOC (${e.message})`)
              : Effect.fail(e),
          ),
        ),
      ),
    ).pipe(Effect.mapError(imageFailure))
    yield* print(rows.join("\n"))
  }).pipe(Effect.provide(layerNode))

const TYPE_CHAR: Record<string, string> = {
  dir: "d",
  reg: "-",
  symlink: "l",
  hardlink: "h",
  char: "c",
  block: "b",
  fifo: "p",
}
const modeString = (type: string, mode: number) => {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? "x" : "-"}`
  return `${TYPE_CHAR[type] ?? "?"}${rwx(mode >> 6, (mode & 0o4000) !== 0, "s")}${rwx(mode >> 3, (mode & 0o2000) !== 0, "s")}${rwx(mode, (mode & 0o1000) !== 0, "t")}`
}

/** Flags of `lazypull ls`. */
export interface LsArgs {
  image: string
  path: string | undefined
  platform: string | undefined
  json: boolean
  stats: boolean
}

/** `lazypull ls IMAGE [PATH]`: the merged listing, from TOCs where layers are lazy. */
export const lsImage = (a: LsArgs) =>
  Effect.gen(function* () {
    const r = yield* ls(a.image, a.path, platformOption(a.platform)).pipe(Effect.mapError(imageFailure))
    if (a.json) yield* printJson(r.entries)
    else
      yield* print(
        r.entries
          .map(
            (e) =>
              `${modeString(e.type, e.mode)} ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)} ${String(e.size).padStart(10)} /${e.path}${e.type === "symlink" ? ` -> ${e.linkName}` : e.type === "hardlink" ? ` link to /${e.linkName}` : ""}`,
          )
          .join("\n"),
      )
    if (a.stats) yield* stats(`ls ${a.path ?? "/"}`, r.cost)
  }).pipe(Effect.provide(layerNode))

/** Flags of `lazypull cat`. */
export interface CatArgs {
  image: string
  path: string
  platform: string | undefined
  stats: boolean
}

/** `lazypull cat IMAGE PATH`: one file, fetched lazily and verified. */
export const catImage = (a: CatArgs) =>
  Effect.gen(function* () {
    const r = yield* cat(a.image, a.path, platformOption(a.platform)).pipe(Effect.mapError(imageFailure))
    yield* writeStdout(r.bytes)
    if (a.stats)
      yield* Effect.sync(() =>
        process.stderr.write(
          `stats: ${a.path}: ${r.bytes.length} bytes from layer ${r.layer}; fetched ${r.cost.bytesRead} bytes in ${r.cost.reads} reads (${r.fileCost.bytesRead} bytes in ${r.fileCost.reads} reads for the file; the rest is footers and TOCs)\n`,
        ),
      )
  }).pipe(Effect.provide(layerNode))

/** Flags of `lazypull extract`. */
export interface ExtractArgs {
  image: string
  paths: ReadonlyArray<string>
  output: string
  platform: string | undefined
  skipUnsafeSymlinks: boolean
  json: boolean
  stats: boolean
}

/** `lazypull extract IMAGE PATH... -o DIR`. */
export const extractFromImage = (a: ExtractArgs) =>
  Effect.gen(function* () {
    const r = yield* extract(a.image, a.paths, a.output, {
      ...platformOption(a.platform),
      unsafeSymlinks: a.skipUnsafeSymlinks ? "skip" : "fail",
    }).pipe(
      Effect.mapError((e) => {
        const f = imageFailure(e)
        return e.reason === "Escape" && e.message.includes(" -> ")
          ? runtimeFailed(`${f.message}; nothing was written (--skip-unsafe-symlinks skips such links)`)
          : f
      }),
    )
    if (a.json) yield* printJson(r)
    else {
      const lines = [`extracted ${r.written.length} entries into ${a.output}`]
      for (const s of r.skipped) lines.push(`skipped ${s.path} (${s.type}): ${s.reason}`)
      yield* print(lines.join("\n"))
    }
    if (a.stats) yield* stats(`extract`, r.cost)
  }).pipe(Effect.provide(layerNode))
