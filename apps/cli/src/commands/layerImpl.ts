// Layer commands: thin shells over @lazypull/estargz. Loaded on demand by layerCommand.ts.
import { readFile as readFileNode } from "node:fs/promises"
import { resolve as resolvePath } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type Decompressors,
  type GzipEngine,
  LayerError,
  type Scratch,
  type Sha256,
  type ZstdEngine,
} from "@lazypull/codec"
import * as NodeEngine from "@lazypull/engine-node"
import { layerScratchFile } from "@lazypull/engine-node/NodeScratch"
import * as PortableEngine from "@lazypull/engine-portable"
import {
  buildLayer,
  layerFacts,
  makeCompressor,
  type OpenedLayer,
  openLayer,
  parseRecordFile,
  readFile,
  resolveFile,
  verifyLayer,
} from "@lazypull/estargz"
import {
  buildStorageLayer,
  layerAllDecompressors,
  makeCompressor as makeZstdCompressor,
  STORAGE_FORMAT,
  storageLayerFacts,
  verifyStorageLayer,
} from "@lazypull/zstd-chunked"
import { type CommandFailed, checkFailed, runtimeFailed, usageFailed } from "../exit.ts"
import { print, printJson, warn, writeStdout } from "../output.ts"

type Engine = "node" | "portable"

const engineLayer = (
  engine: Engine,
): Layer.Layer<GzipEngine | Sha256 | ZstdEngine | Scratch | Decompressors> => {
  const gzip: Layer.Layer<GzipEngine> =
    engine === "portable" ? PortableEngine.layerGzip : NodeEngine.layerGzip
  const base = Layer.mergeAll(gzip, NodeEngine.layerSha256, NodeEngine.layerZstd, layerScratchFile())
  // every format lazypull reads: eStargz (gzip) and zstd:chunked
  const decompressors: Layer.Layer<Decompressors> = layerAllDecompressors.pipe(Layer.provide(base))
  return Layer.merge(base, decompressors)
}

// ---- errors: every failure becomes one line that says what went wrong and where ----

/**
 * Renders a library error as a command failure: `WHERE: message (Reason, at offset N, entry "E")`.
 * `BadOption` is a usage error; `Io` a runtime error; any other reason is a failed check when `check`
 * is set (verify), else a runtime error (the input cannot be used).
 */
const layerFailure =
  (where: string, check: boolean) =>
  (e: LayerError): CommandFailed => {
    const message = e.message.startsWith(`${where}:`) ? e.message : `${where}: ${e.message}`
    const details = [
      e.offset !== undefined ? `at offset ${e.offset}` : "",
      e.entry !== undefined && !e.message.includes(e.entry) ? `entry ${JSON.stringify(e.entry)}` : "",
    ].filter((s) => s !== "")
    const line = `${message} (${[e.reason, ...details].join(", ")})`
    if (e.reason === "BadOption") return usageFailed(line)
    if (e.reason === "Io") return runtimeFailed(line)
    return check ? checkFailed(line) : runtimeFailed(line)
  }

const cannot = (what: string, path: string) => (e: { message: string }) =>
  runtimeFailed(`cannot ${what} ${path}: ${e.message}`)

const DIGEST = /^sha256:[0-9a-f]{64}$/
const checkDigest = (flag: string, value: string | undefined) =>
  value === undefined || DIGEST.test(value)
    ? Effect.void
    : Effect.fail(usageFailed(`${flag} ${JSON.stringify(value)}: want sha256:<64 lowercase hex digits>`))

// ---- output ----

const readLocal = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFileNode(path),
    catch: (e) => runtimeFailed(`cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`),
  })

// ---- convert ----

/** Flags of `lazypull layer convert`. */
export interface ConvertArgs {
  input: string
  output: string
  zstdchunked: boolean
  zstdDialect: "stargz" | "storage"
  zstdLevel: number
  zstdChunkSize: number
  level: number
  chunkSize: number
  minChunkSize: number
  externalToc: string | undefined
  keepDiffId: boolean
  recordIn: string | undefined
  parallelism: number
  engine: Engine
  json: boolean
}

const checkConvertArgs = (a: ConvertArgs): CommandFailed | undefined => {
  if (a.zstdchunked) {
    if (a.zstdLevel < 1 || a.zstdLevel > 22)
      return usageFailed(`--zstdchunked-compression-level ${a.zstdLevel}: want 1-22`)
    if (a.zstdChunkSize < 0)
      return usageFailed(`--zstdchunked-chunk-size ${a.zstdChunkSize}: want > 0 (0 = 4 MiB)`)
    for (const [set, flag] of [
      [a.minChunkSize > 0, "--estargz-min-chunk-size"],
      [a.externalToc !== undefined, "--estargz-external-toc"],
      [a.keepDiffId, "--estargz-keep-diff-id"],
    ] as const)
      if (set) return usageFailed(`${flag} is an eStargz option; zstd:chunked has no such layout`)
    if (a.zstdDialect === "storage" && (a.recordIn !== undefined || a.zstdChunkSize > 0))
      return usageFailed(
        "the storage dialect chunks by content and keeps the tar as it is: no --estargz-record-in, no --zstdchunked-chunk-size",
      )
  } else if (a.zstdDialect !== "stargz") return usageFailed("--zstdchunked-dialect needs --zstdchunked")
  if (a.level < 0 || a.level > 9) return usageFailed(`--estargz-compression-level ${a.level}: want 0-9`)
  if (a.chunkSize < 0) return usageFailed(`--estargz-chunk-size ${a.chunkSize}: want > 0 (0 = 4 MiB)`)
  if (a.minChunkSize < 0) return usageFailed(`--estargz-min-chunk-size ${a.minChunkSize}: want >= 0`)
  if (a.parallelism < 1) return usageFailed(`--parallelism ${a.parallelism}: want >= 1`)
  if (a.keepDiffId && a.externalToc === undefined)
    return usageFailed("--estargz-keep-diff-id needs --estargz-external-toc")
  const out = resolvePath(a.output)
  if (a.externalToc !== undefined && resolvePath(a.externalToc) === out)
    return usageFailed(`--estargz-external-toc ${a.externalToc} is the output blob itself`)
  return undefined
}

/** Converts one layer; the blob (and TOC blob) are written to temp names and renamed when complete. */
export const convert = (a: ConvertArgs) =>
  Effect.gen(function* () {
    const bad = checkConvertArgs(a)
    if (bad) return yield* Effect.fail(bad)
    let prioritized: ReadonlyArray<string> = []
    if (a.recordIn !== undefined) {
      const text = (yield* readLocal(a.recordIn, "record file")).toString("utf8")
      const r = parseRecordFile(text)
      if (r instanceof LayerError) return yield* Effect.fail(layerFailure(a.recordIn, false)(r))
      prioritized = r
    }
    const result = yield* Effect.scoped(
      Effect.gen(function* () {
        const input = yield* NodeEngine.fileRangeReader(a.input).pipe(
          Effect.mapError(cannot("read", a.input)),
        )
        // both outputs are opened first (fail before the work) and renamed into place only at the end
        const sink = yield* NodeEngine.atomicFileSink(a.output).pipe(
          Effect.mapError(cannot("create", a.output)),
        )
        const tocSink =
          a.externalToc === undefined
            ? undefined
            : yield* NodeEngine.atomicFileSink(a.externalToc).pipe(
                Effect.mapError(cannot("create", a.externalToc)),
              )
        const compressor = a.zstdchunked
          ? yield* makeZstdCompressor({ level: a.zstdLevel })
          : yield* makeCompressor({ level: a.level })
        let sinkFailure: CommandFailed | undefined
        const blobSink = {
          write: (b: Uint8Array) =>
            sink.write(b).pipe(
              Effect.mapError((e) => {
                sinkFailure = cannot("write", a.output)(e)
                return new LayerError({ reason: "Io", format: "cli", message: sinkFailure.message })
              }),
            ),
        }
        if (a.zstdchunked && a.zstdDialect === "storage") {
          // containers/storage (podman) dialect: the tar passes through, tar-split, content-defined chunks
          const s = yield* buildStorageLayer(
            input,
            { level: a.zstdLevel, parallelism: a.parallelism },
            blobSink,
          ).pipe(Effect.mapError((e) => sinkFailure ?? layerFailure(a.input, false)(e)))
          yield* sink.commit().pipe(Effect.mapError(cannot("write", a.output)))
          return { ...s, missedPrioritized: [] as ReadonlyArray<string>, externalToc: undefined }
        }
        const r = yield* buildLayer(
          input,
          compressor,
          {
            chunkSize: a.zstdchunked ? a.zstdChunkSize || a.chunkSize : a.chunkSize,
            minChunkSize: a.minChunkSize,
            externalToc: a.externalToc !== undefined,
            keepDiffId: a.keepDiffId,
            prioritizedFiles: prioritized,
            parallelism: a.parallelism,
          },
          blobSink,
        ).pipe(Effect.mapError((e) => sinkFailure ?? layerFailure(a.input, false)(e)))
        if (tocSink !== undefined && a.externalToc !== undefined) {
          if (r.externalToc === undefined)
            return yield* Effect.fail(runtimeFailed(`${a.input}: the converter returned no TOC blob`))
          yield* tocSink.write(r.externalToc.bytes).pipe(Effect.mapError(cannot("write", a.externalToc)))
          yield* tocSink.commit().pipe(Effect.mapError(cannot("write", a.externalToc)))
        }
        yield* sink.commit().pipe(Effect.mapError(cannot("write", a.output)))
        return r
      }),
    )
    if (result.missedPrioritized.length > 0)
      yield* warn(
        `${a.input}: paths of ${a.recordIn} not in the layer: ${result.missedPrioritized.join(", ")}`,
      )
    if (a.json)
      return yield* printJson({
        blobDigest: result.blobDigest,
        tocDigest: result.tocDigest,
        diffID: result.diffId,
        uncompressedSize: result.uncompressedSize,
        blobSize: result.blobSize,
        annotations: result.annotations,
      })
    yield* print(
      [
        `wrote ${a.output}: ${result.blobSize} bytes, ${result.tocEntries} TOC entries`,
        `  blob digest   ${result.blobDigest}`,
        `  TOC digest    ${result.tocDigest}`,
        `  diffID        ${result.diffId}`,
        `  uncompressed  ${result.uncompressedSize} bytes`,
        ...(result.externalToc
          ? [
              `  external TOC  ${a.externalToc}: ${result.externalToc.bytes.length} bytes, ${result.externalToc.digest}`,
            ]
          : []),
      ].join("\n"),
    )
  }).pipe(Effect.provide(engineLayer(a.engine)))

// ---- reading commands ----

/** Opens a layer blob (with its external TOC blob, if given); `onError` renders a failure to open it. */
const withLayer = <A, E, R>(
  blob: string,
  options: { toc: string | undefined; tocDigest?: string | undefined },
  onError: (e: LayerError) => Effect.Effect<never, CommandFailed>,
  f: (layer: OpenedLayer) => Effect.Effect<A, E, R>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const reader = yield* NodeEngine.fileRangeReader(blob).pipe(Effect.mapError(cannot("read", blob)))
      const externalToc =
        options.toc === undefined ? undefined : new Uint8Array(yield* readLocal(options.toc, "TOC blob"))
      const layer = yield* openLayer(reader, {
        name: blob,
        ...(options.tocDigest ? { tocDigest: options.tocDigest } : {}),
        ...(externalToc ? { externalToc } : {}),
      }).pipe(Effect.catchTag("LayerError", onError))
      return yield* f(layer)
    }),
  )

const failWith = (blob: string) => (e: LayerError) => Effect.fail(layerFailure(blob, false)(e))

/** Flags of `lazypull layer verify`. */
export interface VerifyArgs {
  blob: string
  tocDigest: string | undefined
  toc: string | undefined
  diffId: string | undefined
  engine: Engine
  json: boolean
}

/** Verifies a layer; a layer that fails any check exits 1 with the reason. */
export const verify = (a: VerifyArgs) =>
  Effect.gen(function* () {
    yield* checkDigest("--toc-digest", a.tocDigest)
    yield* checkDigest("--diff-id", a.diffId)
    const failedCheck = (e: LayerError) =>
      Effect.flatMap(
        a.json && e.reason !== "Io" && e.reason !== "BadOption"
          ? printJson({
              ok: false,
              reason: e.reason,
              error: e.message,
              ...(e.offset !== undefined ? { offset: e.offset } : {}),
              ...(e.entry !== undefined ? { entry: e.entry } : {}),
            })
          : Effect.void,
        () => Effect.fail(layerFailure(a.blob, true)(e)),
      )
    const report = yield* withLayer(a.blob, a, failedCheck, (layer) =>
      (layer.decompressor.name === STORAGE_FORMAT
        ? verifyStorageLayer(layer, a.diffId ? { diffId: a.diffId } : {})
        : verifyLayer(layer, a.diffId ? { diffId: a.diffId } : {})
      ).pipe(Effect.catchTag("LayerError", failedCheck)),
    )
    if (a.json) return yield* printJson({ ok: true, tocDigest: report.tocDigest, files: report.files })
    yield* print(
      `ok ${a.blob}: ${report.format}, ${report.files.length} files, ${report.chunkCount} chunks verified, TOC ${report.tocDigest}, diffID ${report.diffId}`,
    )
  }).pipe(Effect.provide(engineLayer(a.engine)))

/** Flags of `lazypull layer ls`. */
export interface LsArgs {
  blob: string
  toc: string | undefined
  engine: Engine
  json: boolean
}

/** Lists the files of a layer from its TOC. */
export const ls = (a: LsArgs) =>
  withLayer(a.blob, a, failWith(a.blob), (layer) => {
    const files = layer.decompressor.name === STORAGE_FORMAT ? storageLayerFacts(layer) : layerFacts(layer)
    if (a.json) return printJson(files)
    if (files.length === 0) return Effect.void
    return print(
      files
        .map(
          (f) =>
            `${f.mode.padStart(6)} ${String(f.uid).padStart(5)} ${String(f.gid).padStart(5)} ${String(f.size).padStart(10)} ${f.type.padEnd(8)} ${f.name === "" ? "." : f.name}${f.linkName ? ` -> ${f.linkName}` : ""}`,
        )
        .join("\n"),
    )
  }).pipe(Effect.provide(engineLayer(a.engine)))

/** Flags of `lazypull layer cat`. */
export interface CatArgs {
  blob: string
  path: string
  toc: string | undefined
  stats: boolean
  engine: Engine
}

/** Uncompressed bytes read and written per step of `cat` (whole chunks, so no chunk is fetched twice). */
const CAT_WINDOW = 8 << 20

/** Writes one file's bytes to stdout, a window of whole chunks at a time. */
export const cat = (a: CatArgs) =>
  withLayer(a.blob, a, failWith(a.blob), (layer) =>
    Effect.gen(function* () {
      const before = { reads: layer.reader.stats.reads, bytes: layer.reader.stats.bytes }
      const node = yield* resolveFile(layer, a.path).pipe(Effect.mapError(layerFailure(a.blob, false)))
      let start = 0
      let written = 0
      for (let i = 0; i < node.chunks.length; i++) {
        const c = node.chunks[i]!
        const end = c.chunkOffset + c.chunkSize
        if (end - start < CAT_WINDOW && i < node.chunks.length - 1) continue
        const bytes = yield* readFile(layer, a.path, { offset: start, length: end - start }).pipe(
          Effect.mapError(layerFailure(a.blob, false)),
        )
        yield* writeStdout(bytes)
        written += bytes.length
        start = end
      }
      if (a.stats) {
        const { reads, bytes } = layer.reader.stats
        yield* Effect.sync(() =>
          process.stderr.write(
            `stats: ${a.path}: ${written} bytes; fetched ${bytes} bytes in ${reads} reads (${reads - before.reads} reads, ${bytes - before.bytes} bytes for the file; the rest is footer and TOC)\n`,
          ),
        )
      }
    }),
  ).pipe(Effect.provide(engineLayer(a.engine)))
