import { Sha256 } from "@lazypull/codec"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type BlobInfo, type BlobStore, type BlobWriter, checkExpected, sha256Hex } from "./BlobStore.ts"
import { openFileReader } from "./FileReader.ts"
import { fromPlatformError, StorageError } from "./StorageError.ts"

/** Marks temporary files and directories: `<name>.lazypull-tmp-<random>`. */
export const TEMP_MARK = ".lazypull-tmp-"

/** 12 random hex digits for temporary names (Web Crypto, so any runtime). */
export const randomSuffix = (): string => {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(6))
  let s = ""
  for (const x of b) s += x.toString(16).padStart(2, "0")
  return s
}

const HEX64 = /^[a-f0-9]{64}$/

/** A layout store plus what image outputs need to know about it. */
export interface LayoutStoreHandle {
  readonly store: BlobStore
  /** How many writers are open (neither committed nor aborted). */
  readonly openWriters: () => number
}

/** Builds the store of `openLayoutStore`, also reporting open writers (for image outputs). */
export const makeLayoutStore = (
  dir: string,
): Effect.Effect<LayoutStoreHandle, StorageError, FileSystem.FileSystem | Sha256> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const sha = yield* Sha256
    const name = dir
    const blobDir = `${dir}/blobs/sha256`
    yield* Effect.mapError(fs.makeDirectory(blobDir, { recursive: true }), fromPlatformError(name, blobDir))
    let writers = 0

    const pathOf = (digest: string) => Effect.map(sha256Hex(name, digest), (hex) => `${blobDir}/${hex}`)

    const makeWriter = Effect.gen(function* () {
      const scope = yield* Effect.scope
      const fileScope = yield* Scope.fork(scope)
      const tmp = `${blobDir}/${TEMP_MARK}${randomSuffix()}`
      const file = yield* Effect.mapError(
        Scope.provide(fs.open(tmp, { flag: "wx" }), fileScope),
        fromPlatformError(name, tmp),
      )
      writers++
      const lock = yield* Semaphore.make(1)
      const h = sha.make()
      let size = 0
      let state: "open" | "broken" | "committed" | "aborted" = "open"
      const closed = () =>
        new StorageError({
          reason: "Closed",
          store: name,
          path: tmp,
          message:
            state === "broken" ? "an earlier write to this blob failed" : `the writer was already ${state}`,
        })
      const discard = Effect.gen(function* () {
        if (state === "committed" || state === "aborted") return
        state = "aborted"
        writers--
        yield* Scope.close(fileScope, Exit.void)
        yield* Effect.ignore(fs.remove(tmp, { force: true }))
      })
      const writer: BlobWriter = {
        get bytesWritten() {
          return size
        },
        write: (chunk) =>
          lock.withPermit(
            Effect.suspend(() => {
              if (state !== "open") return Effect.fail(closed())
              return file.writeAll(chunk).pipe(
                Effect.mapError((e) => {
                  state = "broken"
                  return fromPlatformError(name, tmp)(e)
                }),
                Effect.andThen(
                  Effect.sync(() => {
                    h.update(chunk)
                    size += chunk.length
                  }),
                ),
              )
            }),
          ),
        commit: (expected) =>
          lock.withPermit(
            Effect.gen(function* () {
              if (state !== "open") return yield* closed()
              const info: BlobInfo = { digest: `sha256:${h.hex()}`, size }
              yield* Effect.onError(
                Effect.gen(function* () {
                  yield* checkExpected(name, info, expected)
                  yield* Scope.close(fileScope, Exit.void)
                  const target = `${blobDir}/${info.digest.slice(7)}`
                  yield* Effect.mapError(fs.rename(tmp, target), fromPlatformError(name, target, info.digest))
                }),
                () => discard,
              )
              state = "committed"
              writers--
              return info
            }),
          ),
        abort: () => lock.withPermit(discard),
      }
      yield* Effect.addFinalizer(() => discard)
      return writer
    })

    const store: BlobStore = {
      name,
      stat: (digest) =>
        Effect.flatMap(pathOf(digest), (path) =>
          fs.stat(path).pipe(
            Effect.map((info) => (info.type === "File" ? Number(info.size) : undefined)),
            Effect.catch((e) =>
              e.reason._tag === "NotFound"
                ? Effect.succeed(undefined)
                : Effect.fail(fromPlatformError(name, path, digest)(e)),
            ),
          ),
        ),
      reader: (digest) => Effect.flatMap(pathOf(digest), (path) => openFileReader(fs, path, name, digest)),
      get: (digest) =>
        Effect.gen(function* () {
          const path = yield* pathOf(digest)
          const bytes = yield* Effect.mapError(fs.readFile(path), fromPlatformError(name, path, digest))
          const h = sha.make()
          h.update(bytes)
          const actual = `sha256:${h.hex()}`
          if (actual !== digest) {
            return yield* new StorageError({
              reason: "DigestMismatch",
              store: name,
              digest,
              path,
              message: `${path} hashes to ${actual} (corrupted on disk?)`,
            })
          }
          return bytes
        }),
      put: (bytes) =>
        Effect.scoped(
          Effect.gen(function* () {
            const w = yield* makeWriter
            yield* w.write(bytes)
            return yield* w.commit()
          }),
        ),
      writer: () => makeWriter,
      list: () =>
        Effect.map(Effect.mapError(fs.readDirectory(blobDir), fromPlatformError(name, blobDir)), (names) =>
          names
            .filter((n) => HEX64.test(n))
            .sort()
            .map((n) => `sha256:${n}`),
        ),
    }
    return { store, openWriters: () => writers }
  })

/**
 * An OCI image layout directory as a BlobStore: blobs live in `blobs/sha256/<hex>` (created if
 * missing). Writers stream into a temporary file in that directory and rename it into place on commit,
 * so a blob is never visible half-written. `oci-layout` and `index.json` are left to image outputs.
 *
 * @example
 * const store = yield* openLayoutStore("out/image"); const bytes = yield* store.get(manifestDigest)
 */
export const openLayoutStore = (
  dir: string,
): Effect.Effect<BlobStore, StorageError, FileSystem.FileSystem | Sha256> =>
  Effect.map(makeLayoutStore(dir), (h) => h.store)
