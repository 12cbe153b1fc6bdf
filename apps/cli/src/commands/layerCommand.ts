import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Argument, Command, Flag } from "effect/cli"

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print one JSON document instead of text"),
  Flag.withDefault(false),
)
const engine = Flag.Literals("engine", ["node", "portable"]).pipe(
  Flag.withDescription("Compression engine: node (node:zlib, default) or portable (fflate)"),
  Flag.withDefault("node" as const),
)
const tocFlag = Flag.String("toc").pipe(
  Flag.withDescription("External TOC blob, for layers converted with --estargz-external-toc"),
  Flag.optional,
)
const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

/** `lazypull layer convert IN OUT`: one layer tar (.tar, .tar.gz, .tar.zst) to an eStargz blob. */
const convert = Command.make(
  "convert",
  {
    input: Argument.String("IN").pipe(Argument.withDescription("Layer tar, tar.gz or tar.zst")),
    output: Argument.String("OUT").pipe(Argument.withDescription("Where to write the eStargz blob")),
    level: Flag.Int("estargz-compression-level").pipe(
      Flag.withDescription("gzip level 0-9 (default 9, as ctr-remote)"),
      Flag.withDefault(9),
    ),
    chunkSize: Flag.Int("estargz-chunk-size").pipe(
      Flag.withDescription("Uncompressed chunk size in bytes (0 = default, 4 MiB)"),
      Flag.withDefault(0),
    ),
    minChunkSize: Flag.Int("estargz-min-chunk-size").pipe(
      Flag.withDescription(
        "Pack small chunks into shared gzip members of at least this many compressed bytes (0 = off)",
      ),
      Flag.withDefault(0),
    ),
    externalToc: Flag.String("estargz-external-toc").pipe(
      Flag.withDescription(
        "Write the TOC to this separate blob (TOC_OUT); the layer ends with a 46-byte footer",
      ),
      Flag.optional,
    ),
    keepDiffId: Flag.Boolean("estargz-keep-diff-id").pipe(
      Flag.withDescription("With --estargz-external-toc: keep the input tar byte for byte (same diffID)"),
      Flag.withDefault(false),
    ),
    recordIn: Flag.String("estargz-record-in").pipe(
      Flag.withDescription('ctr-remote record file (NDJSON with "path") or a list of paths to prioritize'),
      Flag.optional,
    ),
    zstdchunked: Flag.Boolean("zstdchunked").pipe(
      Flag.withDescription(
        "Write zstd:chunked (stargz-snapshotter dialect, as ctr-remote and nerdctl) instead of eStargz",
      ),
      Flag.withDefault(false),
    ),
    zstdDialect: Flag.Literals("zstdchunked-dialect", ["stargz", "storage"]).pipe(
      Flag.withDescription(
        "stargz: what ctr-remote/nerdctl write and stargz-snapshotter pulls lazily (default); storage: what podman/buildah write and containers/storage pulls partially",
      ),
      Flag.withDefault("stargz" as const),
    ),
    zstdLevel: Flag.Int("zstdchunked-compression-level").pipe(
      Flag.withDescription("zstd level 1-22 for --zstdchunked (default 3)"),
      Flag.withDefault(3),
    ),
    zstdChunkSize: Flag.Int("zstdchunked-chunk-size").pipe(
      Flag.withDescription("Chunk size in bytes for --zstdchunked (0 = default, 4 MiB)"),
      Flag.withDefault(0),
    ),
    parallelism: Flag.Int("parallelism").pipe(
      Flag.withDescription("Members compressed at once (default 4); output is identical for any value"),
      Flag.withDefault(4),
    ),
    engine,
    json,
  },
  (a) =>
    Effect.flatMap(
      Effect.promise(() => import("./layerImpl.ts")),
      (impl) =>
        impl.convert({
          input: a.input,
          output: a.output,
          zstdchunked: a.zstdchunked,
          zstdDialect: a.zstdDialect,
          zstdLevel: a.zstdLevel,
          zstdChunkSize: a.zstdChunkSize,
          level: a.level,
          chunkSize: a.chunkSize,
          minChunkSize: a.minChunkSize,
          externalToc: opt(a.externalToc),
          keepDiffId: a.keepDiffId,
          recordIn: opt(a.recordIn),
          parallelism: a.parallelism,
          engine: a.engine,
          json: a.json,
        }),
    ),
).pipe(
  Command.withDescription("Convert one layer tar to eStargz"),
  Command.withExamples([
    {
      command: "lazypull layer convert layer.tar.gz layer.esgz --json",
      description: "Convert with ctr-remote's defaults",
    },
    {
      command:
        "lazypull layer convert layer.tar.zst layer.esgz --estargz-compression-level 6 --estargz-chunk-size 1048576",
      description: "Faster compression, 1 MiB chunks",
    },
    {
      command: "lazypull layer convert layer.tar layer.esgz --estargz-record-in record.json",
      description: "Put the files of a ctr-remote record first (prefetched)",
    },
    {
      command: "lazypull layer convert layer.tar.gz layer.zst --zstdchunked --json",
      description: "Prefetch the files a ctr-remote record file lists",
    },
    {
      command:
        "lazypull layer convert layer.tar out.esgz --estargz-external-toc out.toc --estargz-keep-diff-id",
      description: "Keep the diffID; the TOC goes to its own blob",
    },
  ]),
)

/** `lazypull layer verify BLOB`: the full lazy-pullability check of one layer. */
const verify = Command.make(
  "verify",
  {
    blob: Argument.String("BLOB").pipe(Argument.withDescription("eStargz layer blob")),
    tocDigest: Flag.String("toc-digest").pipe(
      Flag.withDescription("Expected TOC digest (containerd.io/snapshot/stargz/toc.digest)"),
      Flag.optional,
    ),
    toc: tocFlag,
    diffId: Flag.String("diff-id").pipe(
      Flag.withDescription("Expected diffID of the decompressed blob"),
      Flag.optional,
    ),
    engine,
    json,
  },
  (a) =>
    Effect.flatMap(
      Effect.promise(() => import("./layerImpl.ts")),
      (impl) =>
        impl.verify({
          blob: a.blob,
          tocDigest: opt(a.tocDigest),
          toc: opt(a.toc),
          diffId: opt(a.diffId),
          engine: a.engine,
          json: a.json,
        }),
    ),
).pipe(
  Command.withDescription("Verify footer, TOC digest, every chunk and the tar stream of one layer blob"),
  Command.withExamples([
    {
      command: "lazypull layer verify layer.esgz --toc-digest sha256:…",
      description: "Check a layer against its annotation",
    },
    {
      command: "lazypull layer verify layer.esgz --toc layer.toc --json",
      description: "Check an external-TOC layer; print the per-file facts",
    },
  ]),
)

/** `lazypull layer ls BLOB`: the files of a layer, from its TOC. */
const ls = Command.make(
  "ls",
  {
    blob: Argument.String("BLOB").pipe(Argument.withDescription("eStargz layer blob")),
    toc: tocFlag,
    engine,
    json,
  },
  (a) =>
    Effect.flatMap(
      Effect.promise(() => import("./layerImpl.ts")),
      (impl) => impl.ls({ blob: a.blob, toc: opt(a.toc), engine: a.engine, json: a.json }),
    ),
).pipe(
  Command.withDescription("List the files of a layer blob from its TOC"),
  Command.withExamples([
    {
      command: "lazypull layer ls layer.esgz",
      description: "Mode, uid, gid, size, type and name of every file",
    },
    { command: "lazypull layer ls layer.esgz --json", description: "The per-file facts as JSON" },
  ]),
)

/** `lazypull layer cat BLOB PATH`: one file's bytes, fetched and verified chunk by chunk. */
const cat = Command.make(
  "cat",
  {
    blob: Argument.String("BLOB").pipe(Argument.withDescription("eStargz layer blob")),
    path: Argument.String("PATH").pipe(Argument.withDescription("A regular file (or hardlink) in the layer")),
    toc: tocFlag,
    stats: Flag.Boolean("stats").pipe(
      Flag.withDescription("Print reads and bytes fetched to stderr"),
      Flag.withDefault(false),
    ),
    engine,
  },
  (a) =>
    Effect.flatMap(
      Effect.promise(() => import("./layerImpl.ts")),
      (impl) => impl.cat({ blob: a.blob, path: a.path, toc: opt(a.toc), stats: a.stats, engine: a.engine }),
    ),
).pipe(
  Command.withDescription("Print one file of a layer blob (only its chunks are read, each one verified)"),
  Command.withExamples([
    { command: "lazypull layer cat layer.esgz etc/os-release", description: "Print one file" },
    {
      command: "lazypull layer cat layer.esgz usr/bin/app --stats > app",
      description: "Extract a file and report the reads it took",
    },
  ]),
)

/** `lazypull layer ...`: layer-level commands used by the image commands and by other tools. */
export const layerCommand = Command.make("layer").pipe(
  Command.withDescription("Work on single layer blobs"),
  Command.withSubcommands([convert, verify, ls, cat]),
  Command.withExamples([
    { command: "lazypull layer convert layer.tar layer.esgz", description: "Convert a layer tar to eStargz" },
    { command: "lazypull layer verify layer.esgz", description: "Check that it is lazy-pullable" },
  ]),
)
