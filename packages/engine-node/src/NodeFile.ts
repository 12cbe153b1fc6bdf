import { randomBytes } from "node:crypto"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { checkBounds, type RangeReader, RangeReadError, type RangeStats } from "@lazypull/range"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** Why a file operation failed. */
export const FileErrorReason = Schema.Literals([
  "NotFound", // the file or its directory does not exist
  "AccessDenied", // EACCES / EPERM
  "Io", // any other operating-system error
  "Closed", // the sink was already committed or aborted, or an earlier write failed
])

/** The one error of the file helpers. */
export class FileError extends Schema.TaggedError<FileError>()("FileError", {
  reason: FileErrorReason,
  path: Schema.String,
  operation: Schema.String,
  message: Schema.String,
}) {}

const errnoOf = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const fileError = (path: string, operation: string, e: unknown): FileError => {
  const code = errnoOf(e)
  return new FileError({
    reason: code === "ENOENT" ? "NotFound" : code === "EACCES" || code === "EPERM" ? "AccessDenied" : "Io",
    path,
    operation,
    message: messageOf(e),
  })
}

const view = (b: Buffer, n: number): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, n)

/** Reads until `length` bytes arrived or the file ends; returns how many bytes were read. */
const readFully = async (h: fs.FileHandle, into: Uint8Array, position: number): Promise<number> => {
  let got = 0
  while (got < into.length) {
    const { bytesRead } = await h.read(into, got, into.length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/**
 * A `RangeReader` over a local file, read with positional `read`s on one open handle that is
 * closed when the scope closes. The size is taken once, at open.
 *
 * @example
 * const r = yield* fileRangeReader("layer.tar.gz"); const footer = yield* r.readAt(r.size - 51, 51)
 */
export const fileRangeReader = (path: string): Effect.Effect<RangeReader, RangeReadError, Scope.Scope> =>
  Effect.gen(function* () {
    const io = (offset: number, length: number) => (e: unknown) =>
      new RangeReadError({ reason: "Io", source: path, offset, length, message: messageOf(e) })
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => fs.open(path, "r"), catch: io(0, 0) }),
      (h) => Effect.promise(() => h.close().catch(() => undefined)),
    )
    const { size } = yield* Effect.tryPromise({ try: () => handle.stat(), catch: io(0, 0) })
    const stats: RangeStats = { reads: 0, bytes: 0 }
    const readAt = (offset: number, length: number): Effect.Effect<Uint8Array, RangeReadError> =>
      Effect.flatMap(checkBounds(path, size, offset, length), () =>
        Effect.flatMap(
          Effect.tryPromise({
            try: async () => {
              const buf = Buffer.allocUnsafe(length)
              return { buf, got: await readFully(handle, buf, offset) }
            },
            catch: io(offset, length),
          }),
          ({ buf, got }) => {
            if (got < length) {
              return Effect.fail(
                new RangeReadError({
                  reason: "ShortRead",
                  source: path,
                  offset,
                  length,
                  message: `file ended after ${got} of ${length} bytes (was it truncated?)`,
                }),
              )
            }
            stats.reads++
            stats.bytes += length
            return Effect.succeed(view(buf, length))
          },
        ),
      )
    const readInto = (offset: number, target: Uint8Array): Effect.Effect<void, RangeReadError> =>
      Effect.flatMap(checkBounds(path, size, offset, target.length), () =>
        Effect.flatMap(
          Effect.tryPromise({
            try: () => readFully(handle, target, offset),
            catch: io(offset, target.length),
          }),
          (got) => {
            if (got < target.length)
              return Effect.fail(
                new RangeReadError({
                  reason: "ShortRead",
                  source: path,
                  offset,
                  length: target.length,
                  message: `file ended after ${got} of ${target.length} bytes (was it truncated?)`,
                }),
              )
            stats.reads++
            stats.bytes += target.length
            return Effect.void
          },
        ),
      )
    return { source: path, size, stats, readAt, readInto }
  })

const MIN_CHUNK = 64 * 1024
const MAX_CHUNK = 1024 * 1024

/**
 * The bytes of a file as a stream of chunks of `chunkSize` bytes (clamped to 64 KiB..1 MiB,
 * default 256 KiB; the last chunk may be shorter). The file is opened when the stream starts
 * and closed when it ends.
 *
 * @example
 * const total = yield* fileStream("layer.tar").pipe(Stream.runFold(() => 0, (n, c) => n + c.length))
 */
export const fileStream = (
  path: string,
  options?: { readonly chunkSize?: number },
): Stream.Stream<Uint8Array, FileError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const size = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.floor(options?.chunkSize ?? 256 * 1024)))
      const handle = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => fs.open(path, "r"), catch: (e) => fileError(path, "open", e) }),
        (h) => Effect.promise(() => h.close().catch(() => undefined)),
      )
      return Stream.paginate(0, (offset: number) =>
        Effect.map(
          Effect.tryPromise({
            try: async () => {
              const buf = Buffer.allocUnsafe(size)
              // Sequential reads (position null) also work on pipes and character devices.
              const { bytesRead } = await handle.read(buf, 0, size, null)
              return { buf, bytesRead }
            },
            catch: (e) => fileError(path, "read", e),
          }),
          ({ buf, bytesRead }) =>
            bytesRead === 0
              ? ([[], Option.none()] as const)
              : ([[view(buf, bytesRead)], Option.some(offset + bytesRead)] as const),
        ),
      )
    }),
  )

/** A file being written that appears at its path only when committed. */
export interface AtomicFileSink {
  /** The final path. */
  readonly path: string
  /** The temporary file in the same directory (`<path>.lazypull-tmp-<random>`). */
  readonly tempPath: string
  /** Bytes written so far. */
  readonly bytesWritten: number
  /** Appends a chunk. Several writes may be in flight; they land in call order. */
  write(chunk: Uint8Array): Effect.Effect<void, FileError>
  /** fsyncs the data, renames the temporary file onto `path` and fsyncs the directory. */
  commit(): Effect.Effect<void, FileError>
  /** Closes and deletes the temporary file; a no-op after commit. */
  abort(): Effect.Effect<void>
}

/**
 * Writes a file atomically: bytes go to a temporary file beside `path`, which replaces `path`
 * only on `commit()`. Closing the scope without a commit aborts (the temporary file is deleted),
 * so a failed or interrupted writer never leaves a partial file at `path`.
 *
 * @example
 * const sink = yield* atomicFileSink("out/blob"); yield* sink.write(bytes); yield* sink.commit()
 */
export const atomicFileSink = (path: string): Effect.Effect<AtomicFileSink, FileError, Scope.Scope> =>
  Effect.gen(function* () {
    const tempPath = `${path}.lazypull-tmp-${randomBytes(6).toString("hex")}`
    let state: "open" | "broken" | "committed" | "aborted" = "open"
    let handle: fs.FileHandle | undefined
    let offset = 0
    let inFlight = 0

    const closeHandle = async () => {
      const h = handle
      handle = undefined
      await h?.close()
    }
    const abort = (): Effect.Effect<void> =>
      Effect.promise(async () => {
        if (state === "committed" || state === "aborted") return
        state = "aborted"
        await closeHandle().catch(() => undefined)
        await fs.rm(tempPath, { force: true }).catch(() => undefined)
      })

    handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => fs.open(tempPath, "wx"),
        catch: (e) => fileError(tempPath, "create", e),
      }),
      () => abort(),
    )

    const closed = (operation: string) =>
      Effect.fail(
        new FileError({
          reason: "Closed",
          path,
          operation,
          message:
            state === "broken"
              ? "an earlier write failed; the file was not committed"
              : `the sink is ${state}`,
        }),
      )

    const write = (chunk: Uint8Array): Effect.Effect<void, FileError> =>
      Effect.suspend(() => {
        if (state !== "open" || !handle) return closed("write")
        const h = handle
        const at = offset
        offset += chunk.length
        inFlight++
        return Effect.tryPromise({
          try: async () => {
            let done = 0
            while (done < chunk.length) {
              const { bytesWritten } = await h.write(chunk, done, chunk.length - done, at + done)
              done += bytesWritten
            }
          },
          catch: (e) => {
            state = "broken"
            return fileError(tempPath, "write", e)
          },
        }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
      })

    const commit = (): Effect.Effect<void, FileError> =>
      Effect.suspend(() => {
        if (state !== "open" || !handle) return closed("commit")
        if (inFlight > 0) {
          return Effect.fail(
            new FileError({
              reason: "Io",
              path,
              operation: "commit",
              message: `${inFlight} writes still in flight`,
            }),
          )
        }
        const h = handle
        return Effect.tryPromise({
          try: async () => {
            await h.sync()
            await closeHandle()
            await fs.rename(tempPath, path)
            state = "committed"
            // Make the rename itself durable.
            const dir = await fs.open(nodePath.dirname(path), "r")
            try {
              await dir.sync()
            } finally {
              await dir.close()
            }
          },
          catch: (e) => {
            if (state === "open") state = "broken"
            return fileError(path, "commit", e)
          },
        })
      })

    return {
      path,
      tempPath,
      get bytesWritten() {
        return offset
      },
      write,
      commit,
      abort,
    }
  })
