import { concatBytes, Sha256 } from "@lazypull/codec"
import { fromBytes } from "@lazypull/range"
import * as Effect from "effect/Effect"
import { type BlobInfo, type BlobStore, type BlobWriter, checkExpected, sha256Hex } from "./BlobStore.ts"
import { StorageError } from "./StorageError.ts"

/**
 * A BlobStore in memory (tests, small images, staging before a registry push). Blobs are copied in;
 * readers serve views of the stored bytes, which callers must not modify.
 *
 * @example
 * const store = yield* makeMemoryStore("staging"); const { digest } = yield* store.put(bytes)
 */
export const makeMemoryStore = (name = "default"): Effect.Effect<BlobStore, never, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const storeName = `memory:${name}`
    const blobs = new Map<string, Uint8Array>()
    const notFound = (digest: string) =>
      new StorageError({ reason: "NotFound", store: storeName, digest, message: `${digest} is not stored` })
    const lookup = (digest: string): Effect.Effect<Uint8Array, StorageError> =>
      Effect.flatMap(sha256Hex(storeName, digest), (hex) => {
        const b = blobs.get(hex)
        return b === undefined ? Effect.fail(notFound(digest)) : Effect.succeed(b)
      })

    const makeWriter = (): BlobWriter => {
      const h = sha.make()
      const chunks: Array<Uint8Array> = []
      let size = 0
      let state: "open" | "committed" | "aborted" = "open"
      const closed = () =>
        new StorageError({ reason: "Closed", store: storeName, message: `the writer was already ${state}` })
      return {
        get bytesWritten() {
          return size
        },
        write: (chunk) =>
          Effect.suspend(() => {
            if (state !== "open") return Effect.fail(closed())
            const copy = chunk.slice()
            h.update(copy)
            chunks.push(copy)
            size += copy.length
            return Effect.void
          }),
        commit: (expected) =>
          Effect.suspend(() => {
            if (state !== "open") return Effect.fail(closed())
            const hex = h.hex()
            const info: BlobInfo = { digest: `sha256:${hex}`, size }
            return checkExpected(storeName, info, expected).pipe(
              Effect.tapError(() =>
                Effect.sync(() => {
                  state = "aborted"
                  chunks.length = 0
                }),
              ),
              Effect.map(() => {
                state = "committed"
                if (!blobs.has(hex)) blobs.set(hex, concatBytes(chunks, size))
                chunks.length = 0
                return info
              }),
            )
          }),
        abort: () =>
          Effect.sync(() => {
            if (state === "open") state = "aborted"
            chunks.length = 0
          }),
      }
    }

    const store: BlobStore = {
      name: storeName,
      stat: (digest) => Effect.map(sha256Hex(storeName, digest), (hex) => blobs.get(hex)?.length),
      reader: (digest) => Effect.map(lookup(digest), (b) => fromBytes(b, `${storeName}/${digest}`)),
      get: (digest) =>
        Effect.flatMap(lookup(digest), (b) => {
          const h = sha.make()
          h.update(b)
          const actual = `sha256:${h.hex()}`
          return actual === digest
            ? Effect.succeed(b.slice())
            : Effect.fail(
                new StorageError({
                  reason: "DigestMismatch",
                  store: storeName,
                  digest,
                  message: `the stored bytes hash to ${actual}`,
                }),
              )
        }),
      put: (bytes) =>
        Effect.suspend(() => {
          const w = makeWriter()
          return Effect.flatMap(w.write(bytes), () => w.commit())
        }),
      writer: () =>
        Effect.acquireRelease(
          Effect.sync(() => makeWriter()),
          (w) => w.abort(),
        ),
      list: () => Effect.sync(() => [...blobs.keys()].sort().map((hex) => `sha256:${hex}`)),
    }
    return store
  })
