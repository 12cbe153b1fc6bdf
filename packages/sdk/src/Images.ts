import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Scope from "effect/Scope"
import type { Sha256 } from "@lazypull/codec"
import {
  type CheckReport,
  type ConvertOptions,
  type ConvertResult,
  checkImage as checkOne,
  convertImages,
  type DiffOptions,
  diffImages,
  type ExtractOptions,
  extractImage,
  type ImageDiff,
  imageToc,
  listImage,
  readImageFile,
  type ViewOptions,
  externalTocsOf,
  ImageError,
  type Selection,
  type SelectOptions,
  selectImages,
} from "@lazypull/image"
import {
  configPlatform,
  directorySource,
  type Image,
  type LayoutSource,
  type OciError,
  openLayout,
  tarSource,
} from "@lazypull/oci"
import {
  fileRangeReader,
  type ImageOutput,
  openOciArchiveOutput,
  openOciLayoutOutput,
  type StorageError,
} from "@lazypull/storage"
import { formatImageRef, type ImageRef, parseImageRef } from "./ImageRef.ts"
import type { Services } from "./Runtime.ts"

/** An image source opened from a reference. */
export interface OpenedSource {
  readonly ref: ImageRef
  readonly source: LayoutSource
  /** The tag the reference names, if any. */
  readonly tag: string | undefined
}

const fromOci = (ref: string) => (e: OciError) =>
  new ImageError({
    reason: e.reason === "NotFound" ? "NotFound" : e.reason === "Truncated" ? "BadImage" : "BadImage",
    image: ref,
    path: e.path,
    digest: e.digest,
    message: e.message,
  })

const fromStorage = (ref: string) => (e: StorageError) =>
  new ImageError({
    reason: e.reason === "NotFound" ? "NotFound" : "Io",
    image: ref,
    path: e.path,
    digest: e.digest,
    message: e.message,
  })

const noRegistry = (ref: string) =>
  Effect.fail(
    new ImageError({
      reason: "BadOption",
      image: ref,
      message:
        "registry images are not supported yet; use oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE (e.g. skopeo copy docker://… oci:DIR:TAG)",
    }),
  )

/** The same source, named as the user named it (errors then say `oci:dir:tag`, not just `dir`). */
const named = (source: LayoutSource, name: string): LayoutSource => {
  const readInto = source.readInto
  return {
    name,
    list: () => source.list(),
    stat: (path) => source.stat(path),
    readAt: (path, offset, length) => source.readAt(path, offset, length),
    ...(readInto
      ? {
          readInto: (path: string, offset: number, target: Uint8Array) =>
            readInto.call(source, path, offset, target),
        }
      : {}),
  }
}

/**
 * Opens the source an image reference names: an OCI layout directory, or an OCI/docker archive read in place.
 *
 * @example
 * const { source, tag } = yield* openSource("oci-archive:image.tar:latest")
 */
export const openSource = (
  reference: string,
): Effect.Effect<OpenedSource, ImageError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function* () {
    const ref = yield* parseImageRef(reference)
    switch (ref.transport) {
      case "docker":
        return yield* noRegistry(reference)
      case "oci": {
        const source = yield* directorySource(ref.path).pipe(Effect.mapError(fromOci(reference)))
        return { ref, source: named(source, reference), tag: ref.tag }
      }
      case "oci-archive":
      case "docker-archive": {
        const reader = yield* fileRangeReader(ref.path).pipe(Effect.mapError(fromStorage(reference)))
        const source = yield* tarSource(reader).pipe(Effect.mapError(fromOci(reference)))
        return { ref, source: named(source, reference), tag: ref.tag }
      }
    }
  })

/** Opens the destination of a conversion: `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`. */
export const openOutput = (
  reference: string,
): Effect.Effect<
  { readonly output: ImageOutput; readonly tag: string | undefined },
  ImageError,
  FileSystem.FileSystem | Sha256 | Scope.Scope
> =>
  Effect.gen(function* () {
    const ref = yield* parseImageRef(reference)
    switch (ref.transport) {
      case "oci":
        return {
          output: yield* openOciLayoutOutput(ref.path).pipe(Effect.mapError(fromStorage(reference))),
          tag: ref.tag,
        }
      case "oci-archive":
        return {
          output: yield* openOciArchiveOutput(ref.path).pipe(Effect.mapError(fromStorage(reference))),
          tag: ref.tag,
        }
      case "docker":
        return yield* noRegistry(reference)
      default:
        return yield* Effect.fail(
          new ImageError({
            reason: "BadOption",
            image: reference,
            message: `lazypull writes oci:DIR[:TAG] and oci-archive:FILE[:TAG], not ${ref.transport}:`,
          }),
        )
    }
  })

/** The platform of this machine as OCI names it (`linux/amd64`, `linux/arm64`, …). */
export const hostPlatform = (): string => {
  const arch: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm/v7",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
    loong64: "loong64",
  }
  return `linux/${arch[process.arch] ?? process.arch}`
}

/** Options of {@link convert}: the image package's options; the tag comes from the destination. */
export type ConvertImageOptions = Omit<ConvertOptions, "tag" | "ref">

/**
 * Converts the image `src` names into `dst` (eStargz by default), written atomically.
 *
 * @example
 * yield* convert("oci:image:latest", "oci-archive:out.tar:latest-esgz", { oci: true })
 */
export const convert = (
  src: string,
  dst: string,
  options: ConvertImageOptions = {},
): Effect.Effect<ConvertResult, ImageError, Services> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { source, tag: srcTag } = yield* openSource(src)
      const { output, tag } = yield* openOutput(dst)
      return yield* convertImages(source, output, {
        defaultPlatform: hostPlatform(),
        ...options,
        ref: srcTag,
        tag,
      })
    }),
  )

/** Options of {@link check}. */
export interface CheckImageOptions extends Omit<SelectOptions, "ref"> {
  /** Layers checked at once (default 1). */
  readonly concurrency?: number
}

/** The check of every selected image (one per platform). */
export interface ImageCheck {
  readonly ok: boolean
  readonly images: ReadonlyArray<CheckReport & { readonly platform: string | undefined }>
}

/**
 * Checks that the image is lazy-pullable, every layer of every selected platform (see `checkImage` of
 * @lazypull/image); external TOCs come from the `<tag>-esgztoc` image of the same layout.
 *
 * @example
 * const { ok, images } = yield* check("oci:out:latest-esgz")
 */
export const check = (
  reference: string,
  options: CheckImageOptions = {},
): Effect.Effect<ImageCheck, ImageError, Services> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { source, tag } = yield* openSource(reference)
      const selection = yield* select(source, tag, options)
      const tocs =
        selection.top !== undefined || selection.index !== undefined
          ? yield* Effect.flatMap(openLayout(source).pipe(Effect.mapError(fromOci(reference))), (layout) =>
              externalTocsOf(layout, tag),
            )
          : new Map<string, Uint8Array>()
      const images = yield* Effect.forEach(selection.images, (image) =>
        Effect.map(
          checkOne(image, {
            externalTocs: tocs,
            ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
          }),
          (r) => ({
            ...r,
            image: formatRef(reference),
            platform: configPlatform(image.config),
          }),
        ),
      )
      return { ok: images.every((i) => i.ok), images }
    }),
  )

const formatRef = (reference: string) => reference

/** Selects images of an opened source with the host platform as the default. */
export const select = (
  source: LayoutSource,
  tag: string | undefined,
  options: Omit<SelectOptions, "ref"> = {},
): Effect.Effect<Selection, ImageError, Sha256> =>
  selectImages(source, { defaultPlatform: hostPlatform(), ...options, ref: tag })

export { formatImageRef }

/** Options of the commands that read one image (`diff`, `ls`, `cat`, `toc`, `extract`). */
export interface OneImageOptions {
  /** `os/arch[/variant]` of a multi-platform image (default: this machine's). */
  readonly platform?: string | undefined
}

/**
 * Runs `f` on the one image a reference names (the host's platform, or `platform`, of an index), with the
 * external TOCs of its `-esgztoc` image; sources are closed when `f` ends.
 *
 * @example
 * yield* withImage("oci:out:latest", {}, (image, view) => readImageFile(image, "etc/os-release", view))
 */
export const withImage = <A, E, R>(
  reference: string,
  options: OneImageOptions,
  f: (image: Image, view: ViewOptions) => Effect.Effect<A, E, R>,
): Effect.Effect<A, E | ImageError, R | Services> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { source, tag } = yield* openSource(reference)
      const selection = yield* select(
        source,
        tag,
        options.platform !== undefined ? { platform: options.platform } : {},
      )
      const externalTocs =
        selection.top !== undefined || selection.index !== undefined
          ? yield* Effect.flatMap(openLayout(source).pipe(Effect.mapError(fromOci(reference))), (layout) =>
              externalTocsOf(layout, tag),
            )
          : new Map<string, Uint8Array>()
      return yield* f(selection.images[0]!, { externalTocs })
    }),
  )

/**
 * Compares the merged file trees of two images (whiteouts applied): what is missing, added or changed.
 *
 * @example
 * const d = yield* diff("oci:image:latest", "oci:image:latest-esgz") // d.same
 */
export const diff = (
  a: string,
  b: string,
  options: OneImageOptions & DiffOptions = {},
): Effect.Effect<ImageDiff, ImageError, Services> =>
  withImage(a, options, (ia) => withImage(b, options, (ib) => diffImages(ia, ib, options)))

/** The merged listing of an image (or of one directory), from TOCs where the layers are lazy. */
export const ls = (reference: string, path?: string, options: OneImageOptions = {}) =>
  withImage(reference, options, (image, view) => listImage(image, path, view))

/** One file of an image, fetched lazily (only its chunks, verified). */
export const cat = (reference: string, path: string, options: OneImageOptions = {}) =>
  withImage(reference, options, (image, view) => readImageFile(image, path, view))

/** The TOC of one layer of an image. */
export const toc = (reference: string, layer: number, options: OneImageOptions = {}) =>
  withImage(reference, options, (image, view) => imageToc(image, layer, view))

/** Extracts paths of an image into a directory (refusing anything that would escape it). */
export const extract = (
  reference: string,
  paths: ReadonlyArray<string>,
  targetDir: string,
  options: OneImageOptions & Omit<ExtractOptions, keyof ViewOptions> = {},
) =>
  withImage(reference, options, (image, view) =>
    extractImage(image, paths, targetDir, { ...options, ...view }),
  )
