// Layer commands: thin shells over @lazypull/estargz. Loaded on demand by layerCommand.ts.
import { readFile as readFileNode } from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Decompressors, type GzipEngine, LayerError, type Scratch, type Sha256, type ZstdEngine } from "@lazypull/codec"
import * as NodeEngine from "@lazypull/engine-node"
import { layerScratchFile } from "@lazypull/engine-node/NodeScratch"
import * as PortableEngine from "@lazypull/engine-portable"
import {
  buildLayer,
  layerFacts,
  makeCompressor,
  makeDecompressor,
  openLayer,
  parseRecordFile,
  readFile,
  verifyLayer,
} from "@lazypull/estargz"
import { CheckFailed } from "../exit.ts"

type Engine = "node" | "portable"

const engineLayer = (engine: Engine): Layer.Layer<GzipEngine | Sha256 | ZstdEngine | Scratch | Decompressors> => {
  const gzip: Layer.Layer<GzipEngine> =
    engine === "portable" ? PortableEngine.layerGzip : NodeEngine.layerGzip
  const base = Layer.mergeAll(gzip, NodeEngine.layerSha256, PortableEngine.layerZstd, layerScratchFile())
  const decompressors = Layer.effect(
    Decompressors,
    Effect.map(makeDecompressor(), (d) => [d]),
  ).pipe(Layer.provide(gzip))
  return Layer.merge(base, decompressors)
}

const fileError = (e: { message: string }) =>
  new LayerError({ reason: "Io", format: "cli", message: e.message })

const print = (s: string) => Effect.sync(() => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`))
const printJson = (v: unknown) => print(JSON.stringify(v, null, 2))

const readLocal = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFileNode(path),
    catch: (e) =>
      new LayerError({ reason: "Io", format: "cli", message: `cannot read ${what} ${path}: ${String(e)}` }),
  })

export interface ConvertArgs {
  input: string
  output: string
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

/** Converts one layer; the blob (and TOC blob) are written to temp names and renamed when complete. */
export const convert = (a: ConvertArgs) =>
  Effect.gen(function* () {
    if (a.level < 0 || a.level > 9)
      return yield* Effect.fail(
        new LayerError({
          reason: "BadOption",
          format: "estargz",
          message: `--estargz-compression-level ${a.level}: want 0-9`,
        }),
      )
    if (a.minChunkSize > 0)
      return yield* Effect.fail(
        new LayerError({
          reason: "BadOption",
          format: "estargz",
          message: "--estargz-min-chunk-size is not supported by this version",
        }),
      )
    let prioritized: ReadonlyArray<string> = []
    if (a.recordIn !== undefined) {
      const text = (yield* readLocal(a.recordIn, "record file")).toString("utf8")
      const r = parseRecordFile(text)
      if (r instanceof LayerError) return yield* Effect.fail(r)
      prioritized = r
    }
    const result = yield* Effect.scoped(
      Effect.gen(function* () {
        const input = yield* NodeEngine.fileRangeReader(a.input).pipe(
          Effect.mapError(
            (e) =>
              new LayerError({
                reason: "Io",
                format: "cli",
                message: `cannot read ${a.input}: ${e.message}`,
              }),
          ),
        )
        const sink = yield* NodeEngine.atomicFileSink(a.output).pipe(Effect.mapError(fileError))
        const compressor = yield* makeCompressor({ level: a.level })
        const r = yield* buildLayer(
          input,
          compressor,
          {
            chunkSize: a.chunkSize,
            minChunkSize: a.minChunkSize,
            externalToc: a.externalToc !== undefined,
            keepDiffId: a.keepDiffId,
            prioritizedFiles: prioritized,
            parallelism: a.parallelism,
          },
          { write: (b) => sink.write(b).pipe(Effect.mapError(fileError)) },
        )
        if (a.externalToc !== undefined && r.externalToc) {
          const tocSink = yield* NodeEngine.atomicFileSink(a.externalToc).pipe(Effect.mapError(fileError))
          yield* tocSink.write(r.externalToc.bytes).pipe(Effect.mapError(fileError))
          yield* tocSink.commit().pipe(Effect.mapError(fileError))
        }
        yield* sink.commit().pipe(Effect.mapError(fileError))
        return r
      }),
    )
    const out = {
      blobDigest: result.blobDigest,
      tocDigest: result.tocDigest,
      diffID: result.diffId,
      uncompressedSize: result.uncompressedSize,
      blobSize: result.blobSize,
      annotations: result.annotations,
      ...(result.externalToc
        ? { externalTocDigest: result.externalToc.digest, externalTocSize: result.externalToc.bytes.length }
        : {}),
      ...(result.missedPrioritized.length > 0 ? { missedPrioritized: result.missedPrioritized } : {}),
    }
    if (a.json) return yield* printJson(out)
    yield* print(
      [
        `wrote ${a.output}: ${out.blobSize} bytes, ${result.tocEntries} TOC entries`,
        `  blob digest   ${out.blobDigest}`,
        `  TOC digest    ${out.tocDigest}`,
        `  diffID        ${out.diffID}`,
        `  uncompressed  ${out.uncompressedSize} bytes`,
        ...(result.externalToc ? [`  external TOC  ${a.externalToc} (${result.externalToc.digest})`] : []),
        ...(result.missedPrioritized.length
          ? [`  not found     ${result.missedPrioritized.join(", ")}`]
          : []),
      ].join("\n"),
    )
  }).pipe(Effect.provide(engineLayer(a.engine)))

const withLayer = <A, E, R>(
  blob: string,
  toc: string | undefined,
  tocDigest: string | undefined,
  f: (layer: Effect.Success<ReturnType<typeof openLayer>>) => Effect.Effect<A, E, R>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const reader = yield* NodeEngine.fileRangeReader(blob).pipe(
        Effect.mapError(
          (e) =>
            new LayerError({ reason: "Io", format: "cli", message: `cannot read ${blob}: ${e.message}` }),
        ),
      )
      const externalToc = toc === undefined ? undefined : new Uint8Array(yield* readLocal(toc, "TOC blob"))
      const layer = yield* openLayer(reader, {
        name: blob,
        ...(tocDigest ? { tocDigest } : {}),
        ...(externalToc ? { externalToc } : {}),
      })
      return yield* f(layer)
    }),
  )

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
  withLayer(a.blob, a.toc, a.tocDigest, (layer) =>
    verifyLayer(layer, a.diffId ? { diffId: a.diffId } : {}),
  ).pipe(
    Effect.flatMap((report) =>
      a.json
        ? printJson({
            ok: true,
            tocDigest: report.tocDigest,
            diffID: report.diffId,
            uncompressedSize: report.uncompressedSize,
            files: report.files,
          })
        : print(
            `ok ${a.blob}: ${report.format}, ${report.files.length} files, ${report.chunkCount} chunks verified, TOC ${report.tocDigest}, diffID ${report.diffId}`,
          ),
    ),
    Effect.catchTag(
      "LayerError",
      (e): Effect.Effect<never, LayerError | CheckFailed> =>
        e.reason === "Io"
          ? Effect.fail(e)
          : Effect.flatMap(
              a.json
                ? printJson({
                    ok: false,
                    reason: e.reason,
                    error: e.message,
                    ...(e.offset !== undefined ? { offset: e.offset } : {}),
                    ...(e.entry ? { entry: e.entry } : {}),
                  })
                : Effect.void,
              () => Effect.fail(new CheckFailed(`${e.reason}: ${e.message}`)),
            ),
    ),
    Effect.provide(engineLayer(a.engine)),
  )

/** Lists the files of a layer from its TOC. */
export const ls = (a: { blob: string; toc: string | undefined; engine: Engine; json: boolean }) =>
  withLayer(a.blob, a.toc, undefined, (layer) => {
    const files = layerFacts(layer)
    if (a.json) return printJson(files)
    return print(
      files
        .map(
          (f) =>
            `${f.mode.padStart(6)} ${String(f.uid).padStart(5)} ${String(f.gid).padStart(5)} ${String(f.size).padStart(10)} ${f.type.padEnd(8)} ${f.name}${f.linkName ? ` -> ${f.linkName}` : ""}`,
        )
        .join("\n"),
    )
  }).pipe(Effect.provide(engineLayer(a.engine)))

/** Writes one file's bytes to stdout. */
export const cat = (a: {
  blob: string
  path: string
  toc: string | undefined
  stats: boolean
  engine: Engine
}) =>
  withLayer(a.blob, a.toc, undefined, (layer) =>
    Effect.gen(function* () {
      const before = { reads: layer.reader.stats.reads, bytes: layer.reader.stats.bytes }
      const bytes = yield* readFile(layer, a.path)
      yield* Effect.promise(
        () =>
          new Promise<void>((resolve, reject) =>
            process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())),
          ),
      )
      if (a.stats)
        yield* Effect.sync(() =>
          process.stderr.write(
            `${a.path}: ${bytes.length} bytes; fetched ${layer.reader.stats.bytes} bytes in ${layer.reader.stats.reads} reads (${layer.reader.stats.reads - before.reads} reads, ${layer.reader.stats.bytes - before.bytes} bytes for the file)\n`,
          ),
        )
    }),
  ).pipe(Effect.provide(engineLayer(a.engine)))
