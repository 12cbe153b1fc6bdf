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
