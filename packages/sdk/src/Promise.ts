import type { ConvertResult } from "@lazypull/image"
import {
  type CheckImageOptions,
  type ConvertImageOptions,
  check,
  convert,
  type ImageCheck,
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
