// Chunk boundaries of containers/storage's own writer, for tests of the chunker and the builder.
import { randomBytes } from "@lazypull/codec/testing"

/** A chunk: offset in the file, length, and whether it is a zero-run ("zeros") chunk. */
export type Cut = [offset: number, size: number, zeros: boolean]

const cat = (...parts: Array<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const zeros = (n: number) => new Uint8Array(n)

// Chunk lists printed by containers/storage's own chunker (rollingChecksumReader over holesFinder, as
// writeZstdChunkedStream drives it, c/storage 83cf57466) for inputs made with codec/testing's randomBytes.
export const GO_VECTORS: ReadonlyArray<[name: string, input: () => Uint8Array, chunks: Array<Cut>]> = [
  [
    "1 MiB of random bytes (seed 42)",
    () => randomBytes(1 << 20, 42),
    [
      [0, 8508, false],
      [8508, 31572, false],
      [40080, 98665, false],
      [138745, 3979, false],
      [142724, 74273, false],
      [216997, 5358, false],
      [222355, 31897, false],
      [254252, 94884, false],
      [349136, 83734, false],
      [432870, 109658, false],
      [542528, 87550, false],
      [630078, 10326, false],
      [640404, 38510, false],
      [678914, 17185, false],
      [696099, 22817, false],
      [718916, 10304, false],
      [729220, 27815, false],
      [757035, 221464, false],
      [978499, 31342, false],
      [1009841, 38735, false],
    ],
  ],
  [
    "a 100000-byte hole between random data",
    () => cat(randomBytes(5000, 1), zeros(100000), randomBytes(5000, 2)),
    [
      [0, 5000, false],
      [5000, 100000, true],
      [105000, 5000, false],
    ],
  ],
  [
    "1023 zeros are data, 1024 and 1025 are holes",
    () => cat(zeros(1023), randomBytes(3000, 3), zeros(1024), randomBytes(3000, 4), zeros(1025)),
    [
      [0, 4023, false],
      [4023, 1024, true],
      [5047, 3000, false],
      [8047, 1025, true],
    ],
  ],
  ["200000 times 'a': the sum never splits", () => new Uint8Array(200000).fill(0x61), [[0, 200000, false]]],
]
