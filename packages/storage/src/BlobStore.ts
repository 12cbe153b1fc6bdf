import type { RangeReader } from "@lazypull/range"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { StorageError } from "./StorageError.ts"

/** A stored blob: its `sha256:<hex>` digest and size in bytes. */
export interface BlobInfo {
  readonly digest: string
  readonly size: number
}

/** What a writer's commit checks the written bytes against. */
export interface BlobExpectation {
  readonly digest?: string | undefined
  readonly size?: number | undefined
}

/** A blob being written: bytes are hashed as they arrive and become visible only on commit. */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly bytesWritten: number
  /** Appends a chunk (the writer copies or writes it out before returning; the caller may reuse it). */
  write(chunk: Uint8Array): Effect.Effect<void, StorageError>
  /** Hashes what was written (sha256 while writing, never re-reading), checks `expected` if given, makes the blob visible under its digest (idempotent if it already exists). */
  commit(expected?: BlobExpectation): Effect.Effect<BlobInfo, StorageError>
  /** Drops what was written; a no-op after commit or abort. */
  abort(): Effect.Effect<void>
}

/**
 * Content-addressed blobs (sha256 only), the storage contract every backend implements.
 *
 * @example
 * const { digest } = yield* store.put(bytes); const back = yield* store.get(digest)
 */
export interface BlobStore {
  /** Name of the store for errors (a directory, or `memory:<name>`). */
  readonly name: string
  /** Size of a blob, or undefined when it is not stored. */
  stat(digest: string): Effect.Effect<number | undefined, StorageError>
  /** Random access to a stored blob (NotFound when missing); file handles are released with the scope. */
  reader(digest: string): Effect.Effect<RangeReader, StorageError, Scope.Scope>
  /** A whole (small) blob, digest-verified. */
  get(digest: string): Effect.Effect<Uint8Array, StorageError>
  /** Stores bytes (a copy) under their digest; idempotent. */
  put(bytes: Uint8Array): Effect.Effect<BlobInfo, StorageError>
  /** A streaming writer; closing the scope without commit aborts (nothing stays behind). */
  writer(): Effect.Effect<BlobWriter, StorageError, Scope.Scope>
  /** The digests of every stored blob, sorted. */
  list(): Effect.Effect<ReadonlyArray<string>, StorageError>
}

/** Bytes per read when blobs are streamed (copies, archive writing). */
export const COPY_CHUNK = 1 << 20

const SHA256 = /^sha256:([a-f0-9]{64})$/

/**
 * The hex part of a `sha256:<64 lowercase hex>` digest, failing with BadDigest for anything else
 * (other algorithms too: stores hash with sha256 only).
 *
 * @example
 * const hex = yield* sha256Hex("memory", "sha256:e3b0c4...")
 */
export const sha256Hex = (store: string, digest: string): Effect.Effect<string, StorageError> => {
  const m = SHA256.exec(digest)
  return m !== null
    ? Effect.succeed(m[1]!)
    : Effect.fail(
        new StorageError({
          reason: "BadDigest",
          store,
          digest,
          message: `${JSON.stringify(digest)} is not a sha256 digest (sha256: and 64 lowercase hex digits)`,
        }),
      )
}

/** Checks a written blob against what its writer's commit was told to expect (size first, then digest). */
export const checkExpected = (
  store: string,
  info: BlobInfo,
  expected: BlobExpectation | undefined,
): Effect.Effect<void, StorageError> =>
  Effect.gen(function* () {
    if (expected === undefined) return
    if (expected.digest !== undefined) yield* sha256Hex(store, expected.digest)
    if (expected.size !== undefined && expected.size !== info.size) {
      return yield* new StorageError({
        reason: "SizeMismatch",
        store,
        digest: expected.digest ?? info.digest,
        message: `wrote ${info.size} bytes, expected ${expected.size}`,
      })
    }
    if (expected.digest !== undefined && expected.digest !== info.digest) {
      return yield* new StorageError({
        reason: "DigestMismatch",
        store,
        digest: expected.digest,
        message: `the written bytes hash to ${info.digest}`,
      })
    }
  })

/**
 * Streams a RangeReader into a store in COPY_CHUNK pieces and commits it, checking `expected`
 * (a layer of a source image, say); the reader's errors become StorageError `Io`.
 *
 * @example
 * const info = yield* copyFromReader(output.store, reader, { digest: layer.digest, size: layer.size })
 */
export const copyFromReader = (
  store: BlobStore,
  reader: RangeReader,
  expected?: BlobExpectation,
): Effect.Effect<BlobInfo, StorageError> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (expected?.digest !== undefined) {
        const have = yield* store.stat(expected.digest)
        if (have !== undefined && have === reader.size && (expected.size ?? have) === have) {
          return { digest: expected.digest, size: have }
        }
      }
      const w = yield* store.writer()
      for (let off = 0; off < reader.size; off += COPY_CHUNK) {
        const n = Math.min(COPY_CHUNK, reader.size - off)
        const chunk = yield* Effect.mapError(
          reader.readAt(off, n),
          (e) =>
            new StorageError({
              reason: "Io",
              store: store.name,
              digest: expected?.digest,
              path: reader.source,
              message: `cannot read the source: ${e.message}`,
            }),
        )
        yield* w.write(chunk)
      }
      return yield* w.commit(expected)
    }),
  )

/**
 * Copies one blob between stores (streamed, verified by the destination's commit); a no-op when the
 * destination already holds it.
 */
export const copyBlob = (
  from: BlobStore,
  to: BlobStore,
  digest: string,
): Effect.Effect<BlobInfo, StorageError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const have = yield* to.stat(digest)
      if (have !== undefined) return { digest, size: have }
      const r = yield* from.reader(digest)
      return yield* copyFromReader(to, r, { digest, size: r.size })
    }),
  )
