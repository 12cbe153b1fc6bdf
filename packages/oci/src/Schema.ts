import { Effect, Exit, Schema } from "effect"
import { digestProblem } from "./Digest.ts"
import { isConfig, isIndex, isManifest } from "./MediaType.ts"
import { OciError } from "./OciError.ts"

// Every object keeps the keys it does not declare (StructWithRest with an `unknown` record), so that a
// decoded document re-encoded with `encodeJson` loses nothing; effect's default is to strip them.
const Rest = [Schema.Record(Schema.String, Schema.Unknown)] as const
const Annotations = Schema.Record(Schema.String, Schema.String)

/** A platform (`os`, `architecture`, optional `variant`, `os.version`, `os.features`). */
export const Platform = Schema.StructWithRest(
  Schema.Struct({
    architecture: Schema.String,
    os: Schema.String,
    "os.version": Schema.optionalKey(Schema.String),
    "os.features": Schema.optionalKey(Schema.Array(Schema.String)),
    variant: Schema.optionalKey(Schema.String),
  }),
  Rest,
)
/** A decoded platform. */
export type Platform = typeof Platform.Type

/** A content descriptor. */
export const Descriptor = Schema.StructWithRest(
  Schema.Struct({
    mediaType: Schema.String,
    digest: Schema.String,
    size: Schema.Number,
    annotations: Schema.optionalKey(Annotations),
    platform: Schema.optionalKey(Platform),
    urls: Schema.optionalKey(Schema.Array(Schema.String)),
    artifactType: Schema.optionalKey(Schema.String),
  }),
  Rest,
)
/** A decoded descriptor. */
export type Descriptor = typeof Descriptor.Type

/** An image index: OCI index or Docker manifest list. */
export const Index = Schema.StructWithRest(
  Schema.Struct({
    schemaVersion: Schema.Literal(2),
    mediaType: Schema.optionalKey(Schema.String),
    manifests: Schema.Array(Descriptor),
    annotations: Schema.optionalKey(Annotations),
  }),
  Rest,
)
/** A decoded index. */
export type Index = typeof Index.Type

/** An image manifest: OCI or Docker v2 schema 2. */
export const Manifest = Schema.StructWithRest(
  Schema.Struct({
    schemaVersion: Schema.Literal(2),
    mediaType: Schema.optionalKey(Schema.String),
    config: Descriptor,
    layers: Schema.Array(Descriptor),
    subject: Schema.optionalKey(Descriptor),
    annotations: Schema.optionalKey(Annotations),
  }),
  Rest,
)
/** A decoded manifest. */
export type Manifest = typeof Manifest.Type

/** One `history` entry of an image config. */
export const History = Schema.StructWithRest(
  Schema.Struct({
    created: Schema.optionalKey(Schema.String),
    created_by: Schema.optionalKey(Schema.String),
    author: Schema.optionalKey(Schema.String),
    comment: Schema.optionalKey(Schema.String),
    empty_layer: Schema.optionalKey(Schema.Boolean),
  }),
  Rest,
)
/** A decoded history entry. */
export type History = typeof History.Type

/** An image config: only `rootfs.diff_ids` and `history` are typed, every other key is kept as is. */
export const ImageConfig = Schema.StructWithRest(
  Schema.Struct({
    rootfs: Schema.StructWithRest(
      Schema.Struct({ type: Schema.String, diff_ids: Schema.Array(Schema.String) }),
      Rest,
    ),
    history: Schema.optionalKey(Schema.Array(History)),
  }),
  Rest,
)
/** A decoded image config. */
export type ImageConfig = typeof ImageConfig.Type

/** Where a document came from, for errors. */
export interface DocumentOrigin {
  readonly image: string
  readonly path?: string | undefined
  readonly digest?: string | undefined
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()

const fail = (reason: OciError["reason"], origin: DocumentOrigin, message: string): OciError =>
  new OciError({ reason, image: origin.image, path: origin.path, digest: origin.digest, message })

/** Parses JSON bytes (strict UTF-8), failing with BadJson. */
export const parseJson = (bytes: Uint8Array, origin: DocumentOrigin): Effect.Effect<unknown, OciError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(JSON.parse(utf8.decode(bytes)) as unknown)
    } catch (e) {
      return Effect.fail(
        fail("BadJson", origin, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`),
      )
    }
  })

const decodeWith =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, what: string) =>
  (value: unknown, origin: DocumentOrigin): Effect.Effect<S["Type"], OciError> => {
    const exit = Schema.decodeUnknownExit(schema)(value)
    return Exit.isSuccess(exit)
      ? Effect.succeed(exit.value)
      : Effect.fail(fail("BadSchema", origin, `not ${what}: ${String(exit.cause)}`))
  }

/** Why a descriptor is unusable (bad digest or size), or undefined. */
export const descriptorProblem = (d: Descriptor): string | undefined => {
  const p = digestProblem(d.digest)
  if (p !== undefined) return p
  if (!Number.isSafeInteger(d.size) || d.size < 0)
    return `descriptor size ${d.size} is not a non-negative integer`
  return undefined
}

const checkDescriptors = (
  ds: ReadonlyArray<Descriptor>,
  origin: DocumentOrigin,
): Effect.Effect<void, OciError> => {
  for (const d of ds) {
    const p = descriptorProblem(d)
    if (p !== undefined) return Effect.fail(fail("BadSchema", origin, `descriptor ${d.digest}: ${p}`))
  }
  return Effect.void
}

const decodeIndexValue = decodeWith(Index, "an image index")
const decodeManifestValue = decodeWith(Manifest, "an image manifest")
const decodeConfigValue = decodeWith(ImageConfig, "an image config")

/** Decodes an image index (OCI index or Docker manifest list) from JSON bytes. */
export const decodeIndex = (bytes: Uint8Array, origin: DocumentOrigin): Effect.Effect<Index, OciError> =>
  Effect.gen(function* () {
    const index = yield* decodeIndexValue(yield* parseJson(bytes, origin), origin)
    if (index.mediaType !== undefined && !isIndex(index.mediaType)) {
      return yield* fail("BadSchema", origin, `index has media type ${index.mediaType}`)
    }
    yield* checkDescriptors(index.manifests, origin)
    return index
  })

/** Decodes an image manifest (OCI or Docker v2) from JSON bytes. */
export const decodeManifest = (
  bytes: Uint8Array,
  origin: DocumentOrigin,
): Effect.Effect<Manifest, OciError> =>
  Effect.gen(function* () {
    const manifest = yield* decodeManifestValue(yield* parseJson(bytes, origin), origin)
    if (manifest.mediaType !== undefined && !isManifest(manifest.mediaType)) {
      return yield* fail("BadSchema", origin, `manifest has media type ${manifest.mediaType}`)
    }
    yield* checkDescriptors([manifest.config, ...manifest.layers], origin)
    if (!isConfig(manifest.config.mediaType)) {
      return yield* fail(
        "UnknownMediaType",
        origin,
        `config media type ${manifest.config.mediaType} is not an image config`,
      )
    }
    return manifest
  })

/** Decodes an image config from JSON bytes, keeping every key it does not type. */
export const decodeConfig = (
  bytes: Uint8Array,
  origin: DocumentOrigin,
): Effect.Effect<ImageConfig, OciError> =>
  Effect.gen(function* () {
    const config = yield* decodeConfigValue(yield* parseJson(bytes, origin), origin)
    for (const d of config.rootfs.diff_ids) {
      const p = digestProblem(d)
      if (p !== undefined) return yield* fail("BadSchema", origin, `rootfs.diff_ids: ${p}`)
    }
    return config
  })

/** JSON bytes of a decoded document (unknown keys included), for rewriting manifests and configs. */
export const encodeJson = (value: unknown): Uint8Array => utf8Encoder.encode(JSON.stringify(value))
