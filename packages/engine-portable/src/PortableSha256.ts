import { Sha256 } from "@lazypull/codec"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import * as Layer from "effect/Layer"

/**
 * sha256 on @noble/hashes (pure JavaScript: Node, Deno, browsers).
 *
 * @example
 * const h = PortableSha256.make().make(); h.update(bytes); h.hex()
 */
export const make = (): Sha256["Service"] =>
  Sha256.of({
    name: "@noble/hashes",
    make: () => {
      const h = sha256.create()
      return {
        update: (data) => {
          h.update(data)
        },
        hex: () => bytesToHex(h.digest()),
      }
    },
  })

/** `Sha256` on @noble/hashes. */
export const layer: Layer.Layer<Sha256> = Layer.succeed(Sha256, make())
