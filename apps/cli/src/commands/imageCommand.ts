import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Argument, Command, Flag } from "effect/cli"

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print one JSON document instead of text (no progress)"),
  Flag.withDefault(false),
)
const platform = Flag.String("platform").pipe(
  Flag.withDescription("os/arch[/variant] to use from a multi-platform image (default: this machine's)"),
  Flag.optional,
)
const allPlatforms = Flag.Boolean("all-platforms").pipe(
  Flag.withDescription("Every platform of a multi-platform image"),
  Flag.withDefault(false),
)
const opt = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)
const impl = () => Effect.promise(() => import("./imageImpl.ts"))

const IMAGE_HELP = "oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE"

/** `lazypull convert SRC DST`: a whole image to eStargz or zstd:chunked. */
export const convertCommand = Command.make(
  "convert",
  {
    src: Argument.String("SRC").pipe(Argument.withDescription(`Source image: ${IMAGE_HELP}`)),
    dst: Argument.String("DST").pipe(
      Argument.withDescription("Destination: oci:DIR[:TAG] or oci-archive:FILE[:TAG] (written atomically)"),
    ),
    estargz: Flag.Boolean("estargz").pipe(
      Flag.withDescription("Convert to eStargz (the default)"),
      Flag.withDefault(false),
    ),
    zstdchunked: Flag.Boolean("zstdchunked").pipe(
      Flag.withDescription(
        "Convert to zstd:chunked (stargz-snapshotter dialect unless --zstdchunked-dialect storage)",
      ),
      Flag.withDefault(false),
    ),
    oci: Flag.Boolean("oci").pipe(
      Flag.withDescription(
        "Convert Docker media types to OCI (layer annotations only work in OCI manifests)",
      ),
      Flag.withDefault(false),
    ),
    level: Flag.Int("estargz-compression-level").pipe(
      Flag.withDescription("gzip level 0-9 (default 9, as ctr-remote)"),
      Flag.withDefault(9),
    ),
    chunkSize: Flag.Int("estargz-chunk-size").pipe(
      Flag.withDescription("Chunk size in bytes (0 = default, 4 MiB)"),
      Flag.withDefault(0),
    ),
    minChunkSize: Flag.Int("estargz-min-chunk-size").pipe(
      Flag.withDescription(
        "Pack small chunks into shared gzip members of at least this many compressed bytes (0 = off)",
      ),
      Flag.withDefault(0),
    ),
    externalToc: Flag.Boolean("estargz-external-toc").pipe(
      Flag.withDescription("Put the TOCs in a separate image tagged <tag>-esgztoc, as ctr-remote does"),
      Flag.withDefault(false),
    ),
    keepDiffId: Flag.Boolean("estargz-keep-diff-id").pipe(
      Flag.withDescription("With --estargz-external-toc: keep the layers' tars byte for byte (same diffIDs)"),
      Flag.withDefault(false),
    ),
    recordIn: Flag.String("estargz-record-in").pipe(
      Flag.withDescription(
        'ctr-remote record file (NDJSON with "path"): files to prefetch first, in every layer',
      ),
      Flag.optional,
    ),
    zstdLevel: Flag.Int("zstdchunked-compression-level").pipe(
      Flag.withDescription("zstd level 1-22 (default 3)"),
      Flag.withDefault(3),
    ),
    zstdChunkSize: Flag.Int("zstdchunked-chunk-size").pipe(
      Flag.withDescription("Chunk size in bytes for the stargz dialect (0 = default, 4 MiB)"),
      Flag.withDefault(0),
    ),
    zstdDialect: Flag.Literals("zstdchunked-dialect", ["stargz", "storage"]).pipe(
      Flag.withDescription(
        "stargz: ctr-remote/nerdctl, lazily pulled by stargz-snapshotter (default); storage: podman/buildah, pulled partially by containers/storage",
      ),
      Flag.withDefault("stargz" as const),
    ),
    platform,
    allPlatforms,
    json,
  },
  (a) =>
    Effect.flatMap(impl(), (m) =>
      m.convertImage({
        ...a,
        recordIn: opt(a.recordIn),
        platform: opt(a.platform),
      }),
    ),
).pipe(
  Command.withDescription("Convert an image to eStargz (default) or zstd:chunked"),
  Command.withExamples([
    {
      command: "lazypull convert oci:image:latest oci:image:latest-esgz --oci",
      description: "eStargz, as `ctr-remote image convert --estargz --oci`",
    },
    {
      command: "lazypull convert docker-archive:app.tar oci-archive:app-zstd.tar:latest --zstdchunked",
      description: "zstd:chunked for stargz-snapshotter, into an OCI archive",
    },
    {
      command: "lazypull convert oci:image:latest oci:out:v1 --zstdchunked --zstdchunked-dialect storage",
      description: "zstd:chunked for podman / containers-storage",
    },
  ]),
)

/** `lazypull check IMAGE`: is every layer lazy-pullable? */
export const checkCommand = Command.make(
  "check",
  {
    image: Argument.String("IMAGE").pipe(Argument.withDescription(`Image: ${IMAGE_HELP}`)),
    platform,
    allPlatforms,
    json,
  },
  (a) => Effect.flatMap(impl(), (m) => m.checkImage({ ...a, platform: opt(a.platform) })),
).pipe(
  Command.withDescription(
    "Check that every layer is lazy-pullable: annotations, footer, TOC digest, every chunk, diffID and size (exit 1 if not)",
  ),
  Command.withExamples([
    { command: "lazypull check oci:out:latest-esgz", description: "One line per layer with its verdict" },
    { command: "lazypull check oci-archive:app.tar --json", description: "The verdicts as JSON" },
  ]),
)

const stats = Flag.Boolean("stats").pipe(
  Flag.withDescription("Print on stderr how many bytes and reads it took"),
  Flag.withDefault(false),
)
const onePlatform = Flag.String("platform").pipe(
  Flag.withDescription("os/arch[/variant] of a multi-platform image (default: this machine's)"),
  Flag.optional,
)

/** `lazypull diff A B`: compare the merged file trees of two images. */
export const diffCommand = Command.make(
  "diff",
  {
    a: Argument.String("A").pipe(Argument.withDescription(`Image A: ${IMAGE_HELP}`)),
    b: Argument.String("B").pipe(Argument.withDescription(`Image B: ${IMAGE_HELP}`)),
    platform: onePlatform,
    compareModtime: Flag.Boolean("compare-modtime").pipe(
      Flag.withDescription("Compare modification times too (whole seconds, as TOCs keep them)"),
      Flag.withDefault(false),
    ),
    json,
  },
  (a) => Effect.flatMap(impl(), (m) => m.diffImages({ ...a, platform: opt(a.platform) })),
).pipe(
  Command.withDescription(
    "Compare the merged file trees of two images (path, type, size, mode, owner, link, xattrs, content sha256); exit 1 if they differ",
  ),
  Command.withExamples([
    {
      command: "lazypull diff oci:image:latest oci:image:latest-esgz",
      description: "Prove a conversion lost nothing (landmarks and TOC entries are reported apart)",
    },
  ]),
)

/** `lazypull toc IMAGE [--layer N]`. */
export const tocCommand = Command.make(
  "toc",
  {
    image: Argument.String("IMAGE").pipe(Argument.withDescription(`Image: ${IMAGE_HELP}`)),
    layer: Flag.Int("layer").pipe(
      Flag.withDescription("Print this layer's TOC JSON as stored"),
      Flag.optional,
    ),
    platform: onePlatform,
  },
  (a) =>
    Effect.flatMap(impl(), (m) =>
      m.tocOf({ image: a.image, layer: opt(a.layer), platform: opt(a.platform) }),
    ),
).pipe(
  Command.withDescription("Every layer's TOC digest, or with --layer N that layer's TOC JSON"),
  Command.withExamples([
    { command: "lazypull toc oci:out:latest-esgz", description: "TOC digest and entry count per layer" },
    { command: "lazypull toc oci:out:latest-esgz --layer 0 | jq .", description: "One layer's TOC" },
  ]),
)

/** `lazypull ls IMAGE [PATH]`. */
export const lsCommand = Command.make(
  "ls",
  {
    image: Argument.String("IMAGE").pipe(Argument.withDescription(`Image: ${IMAGE_HELP}`)),
    path: Argument.String("PATH").pipe(
      Argument.withDescription("A directory or file (default: everything)"),
      Argument.optional,
    ),
    platform: onePlatform,
    json,
    stats,
  },
  (a) =>
    Effect.flatMap(impl(), (m) =>
      m.lsImage({
        image: a.image,
        path: opt(a.path),
        platform: opt(a.platform),
        json: a.json,
        stats: a.stats,
      }),
    ),
).pipe(
  Command.withDescription("List the merged files of an image, from the TOCs of lazy layers"),
  Command.withExamples([
    { command: "lazypull ls oci:out:latest-esgz etc --stats", description: "One directory" },
  ]),
)

/** `lazypull cat IMAGE PATH`. */
export const catCommand = Command.make(
  "cat",
  {
    image: Argument.String("IMAGE").pipe(Argument.withDescription(`Image: ${IMAGE_HELP}`)),
    path: Argument.String("PATH").pipe(Argument.withDescription("The file to print")),
    platform: onePlatform,
    stats,
  },
  (a) => Effect.flatMap(impl(), (m) => m.catImage({ ...a, platform: opt(a.platform) })),
).pipe(
  Command.withDescription("Print one file of an image, fetching and verifying only its chunks"),
  Command.withExamples([
    { command: "lazypull cat oci:out:latest-esgz etc/os-release --stats", description: "" },
  ]),
)

/** `lazypull extract IMAGE PATH... -o DIR`. */
export const extractCommand = Command.make(
  "extract",
  {
    image: Argument.String("IMAGE").pipe(Argument.withDescription(`Image: ${IMAGE_HELP}`)),
    paths: Argument.String("PATH").pipe(
      Argument.withDescription("Files or directories to extract"),
      Argument.atLeast(1),
    ),
    output: Flag.String("output").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("Target directory (nothing is written outside it)"),
    ),
    skipUnsafeSymlinks: Flag.Boolean("skip-unsafe-symlinks").pipe(
      Flag.withDescription("Skip symlinks that point outside the target instead of failing"),
      Flag.withDefault(false),
    ),
    platform: onePlatform,
    json,
    stats,
  },
  (a) => Effect.flatMap(impl(), (m) => m.extractFromImage({ ...a, platform: opt(a.platform) })),
).pipe(
  Command.withDescription(
    "Extract files of an image into a directory, refusing paths and links that escape it",
  ),
  Command.withExamples([
    { command: "lazypull extract oci:out:latest-esgz etc usr/bin/hello -o rootfs", description: "" },
  ]),
)
