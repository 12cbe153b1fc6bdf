import type { Sha256 } from "@lazypull/codec"
import {
  type Descriptor,
  decodeIndex,
  decodeManifest,
  encodeJson,
  type Index,
  isIndex,
  isManifest,
  OCI_INDEX,
  parseJson,
  REF_NAME,
} from "@lazypull/oci"
import { END_OF_ARCHIVE, encodeHeader, paddingFor } from "@lazypull/tar"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as PlatformError from "effect/PlatformError"
import type * as Scope from "effect/Scope"
import { type BlobStore, COPY_CHUNK } from "./BlobStore.ts"
import { makeLayoutStore, randomSuffix, TEMP_MARK } from "./LayoutStore.ts"
import { fromPlatformError, StorageError } from "./StorageError.ts"

/** One image (manifest or index) to name in the destination's index.json. */
export interface ImageOutputEntry {
  /** The manifest or index descriptor; the blob and everything it references must be in the output's store. */
  readonly descriptor: Descriptor
  /** A tag, written as the `org.opencontainers.image.ref.name` annotation. */
  readonly ref?: string | undefined
}

/** An image destination that shows nothing until `commit`. */
export interface ImageOutput {
  /** Where blobs go while the image is being written (a staging area: nothing is visible at the destination yet). */
  readonly store: BlobStore
  /** Adds manifests/indexes (descriptors already in `store`) under `ref` (a tag, may be undefined) and makes the result appear at the destination atomically. */
  commit(entries: ReadonlyArray<ImageOutputEntry>): Effect.Effect<void, StorageError>
}

/** The content of an `oci-layout` file. */
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}'

const MAX_DEPTH = 8

const parentOf = (path: string): string => {
  const p = path.replace(/\/+$/, "")
  const i = p.lastIndexOf("/")
  return i < 0 ? "." : i === 0 ? "/" : p.slice(0, i)
}

const trimSlashes = (path: string): string => (path.length > 1 ? path.replace(/\/+$/, "") : path)

const statOrUndefined = (
  fs: FileSystem.FileSystem,
  store: string,
  path: string,
): Effect.Effect<FileSystem.File.Info | undefined, StorageError> =>
  fs.stat(path).pipe(
    // BadResource is ENOTDIR: a file stands where a directory was expected (callers find it walking up)
    Effect.catch((e: PlatformError.PlatformError) =>
      e.reason._tag === "NotFound" || e.reason._tag === "BadResource"
        ? Effect.succeed(undefined)
        : Effect.fail(fromPlatformError(store, path)(e)),
    ),
  )

/**
 * Creates `dir` and missing ancestors; returns the top-most directory it created (to remove on
 * failure), or undefined when `dir` existed.
 */
const ensureDirectory = (
  fs: FileSystem.FileSystem,
  store: string,
  dir: string,
): Effect.Effect<string | undefined, StorageError> =>
  Effect.gen(function* () {
    let top: string | undefined
    let p = dir
    for (;;) {
      const info = yield* statOrUndefined(fs, store, p)
      if (info !== undefined) {
        if (info.type !== "Directory") {
          return yield* new StorageError({
            reason: "Exists",
            store,
            path: p,
            message: `${p} exists and is not a directory`,
          })
        }
        break
      }
      top = p
      const up = parentOf(p)
      if (up === p) break
      p = up
    }
    if (top !== undefined) {
      yield* Effect.mapError(fs.makeDirectory(dir, { recursive: true }), fromPlatformError(store, dir))
    }
    return top
  })

/** Writes `bytes` to a temporary file beside `path` and renames it onto `path`. */
const writeFileAtomic = (
  fs: FileSystem.FileSystem,
  store: string,
  path: string,
  bytes: Uint8Array,
): Effect.Effect<void, StorageError> => {
  const tmp = `${path}${TEMP_MARK}${randomSuffix()}`
  return Effect.onError(
    Effect.mapError(
      Effect.andThen(fs.writeFile(tmp, bytes, { flag: "wx" }), fs.rename(tmp, path)),
      fromPlatformError(store, path),
    ),
    () => Effect.ignore(fs.remove(tmp, { force: true })),
  )
}

const docError = (store: string, e: { readonly message: string; readonly path?: string | undefined }) =>
  new StorageError({ reason: "BadDocument", store, path: e.path, message: e.message })

/**
 * Checks that every entry's blob is stored with its descriptor's size and, for manifests and indexes,
 * that everything they reference is too (manifests and indexes are read and digest-verified).
 */
export const checkComplete = (
  store: BlobStore,
  entries: ReadonlyArray<ImageOutputEntry>,
): Effect.Effect<void, StorageError> =>
  Effect.gen(function* () {
    const seen = new Set<string>()
    const check = (d: Descriptor, from: string, depth: number): Effect.Effect<void, StorageError> =>
      Effect.gen(function* () {
        if (seen.has(d.digest)) return
        const size = yield* store.stat(d.digest)
        if (size === undefined) {
          // a foreign layer (descriptor with urls) may live elsewhere
          if (d.urls !== undefined && d.urls.length > 0) return
          return yield* new StorageError({
            reason: "NotFound",
            store: store.name,
            digest: d.digest,
            message: `${d.digest} (${d.mediaType}, named by ${from}) is not in the output`,
          })
        }
        if (size !== d.size) {
          return yield* new StorageError({
            reason: "SizeMismatch",
            store: store.name,
            digest: d.digest,
            message: `${d.digest} has ${size} bytes, ${from} says ${d.size}`,
          })
        }
        seen.add(d.digest)
        if (depth >= MAX_DEPTH) {
          return yield* new StorageError({
            reason: "BadDocument",
            store: store.name,
            digest: d.digest,
            message: `indexes nested more than ${MAX_DEPTH} deep`,
          })
        }
        const origin = { image: store.name, path: d.digest, digest: d.digest }
        if (isManifest(d.mediaType)) {
          const m = yield* Effect.mapError(
            Effect.flatMap(store.get(d.digest), (b) => decodeManifest(b, origin)),
            (e) => (e._tag === "StorageError" ? e : docError(store.name, e)),
          )
          for (const child of [m.config, ...m.layers]) yield* check(child, d.digest, depth + 1)
        } else if (isIndex(d.mediaType)) {
          const index = yield* Effect.mapError(
            Effect.flatMap(store.get(d.digest), (b) => decodeIndex(b, origin)),
            (e) => (e._tag === "StorageError" ? e : docError(store.name, e)),
          )
          for (const child of index.manifests) yield* check(child, d.digest, depth + 1)
        }
      })
    for (const e of entries) yield* check(e.descriptor, "the entry", 0)
  })

/**
 * The index.json after adding `entries` to `existing`: an entry with a ref replaces every descriptor
 * carrying the same ref name; an entry without one replaces unnamed descriptors of the same digest.
 * Other descriptors and top-level keys are kept.
 */
export const mergeIndex = (existing: Index | undefined, entries: ReadonlyArray<ImageOutputEntry>): Index => {
  let manifests: Array<Descriptor> = [...(existing?.manifests ?? [])]
  for (const e of entries) {
    const d: Descriptor =
      e.ref === undefined
        ? e.descriptor
        : { ...e.descriptor, annotations: { ...e.descriptor.annotations, [REF_NAME]: e.ref } }
    const ref = d.annotations?.[REF_NAME]
    manifests = manifests.filter((m) =>
      ref !== undefined
        ? m.annotations?.[REF_NAME] !== ref
        : m.annotations?.[REF_NAME] !== undefined || m.digest !== d.digest,
    )
    manifests.push(d)
  }
  return { ...existing, schemaVersion: 2, mediaType: OCI_INDEX, manifests }
}

const readIndex = (
  fs: FileSystem.FileSystem,
  store: string,
  dir: string,
): Effect.Effect<Index | undefined, StorageError> =>
  Effect.gen(function* () {
    const path = `${dir}/index.json`
    const info = yield* statOrUndefined(fs, store, path)
    if (info === undefined) return undefined
    const bytes = yield* Effect.mapError(fs.readFile(path), fromPlatformError(store, path))
    return yield* Effect.mapError(decodeIndex(bytes, { image: store, path: "index.json" }), (e) =>
      docError(store, e),
    )
  })

const checkLayoutHeader = (
  fs: FileSystem.FileSystem,
  store: string,
  dir: string,
): Effect.Effect<void, StorageError> =>
  Effect.gen(function* () {
    const path = `${dir}/oci-layout`
    const bytes = yield* Effect.mapError(fs.readFile(path), fromPlatformError(store, path))
    const value = yield* Effect.mapError(parseJson(bytes, { image: store, path: "oci-layout" }), (e) =>
      docError(store, e),
    )
    const version =
      typeof value === "object" && value !== null
        ? (value as Record<string, unknown>).imageLayoutVersion
        : undefined
    if (typeof version !== "string" || !version.startsWith("1.")) {
      return yield* new StorageError({
        reason: "BadDocument",
        store,
        path,
        message: `oci-layout has no supported imageLayoutVersion (${JSON.stringify(version)})`,
      })
    }
  })

/** Commit bookkeeping shared by the outputs: one commit at a time, none after success. */
const makeCommitGuard = (store: string) => {
  let state: "open" | "committing" | "committed" = "open"
  return {
    committed: () => state === "committed",
    run: (effect: Effect.Effect<void, StorageError>): Effect.Effect<void, StorageError> =>
      Effect.suspend(() => {
        if (state !== "open") {
          return Effect.fail(
            new StorageError({
              reason: "Closed",
              store,
              message: state === "committed" ? "the image was already committed" : "a commit is running",
            }),
          )
        }
        state = "committing"
        return effect.pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              if (state !== "committed") state = exit._tag === "Success" ? "committed" : "open"
            }),
          ),
        )
      }),
    /** The step that makes the image appear: not interruptible, and marks the commit done with it. */
    publish: (effect: Effect.Effect<void, StorageError>): Effect.Effect<void, StorageError> =>
      Effect.uninterruptible(
        Effect.andThen(
          effect,
          Effect.sync(() => {
            state = "committed"
          }),
        ),
      ),
  }
}

const noOpenWriters = (store: string, openWriters: () => number): Effect.Effect<void, StorageError> =>
  Effect.suspend(() => {
    const n = openWriters()
    return n === 0
      ? Effect.void
      : Effect.fail(
          new StorageError({
            reason: "Io",
            store,
            message: `${n} blob writer(s) still open: commit or abort them before committing the image`,
          }),
        )
  })

/**
 * Writes an OCI image layout directory, like skopeo's `oci:DIR`, atomically:
 * - DIR missing: everything is staged in `DIR.lazypull-tmp-<random>` beside it, renamed to DIR on commit;
 * - DIR an empty directory: written in place, `index.json` then `oci-layout` last;
 * - DIR an OCI layout: blobs go straight in (content addressed), and commit rewrites `index.json`
 *   (temp file + rename), replacing descriptors with the same ref name and keeping the others;
 * - anything else: fails with `Exists`.
 * Closing the scope without a commit removes whatever was staged; an existing layout keeps its index.json.
 *
 * @example
 * const out = yield* openOciLayoutOutput("out/image"); yield* out.store.put(config); ...
 * yield* out.commit([{ descriptor: manifest, ref: "latest" }])
 */
export const openOciLayoutOutput = (
  dir: string,
): Effect.Effect<ImageOutput, StorageError, FileSystem.FileSystem | Sha256 | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const target = trimSlashes(dir)
    const name = `oci:${target}`
    const guard = makeCommitGuard(name)
    const info = yield* statOrUndefined(fs, name, target)

    if (info === undefined) {
      // new layout: stage beside the target, rename on commit
      const createdParent = yield* ensureDirectory(fs, name, parentOf(target))
      const staging = `${target}${TEMP_MARK}${randomSuffix()}`
      yield* Effect.addFinalizer(() =>
        guard.committed()
          ? Effect.void
          : Effect.ignore(
              Effect.andThen(
                fs.remove(staging, { recursive: true, force: true }),
                createdParent === undefined
                  ? Effect.void
                  : fs.remove(createdParent, { recursive: true, force: true }),
              ),
            ),
      )
      yield* Effect.mapError(fs.makeDirectory(staging), fromPlatformError(name, staging))
      const handle = yield* makeLayoutStore(staging)
      return {
        store: handle.store,
        commit: (entries) =>
          guard.run(
            Effect.gen(function* () {
              yield* noOpenWriters(name, handle.openWriters)
              yield* checkComplete(handle.store, entries)
              yield* writeFileAtomic(
                fs,
                name,
                `${staging}/index.json`,
                encodeJson(mergeIndex(undefined, entries)),
              )
              yield* writeFileAtomic(
                fs,
                name,
                `${staging}/oci-layout`,
                new TextEncoder().encode(OCI_LAYOUT_CONTENT),
              )
              if ((yield* statOrUndefined(fs, name, target)) !== undefined) {
                return yield* new StorageError({
                  reason: "Exists",
                  store: name,
                  path: target,
                  message: `${target} appeared while the image was being written`,
                })
              }
              yield* guard.publish(
                Effect.mapError(fs.rename(staging, target), fromPlatformError(name, target)),
              )
            }),
          ),
      } satisfies ImageOutput
    }

    if (info.type !== "Directory") {
      return yield* new StorageError({
        reason: "Exists",
        store: name,
        path: target,
        message: `${target} exists and is not a directory`,
      })
    }
    const hasHeader = (yield* statOrUndefined(fs, name, `${target}/oci-layout`)) !== undefined
    if (hasHeader) {
      // existing layout: blobs straight in, index.json replaced on commit
      yield* checkLayoutHeader(fs, name, target)
      yield* readIndex(fs, name, target)
      const handle = yield* makeLayoutStore(target)
      return {
        store: handle.store,
        commit: (entries) =>
          guard.run(
            Effect.gen(function* () {
              yield* noOpenWriters(name, handle.openWriters)
              yield* checkComplete(handle.store, entries)
              const existing = yield* readIndex(fs, name, target)
              yield* guard.publish(
                writeFileAtomic(fs, name, `${target}/index.json`, encodeJson(mergeIndex(existing, entries))),
              )
            }),
          ),
      } satisfies ImageOutput
    }
    const present = yield* Effect.mapError(fs.readDirectory(target), fromPlatformError(name, target))
    if (present.length > 0) {
      return yield* new StorageError({
        reason: "Exists",
        store: name,
        path: target,
        message: `${target} is a non-empty directory without oci-layout: not an OCI image layout`,
      })
    }
    // empty directory: write in place, oci-layout last; on failure empty it again
    yield* Effect.addFinalizer(() =>
      guard.committed()
        ? Effect.void
        : Effect.ignore(
            Effect.flatMap(fs.readDirectory(target), (names) =>
              Effect.forEach(names, (n) => fs.remove(`${target}/${n}`, { recursive: true, force: true }), {
                discard: true,
              }),
            ),
          ),
    )
    const handle = yield* makeLayoutStore(target)
    return {
      store: handle.store,
      commit: (entries) =>
        guard.run(
          Effect.gen(function* () {
            yield* noOpenWriters(name, handle.openWriters)
            yield* checkComplete(handle.store, entries)
            yield* writeFileAtomic(
              fs,
              name,
              `${target}/index.json`,
              encodeJson(mergeIndex(undefined, entries)),
            )
            yield* guard.publish(
              writeFileAtomic(fs, name, `${target}/oci-layout`, new TextEncoder().encode(OCI_LAYOUT_CONTENT)),
            )
          }),
        ),
    } satisfies ImageOutput
  })

/** Streams the staged layout into a deterministic tar at `path` (sorted, mtime 0, uid/gid 0). */
const writeArchive = (
  fs: FileSystem.FileSystem,
  store: BlobStore,
  name: string,
  path: string,
  index: Index,
): Effect.Effect<void, StorageError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const toError = fromPlatformError(name, path)
      const file = yield* Effect.mapError(fs.open(path, { flag: "wx" }), toError)
      const put = (b: Uint8Array) => Effect.mapError(file.writeAll(b), toError)
      const dir = (n: string) => put(encodeHeader({ name: n, typeflag: "5", mode: 0o755 }))
      const small = (n: string, data: Uint8Array) =>
        Effect.andThen(
          put(encodeHeader({ name: n, typeflag: "0", mode: 0o644, size: data.length })),
          put(data.length % 512 === 0 ? data : concatPadded(data)),
        )
      yield* dir("blobs/")
      yield* dir("blobs/sha256/")
      const buf = new Uint8Array(COPY_CHUNK)
      for (const digest of yield* store.list()) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const r = yield* store.reader(digest)
            yield* put(
              encodeHeader({
                name: `blobs/sha256/${digest.slice(7)}`,
                typeflag: "0",
                mode: 0o644,
                size: r.size,
              }),
            )
            for (let off = 0; off < r.size; off += COPY_CHUNK) {
              const n = Math.min(COPY_CHUNK, r.size - off)
              const piece = yield* Effect.mapError(
                r.readInto !== undefined
                  ? Effect.as(r.readInto(off, buf.subarray(0, n)), buf.subarray(0, n))
                  : r.readAt(off, n),
                (e) =>
                  new StorageError({
                    reason: "Io",
                    store: name,
                    digest,
                    path: r.source,
                    message: `cannot read the staged blob: ${e.message}`,
                  }),
              )
              yield* put(piece)
            }
            yield* put(paddingFor(r.size))
          }),
        )
      }
      yield* small("index.json", encodeJson(index))
      yield* small("oci-layout", new TextEncoder().encode(OCI_LAYOUT_CONTENT))
      yield* put(END_OF_ARCHIVE)
    }),
  )

/** `data` followed by zero padding to the next 512-byte boundary, in one array. */
const concatPadded = (data: Uint8Array): Uint8Array => {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512)
  out.set(data)
  return out
}

/**
 * Writes an OCI archive, like skopeo's `oci-archive:FILE`, atomically: blobs are staged in a temporary
 * layout directory beside FILE; commit streams a deterministic tar (`blobs/`, `blobs/sha256/<hex>`
 * sorted, `index.json`, `oci-layout`; mtime 0, uid/gid 0, modes 0644/0755), blob by blob, to
 * `FILE.lazypull-tmp-<random>`, renames it onto FILE and deletes the staging directory. Closing the
 * scope without a commit deletes every temporary file; an existing FILE stays untouched until the rename.
 *
 * @example
 * const out = yield* openOciArchiveOutput("image.tar"); ...; yield* out.commit([{ descriptor, ref: "v1" }])
 */
export const openOciArchiveOutput = (
  file: string,
): Effect.Effect<ImageOutput, StorageError, FileSystem.FileSystem | Sha256 | Scope.Scope> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const target = trimSlashes(file)
    const name = `oci-archive:${target}`
    const guard = makeCommitGuard(name)
    const info = yield* statOrUndefined(fs, name, target)
    if (info !== undefined && info.type === "Directory") {
      return yield* new StorageError({
        reason: "Exists",
        store: name,
        path: target,
        message: `${target} is a directory, not an archive file`,
      })
    }
    const createdParent = yield* ensureDirectory(fs, name, parentOf(target))
    const staging = `${target}${TEMP_MARK}${randomSuffix()}`
    yield* Effect.addFinalizer(() =>
      Effect.ignore(
        Effect.andThen(
          fs.remove(staging, { recursive: true, force: true }),
          guard.committed() || createdParent === undefined
            ? Effect.void
            : fs.remove(createdParent, { recursive: true, force: true }),
        ),
      ),
    )
    yield* Effect.mapError(fs.makeDirectory(staging), fromPlatformError(name, staging))
    const handle = yield* makeLayoutStore(staging)
    return {
      store: handle.store,
      commit: (entries) =>
        guard.run(
          Effect.gen(function* () {
            yield* noOpenWriters(name, handle.openWriters)
            yield* checkComplete(handle.store, entries)
            const tmp = `${target}${TEMP_MARK}${randomSuffix()}`
            yield* Effect.onError(
              Effect.andThen(
                writeArchive(fs, handle.store, name, tmp, mergeIndex(undefined, entries)),
                guard.publish(Effect.mapError(fs.rename(tmp, target), fromPlatformError(name, target))),
              ),
              () => Effect.ignore(fs.remove(tmp, { force: true })),
            )
            yield* Effect.ignore(fs.remove(staging, { recursive: true, force: true }))
          }),
        ),
    } satisfies ImageOutput
  })
