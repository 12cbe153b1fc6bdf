import * as Effect from "effect/Effect"
import type { Sha256 } from "@lazypull/codec"
import {
  blobPath,
  type Descriptor,
  decodeIndex,
  descriptorHasRef,
  formatPlatform,
  type Image,
  type Index,
  type ImageSelector,
  imageOf,
  isIndex,
  isManifest,
  type LayoutSource,
  type OciError,
  openDockerImage,
  openLayout,
  parsePlatform,
  readBlob,
} from "@lazypull/oci"
import { ImageError } from "./ImageError.ts"

/** Which images of a source to use: a ref, and platforms when the ref names an index. */
export interface SelectOptions {
  /** Tag or full name in the layout's index.json (or a docker archive's RepoTags); optional when there is one image. */
  readonly ref?: string | undefined
  /** `os/arch[/variant]`: the platform to use from an index. */
  readonly platform?: string | undefined
  /** Every platform of an index (attestation manifests, `unknown/unknown`, excepted). */
  readonly allPlatforms?: boolean | undefined
  /** The platform used when an index has several and none is asked for (the CLI passes the host's). */
  readonly defaultPlatform?: string | undefined
}

/** The images selected from a source, and the shape they came in. */
export interface Selection {
  /** The layout (undefined for docker archives). */
  readonly source: LayoutSource
  /** The top-level descriptor in index.json (undefined for docker archives). */
  readonly top: Descriptor | undefined
  /** The index the images were chosen from, when the top-level descriptor is an index. */
  readonly index: Index | undefined
  /** The selected images, in index order. */
  readonly images: ReadonlyArray<Image>
}

const fromOci = (e: OciError) =>
  new ImageError({
    reason: e.reason === "NotFound" ? "NotFound" : "BadImage",
    image: e.image,
    path: e.path,
    digest: e.digest,
    message: e.message,
  })

const isAttestation = (d: Descriptor) =>
  (d.platform?.os === "unknown" && d.platform.architecture === "unknown") ||
  d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest"

/**
 * Selects the images of an OCI layout or docker archive source: the descriptor named by `ref` (or the only
 * one), and when it is an index, its manifests for the asked platform(s), like nerdctl's
 * `--platform` / `--all-platforms` (default: `defaultPlatform`, else the only manifest).
 *
 * @example
 * const { images } = yield* selectImages(source, { ref: "latest", allPlatforms: true })
 */
export const selectImages = (
  source: LayoutSource,
  options: SelectOptions = {},
): Effect.Effect<Selection, ImageError, Sha256> =>
  Effect.gen(function* () {
    const fail = (reason: ImageError["reason"], message: string, path?: string) =>
      new ImageError({ reason, image: source.name, path, message })
    if (options.platform !== undefined && options.allPlatforms)
      return yield* fail("BadOption", "--platform and --all-platforms exclude each other")
    if ((yield* source.stat("oci-layout").pipe(Effect.mapError(fromOci))) === undefined) {
      // a docker archive: one image per manifest.json entry, no platforms
      const selector: ImageSelector = options.ref !== undefined ? { ref: options.ref } : {}
      const image = yield* openDockerImage(source, selector).pipe(Effect.mapError(fromOci))
      return { source, top: undefined, index: undefined, images: [image] }
    }
    const layout = yield* openLayout(source).pipe(Effect.mapError(fromOci))
    const ref = options.ref
    const named =
      ref === undefined
        ? layout.index.manifests.filter((d) => isIndex(d.mediaType) || isManifest(d.mediaType))
        : layout.index.manifests.filter((d) => descriptorHasRef(d, ref))
    // several index.json entries may name the same content (a tag and a full name)
    const distinct = [...new Map(named.map((d) => [d.digest, d])).values()]
    if (distinct.length === 0)
      return yield* fail(
        "NotFound",
        ref === undefined ? "index.json lists no image" : `no image tagged ${ref}`,
        "index.json",
      )
    let top: Descriptor
    if (distinct.length === 1) top = distinct[0]!
    else if (
      ref === undefined &&
      distinct.every((d) => isManifest(d.mediaType) && d.platform !== undefined)
    ) {
      // index.json itself lists per-platform manifests
      const images = yield* pickFromIndex(layout.index, options, source, "index.json")
      return {
        source,
        top: undefined,
        index: layout.index,
        images: yield* Effect.forEach(images, (d) => imageOf(layout, d).pipe(Effect.mapError(fromOci))),
      }
    } else
      return yield* fail(
        "BadOption",
        `index.json holds several images (${distinct.map((d) => d.annotations?.["org.opencontainers.image.ref.name"] ?? d.digest).join(", ")}); name one`,
        "index.json",
      )
    if (isManifest(top.mediaType)) {
      const image = yield* imageOf(layout, top).pipe(Effect.mapError(fromOci))
      return { source, top, index: undefined, images: [image] }
    }
    if (!isIndex(top.mediaType))
      return yield* fail("BadImage", `index.json names ${top.mediaType}, not an image`, "index.json")
    const path = blobPath(top.digest)
    const index = yield* readBlob(source, top).pipe(
      Effect.flatMap((bytes) => decodeIndex(bytes, { image: source.name, path, digest: top.digest })),
      Effect.mapError(fromOci),
    )
    const chosen = yield* pickFromIndex(index, options, source, path)
    const images = yield* Effect.forEach(chosen, (d) => imageOf(layout, d).pipe(Effect.mapError(fromOci)))
    return { source, top, index, images }
  })

const pickFromIndex = (
  index: Index,
  options: SelectOptions,
  source: LayoutSource,
  where: string,
): Effect.Effect<ReadonlyArray<Descriptor>, ImageError> =>
  Effect.gen(function* () {
    const fail = (reason: ImageError["reason"], message: string) =>
      new ImageError({ reason, image: source.name, path: where, message })
    const manifests = index.manifests.filter((d) => isManifest(d.mediaType) && !isAttestation(d))
    if (manifests.length === 0) return yield* fail("NotFound", `${where} lists no image manifest`)
    if (options.allPlatforms) return manifests
    const wanted = options.platform ?? (manifests.length === 1 ? undefined : options.defaultPlatform)
    if (wanted === undefined) {
      if (manifests.length === 1) return manifests
      const list = manifests.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(", ")
      return yield* fail(
        "BadOption",
        `${where} holds several platforms (${list}); choose --platform or --all-platforms`,
      )
    }
    const want = yield* parsePlatform(wanted, source.name).pipe(Effect.mapError(fromOci))
    const hits = manifests.filter(
      (d) =>
        d.platform !== undefined &&
        d.platform.os === want.os &&
        d.platform.architecture === want.architecture &&
        (want.variant === undefined || (d.platform.variant ?? "") === want.variant),
    )
    if (hits.length === 0) {
      const list = manifests.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(", ")
      return yield* fail("NotFound", `${where} has no image for ${wanted} (it has ${list})`)
    }
    // without a variant, prefer the descriptor without one
    return [hits.find((d) => d.platform?.variant === undefined) ?? hits[0]!]
  })
