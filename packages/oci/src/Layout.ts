import type { Sha256 } from "@lazypull/codec"
import { Effect } from "effect"
import { blobPath } from "./Digest.ts"
import { fileSize, type LayoutSource, readBlob, readFile } from "./LayoutSource.ts"
import { isIndex, isLayer, isManifest, type LayerCompression, layerCompression } from "./MediaType.ts"
import { OciError } from "./OciError.ts"
import {
  type Descriptor,
  decodeConfig,
  decodeIndex,
  decodeManifest,
  type ImageConfig,
  type Index,
  type Manifest,
  type Platform,
  parseJson,
} from "./Schema.ts"

/** The annotation holding a tag in an index. */
export const REF_NAME = "org.opencontainers.image.ref.name"
/** The annotation containerd (`ctr image export`, `nerdctl save`) puts the full image name in. */
export const CONTAINERD_IMAGE_NAME = "io.containerd.image.name"

/** An opened OCI image layout: its source and top-level index. */
export interface OciLayout {
  readonly source: LayoutSource
  readonly index: Index
}

/** Which image of a layout or archive to open. */
export interface ImageSelector {
  /** A tag (`latest`) or full name (`docker.io/library/x:latest`); without it the layout must hold one image. */
  readonly ref?: string | undefined
  /** `os/arch[/variant]`; required only when the reference names several platforms. */
  readonly platform?: string | undefined
}

/** One layer of an image. */
export interface ImageLayer {
  /** The layer descriptor (for docker archives, made up from the file: uncompressed size and digest). */
  readonly descriptor: Descriptor
  /** The file holding the layer blob in the source. */
  readonly path: string
  /** How the blob is compressed. */
  readonly compression: LayerCompression
  /** The DiffID for this layer in the config, if the config lists one. */
  readonly diffId: string | undefined
}

/** An image read from a layout or archive, in one shape whatever the source format. */
export interface Image {
  /** Where the files come from. */
  readonly source: LayoutSource
  /** `oci` for image layouts and OCI archives, `docker` for `docker save` archives. */
  readonly format: "oci" | "docker"
  /** The manifest descriptor (undefined for docker archives, which have no manifest blob). */
  readonly manifestDescriptor: Descriptor | undefined
  /** The manifest (for docker archives, an OCI manifest made up from manifest.json). */
  readonly manifest: Manifest
  /** The config descriptor (its digest is the image ID). */
  readonly configDescriptor: Descriptor
  /** The raw config bytes. */
  readonly configBytes: Uint8Array
  /** The decoded config (unknown keys kept). */
  readonly config: ImageConfig
  /** The layers, base first. */
  readonly layers: ReadonlyArray<ImageLayer>
}

/** A platform request `os/arch[/variant]`. */
export interface PlatformSpec {
  readonly os: string
  readonly architecture: string
  readonly variant?: string | undefined
}

/**
 * Parses `os/arch[/variant]`, failing with BadReference.
 *
 * @example
 * yield* parsePlatform("linux/arm64/v8") // { os: "linux", architecture: "arm64", variant: "v8" }
 */
export const parsePlatform = (
  platform: string,
  image = "platform",
): Effect.Effect<PlatformSpec, OciError> => {
  const parts = platform.split("/")
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) {
    return Effect.fail(
      new OciError({
        reason: "BadReference",
        image,
        message: `platform ${JSON.stringify(platform)} is not os/arch[/variant]`,
      }),
    )
  }
  return Effect.succeed({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] })
}

/** `os/arch[/variant]` of a descriptor platform. */
export const formatPlatform = (p: Platform): string =>
  p.variant !== undefined && p.variant !== ""
    ? `${p.os}/${p.architecture}/${p.variant}`
    : `${p.os}/${p.architecture}`

/** `os/arch[/variant]` of an image config, or undefined when it names no os and architecture. */
export const configPlatform = (config: ImageConfig): string | undefined => {
  const c = config as Record<string, unknown>
  return typeof c.os === "string" && typeof c.architecture === "string"
    ? formatPlatform({
        os: c.os,
        architecture: c.architecture,
        ...(typeof c.variant === "string" ? { variant: c.variant } : {}),
      })
    : undefined
}

const platformMatches = (want: PlatformSpec, p: Platform | undefined): boolean =>
  p !== undefined &&
  p.os === want.os &&
  p.architecture === want.architecture &&
  (want.variant === undefined || (p.variant ?? "") === want.variant)

const err = (
  src: LayoutSource,
  reason: OciError["reason"],
  message: string,
  path?: string,
  digest?: string,
) => new OciError({ reason, image: src.name, path, digest, message })

/** Opens an OCI image layout: checks `oci-layout` and decodes `index.json`. */
export const openLayout = (source: LayoutSource): Effect.Effect<OciLayout, OciError> =>
  Effect.gen(function* () {
    const header = yield* readFile(source, "oci-layout")
    const value = yield* parseJson(header, { image: source.name, path: "oci-layout" })
    const version =
      typeof value === "object" && value !== null
        ? (value as Record<string, unknown>).imageLayoutVersion
        : undefined
    if (typeof version !== "string") {
      return yield* err(source, "BadSchema", "oci-layout has no imageLayoutVersion string", "oci-layout")
    }
    if (!version.startsWith("1.")) {
      return yield* err(source, "BadSchema", `unsupported imageLayoutVersion ${version}`, "oci-layout")
    }
    const index = yield* decodeIndex(yield* readFile(source, "index.json"), {
      image: source.name,
      path: "index.json",
    })
    return { source, index }
  })

/** Whether a descriptor's annotations name `ref` (tag, or full containerd image name). */
export const descriptorHasRef = (d: Descriptor, ref: string): boolean => {
  const name = d.annotations?.[REF_NAME]
  const full = d.annotations?.[CONTAINERD_IMAGE_NAME]
  return name === ref || full === ref || name?.endsWith(`:${ref}`) === true
}

const pickPlatform = (
  src: LayoutSource,
  candidates: ReadonlyArray<Descriptor>,
  selector: ImageSelector,
  where: string,
): Effect.Effect<Descriptor, OciError> =>
  Effect.gen(function* () {
    if (candidates.length === 1) return candidates[0]!
    if (candidates.length === 0) return yield* err(src, "NotFound", `${where} lists no image manifest`)
    if (selector.platform === undefined) {
      const list = candidates.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(", ")
      return yield* err(src, "BadReference", `${where} holds several images (${list}); choose a platform`)
    }
    const want = yield* parsePlatform(selector.platform, src.name)
    const hits = candidates.filter((d) => platformMatches(want, d.platform))
    if (hits.length === 0)
      return yield* err(src, "NotFound", `${where} has no image for ${selector.platform}`)
    // a request without variant prefers the descriptor without one
    return hits.find((d) => d.platform?.variant === undefined) ?? hits[0]!
  })

/** Resolves a selector to one image manifest descriptor, walking nested indexes (at most 8 deep). */
export const resolveManifest = (
  layout: OciLayout,
  selector: ImageSelector = {},
): Effect.Effect<Descriptor, OciError, Sha256> =>
  Effect.gen(function* () {
    const src = layout.source
    let manifests = layout.index.manifests
    if (selector.ref !== undefined) {
      const ref = selector.ref
      manifests = manifests.filter((d) => descriptorHasRef(d, ref))
      if (manifests.length === 0) return yield* err(src, "NotFound", `no image tagged ${ref}`, "index.json")
    }
    let where = "index.json"
    for (let depth = 0; depth < 8; depth++) {
      const known = manifests.filter((d) => isIndex(d.mediaType) || isManifest(d.mediaType))
      if (known.length === 0 && manifests.length > 0) {
        const d = manifests[0]!
        return yield* err(
          src,
          "UnknownMediaType",
          `${where} names ${d.mediaType}, not an image`,
          where,
          d.digest,
        )
      }
      const d = yield* pickPlatform(src, known, selector, where)
      if (isManifest(d.mediaType)) return d
      const bytes = yield* readBlob(src, d)
      where = blobPath(d.digest)
      const nested = yield* decodeIndex(bytes, { image: src.name, path: where, digest: d.digest })
      manifests = nested.manifests
    }
    return yield* err(src, "BadSchema", "indexes nested more than 8 deep", where)
  })

/** Builds the Image of a manifest descriptor: reads manifest and config, checks that each layer blob is there. */
export const imageOf = (
  layout: OciLayout,
  manifestDescriptor: Descriptor,
): Effect.Effect<Image, OciError, Sha256> =>
  Effect.gen(function* () {
    const src = layout.source
    const manifestPath = blobPath(manifestDescriptor.digest)
    const manifest = yield* decodeManifest(yield* readBlob(src, manifestDescriptor), {
      image: src.name,
      path: manifestPath,
      digest: manifestDescriptor.digest,
    })
    const configBytes = yield* readBlob(src, manifest.config)
    const config = yield* decodeConfig(configBytes, {
      image: src.name,
      path: blobPath(manifest.config.digest),
      digest: manifest.config.digest,
    })
    const diffIds = config.rootfs.diff_ids
    if (diffIds.length !== manifest.layers.length) {
      return yield* err(
        src,
        "BadSchema",
        `the config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`,
        blobPath(manifest.config.digest),
        manifest.config.digest,
      )
    }
    const layers: Array<ImageLayer> = []
    for (let i = 0; i < manifest.layers.length; i++) {
      const d = manifest.layers[i]!
      const compression = layerCompression(d.mediaType)
      if (compression === undefined || !isLayer(d.mediaType)) {
        return yield* err(
          src,
          "UnknownMediaType",
          `layer ${i} has media type ${d.mediaType}`,
          manifestPath,
          d.digest,
        )
      }
      const path = blobPath(d.digest)
      const size = yield* fileSize(src, path, d.digest)
      if (size !== d.size) {
        return yield* err(
          src,
          "SizeMismatch",
          `${path} has ${size} bytes, its descriptor says ${d.size}`,
          path,
          d.digest,
        )
      }
      layers.push({ descriptor: d, path, compression, diffId: diffIds[i] })
    }
    return {
      source: src,
      format: "oci",
      manifestDescriptor,
      manifest,
      configDescriptor: manifest.config,
      configBytes,
      config,
      layers,
    } satisfies Image
  })

/**
 * Opens one image of an OCI image layout: the tagged one, or the only one; platform chosen in indexes.
 * Manifest and config are verified; layers are only checked for presence and size (see `verifyBlob`).
 *
 * @example
 * const image = yield* openLayoutImage(dirSource("oci"), { ref: "latest" })
 */
export const openLayoutImage = (
  source: LayoutSource,
  selector: ImageSelector = {},
): Effect.Effect<Image, OciError, Sha256> =>
  Effect.gen(function* () {
    const layout = yield* openLayout(source)
    return yield* imageOf(layout, yield* resolveManifest(layout, selector))
  })
