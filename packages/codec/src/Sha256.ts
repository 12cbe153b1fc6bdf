import * as Context from "effect/Context"

/** An incremental sha256. */
export interface Sha256Hasher {
  update(data: Uint8Array): void
  /** Lowercase hex of the digest; the hasher must not be used afterwards. */
  hex(): string
}

/**
 * sha256 as a service, so that the portable packages can hash without node:crypto.
 *
 * @example
 * const h = (yield* Sha256).make(); h.update(bytes); const d = "sha256:" + h.hex()
 */
export class Sha256 extends Context.Service<
  Sha256,
  {
    readonly name: string
    make(): Sha256Hasher
  }
>()("@lazypull/codec/Sha256") {}

/** `sha256:<hex>` of one buffer. */
export const digestOf = (sha: Sha256["Service"], data: Uint8Array): string => {
  const h = sha.make()
  h.update(data)
  return `sha256:${h.hex()}`
}
