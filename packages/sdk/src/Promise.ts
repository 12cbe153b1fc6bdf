import * as Effect from "effect/Effect"
import type {
  ConvertResult,
  DiffOptions,
  ExtractReport,
  ImageDiff,
  LayerToc,
  TreeEntry,
} from "@lazypull/image"
import {
  type CheckImageOptions,
  type ConvertImageOptions,
  cat,
  check,
  convert,
  diff,
  extract,
  type ImageCheck,
  ls,
  type OneImageOptions,
  toc,
} from "./Images.ts"
import { runPromise } from "./Runtime.ts"

/**
 * Converts an image to eStargz (default) or zstd:chunked; rejects with an `ImageError` (nothing is left at `dst`).
 *
 * @example
 * import { convertImage } from "@lazypull/sdk"
 * const r = await convertImage("oci:./image:latest", "oci:./out:latest-esgz", { oci: true })
 * console.log(r.descriptor.digest)
 */
export const convertImage = (
  src: string,
  dst: string,
  options: ConvertImageOptions = {},
): Promise<ConvertResult> => runPromise(convert(src, dst, options))

/**
 * Checks that every layer of an image is lazy-pullable; resolves with the verdicts (`ok` false when one is not).
 *
 * @example
 * const { ok, images } = await checkImage("oci:./out:latest-esgz")
 */
export const checkImage = (reference: string, options: CheckImageOptions = {}): Promise<ImageCheck> =>
  runPromise(check(reference, options))

/**
 * Compares the merged file trees of two images; `same` is false when a path is missing, added or changed.
 *
 * @example
 * const d = await diffImages("oci:./image:latest", "oci:./out:latest-esgz") // d.same, d.missing, d.changed
 */
export const diffImages = (
  a: string,
  b: string,
  options: OneImageOptions & DiffOptions = {},
): Promise<ImageDiff> => runPromise(diff(a, b, options))

/** A lazily read image: each call fetches only the TOCs and chunks it needs. */
export interface LazyImage {
  /** One file's bytes (chunks verified), following symlinks inside the image. */
  readFile(path: string): Promise<Uint8Array>
  /** The merged listing of the image or of one directory. */
  list(path?: string): Promise<ReadonlyArray<TreeEntry>>
  /** The TOC JSON of one layer. */
  toc(layer: number): Promise<LayerToc>
  /** Extracts paths into a directory, refusing anything that would escape it. */
  extract(paths: ReadonlyArray<string>, targetDir: string): Promise<ExtractReport>
}

/**
 * Names an image to read lazily; nothing is fetched until a method is called.
 *
 * @example
 * const bytes = await openImage("oci:./out:latest-esgz").readFile("etc/os-release")
 */
export const openImage = (reference: string, options: OneImageOptions = {}): LazyImage => ({
  readFile: (path) => runPromise(Effect.map(cat(reference, path, options), (r) => r.bytes)),
  list: (path) => runPromise(Effect.map(ls(reference, path, options), (r) => r.entries)),
  toc: (layer) => runPromise(toc(reference, layer, options)),
  extract: (paths, targetDir) => runPromise(extract(reference, paths, targetDir, options)),
})
