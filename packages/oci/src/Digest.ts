import { Sha256 } from "@lazypull/codec"
import { Effect } from "effect"
import { OciError } from "./OciError.ts"

/** A parsed digest `algorithm:encoded`. */
export interface ParsedDigest {
  readonly algorithm: string
  readonly encoded: string
}

const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/
const ENCODED = /^[a-zA-Z0-9=_-]+$/
const SHA256 = /^[a-f0-9]{64}$/
const SHA512 = /^[a-f0-9]{128}$/

/** Why `digest` breaks the OCI digest grammar, or undefined when it is valid. */
export const digestProblem = (digest: string): string | undefined => {
  const i = digest.indexOf(":")
  if (i < 0) return `digest ${JSON.stringify(digest)} has no ":"`
  const algorithm = digest.slice(0, i)
  const encoded = digest.slice(i + 1)
  if (!ALGORITHM.test(algorithm)) return `digest algorithm ${JSON.stringify(algorithm)} is malformed`
  if (!ENCODED.test(encoded)) return `digest encoding ${JSON.stringify(encoded)} is malformed`
  if (algorithm === "sha256" && !SHA256.test(encoded))
    return "a sha256 digest must be 64 lowercase hex digits"
  if (algorithm === "sha512" && !SHA512.test(encoded))
    return "a sha512 digest must be 128 lowercase hex digits"
  return undefined
}

/** Whether `digest` follows the OCI digest grammar (sha256/sha512 encodings checked strictly). */
export const isDigest = (digest: string): boolean => digestProblem(digest) === undefined

/**
 * Parses `algorithm:encoded`, failing with BadReference.
 *
 * @example
 * const { algorithm, encoded } = yield* parseDigest("sha256:44136f...")
 */
export const parseDigest = (digest: string, image = "digest"): Effect.Effect<ParsedDigest, OciError> => {
  const problem = digestProblem(digest)
  if (problem !== undefined) {
    return Effect.fail(new OciError({ reason: "BadReference", image, digest, message: problem }))
  }
  const i = digest.indexOf(":")
  return Effect.succeed({ algorithm: digest.slice(0, i), encoded: digest.slice(i + 1) })
}

/** Path of a blob inside an image layout: `blobs/<alg>/<encoded>` (the digest must be valid). */
export const blobPath = (digest: string): string => {
  const i = digest.indexOf(":")
  return `blobs/${digest.slice(0, i)}/${digest.slice(i + 1)}`
}

/** `sha256:<hex>` of `bytes`, using the Sha256 service. */
export const sha256Digest = (bytes: Uint8Array): Effect.Effect<string, never, Sha256> =>
  Effect.gen(function* () {
    const h = (yield* Sha256).make()
    h.update(bytes)
    return `sha256:${h.hex()}`
  })
