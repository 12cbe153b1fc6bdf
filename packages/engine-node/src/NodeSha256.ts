import { createHash } from "node:crypto"
import { Sha256 } from "@lazypull/codec"
import * as Layer from "effect/Layer"

/**
 * sha256 on node:crypto (OpenSSL).
 *
 * @example
 * const h = NodeSha256.make().make(); h.update(bytes); h.hex()
 */
export const make = (): Sha256["Service"] =>
  Sha256.of({
    name: "node:crypto",
    make: () => {
      const h = createHash("sha256")
      return {
        update: (data) => {
          h.update(data)
        },
        hex: () => h.digest("hex"),
      }
    },
  })

/** `Sha256` on node:crypto. */
export const layer: Layer.Layer<Sha256> = Layer.succeed(Sha256, make())
