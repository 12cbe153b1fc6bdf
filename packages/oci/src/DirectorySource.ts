import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as PlatformError from "effect/PlatformError"
import type { LayoutSource } from "./LayoutSource.ts"
import { OciError } from "./OciError.ts"

/** Why a relative path may not be looked up under the directory, or undefined when it may. */
const pathProblem = (path: string): string | undefined => {
  if (path.length === 0) return "the path is empty"
  if (path.includes("\0")) return "the path contains NUL"
  if (path.includes("\\")) return "the path contains a backslash"
  if (path.startsWith("/")) return "the path is absolute"
  for (const seg of path.split("/")) {
    if (seg === "..") return "the path has a .. segment"
  }
  return undefined
}

const within = (root: string, real: string): boolean =>
  real === root || real.startsWith(root.endsWith("/") ? root : `${root}/`)

/**
 * A LayoutSource over a local directory (an OCI image layout, or an unpacked docker archive), read
 * through effect's FileSystem with positioned reads. Paths are `/`-separated and relative; absolute
 * paths, `..` segments and symlinks resolving outside the directory are refused (BadReference).
 *
 * @example
 * const image = yield* openLayoutImage(yield* directorySource("oci-dir"), { ref: "latest" })
 */
export const directorySource = (dir: string): Effect.Effect<LayoutSource, OciError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const name = dir
    const fail = (reason: OciError["reason"], message: string, path?: string) =>
      new OciError({ reason, image: name, path, message })
    const io = (path: string | undefined) => (e: PlatformError.PlatformError) =>
      e.reason._tag === "NotFound"
        ? fail("NotFound", `${path ?? dir} does not exist`, path)
        : fail("Truncated", `cannot read ${path ?? dir}: ${e.message}`, path)
    const root = yield* Effect.mapError(fs.realPath(dir), io(undefined))
    const rootInfo = yield* Effect.mapError(fs.stat(root), io(undefined))
    if (rootInfo.type !== "Directory") return yield* fail("NotFound", `${dir} is not a directory`)

    /** The real path of a regular file inside the directory, undefined when missing or not a file. */
    const resolve = (path: string): Effect.Effect<string | undefined, OciError> =>
      Effect.gen(function* () {
        const problem = pathProblem(path)
        if (problem !== undefined)
          return yield* fail("BadReference", `${problem}: ${JSON.stringify(path)}`, path)
        const real = yield* fs.realPath(`${root}/${path}`).pipe(
          Effect.map((p): string | undefined => p),
          Effect.catch((e) =>
            e.reason._tag === "NotFound" ? Effect.succeed(undefined) : Effect.fail(io(path)(e)),
          ),
        )
        if (real === undefined) return undefined
        if (!within(root, real)) {
          return yield* fail("BadReference", `${path} resolves outside ${dir}`, path)
        }
        return real
      })

    const statFile = (real: string, path: string) =>
      Effect.map(Effect.mapError(fs.stat(real), io(path)), (info) =>
        info.type === "File" ? Number(info.size) : undefined,
      )

    const walk = (rel: string, out: Array<string>): Effect.Effect<void, OciError> =>
      Effect.gen(function* () {
        const here = rel === "" ? root : `${root}/${rel}`
        const entries = yield* Effect.mapError(fs.readDirectoryEntries(here), io(rel))
        for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const p = rel === "" ? e.name : `${rel}/${e.name}`
          if (e.type === "Directory") yield* walk(p, out)
          else if (e.type === "File") out.push(p)
          else if (e.type === "SymbolicLink" || e.type === "Unknown") {
            // a link counts when it resolves to a regular file inside the directory
            const real = yield* Effect.orElseSucceed(resolve(p), () => undefined)
            if (
              real !== undefined &&
              (yield* Effect.orElseSucceed(statFile(real, p), () => undefined)) !== undefined
            )
              out.push(p)
          }
        }
      })

    /** Reads `target.length` bytes at `offset` (positioned reads; a short file is Truncated). */
    const fill = (file: FileSystem.File, path: string, offset: number, target: Uint8Array) =>
      Effect.gen(function* () {
        let got = 0
        while (got < target.length) {
          const n = yield* Effect.mapError(
            file.read(target.subarray(got), { position: BigInt(offset + got) }),
            io(path),
          )
          if (n === 0) return yield* fail("Truncated", `${path} ended after ${offset + got} bytes`, path)
          got += n
        }
      })

    const source: LayoutSource = {
      name,
      list: () =>
        Effect.gen(function* () {
          const out: Array<string> = []
          yield* walk("", out)
          return out
        }),
      stat: (path) =>
        Effect.flatMap(resolve(path), (real) =>
          real === undefined ? Effect.succeed(undefined) : statFile(real, path),
        ),
      readAt: (path, offset, length) =>
        Effect.scoped(
          Effect.gen(function* () {
            const real = yield* resolve(path)
            if (real === undefined) return yield* fail("NotFound", `${path} does not exist`, path)
            const file = yield* Effect.mapError(fs.open(real, { flag: "r" }), io(path))
            const info = yield* Effect.mapError(file.stat, io(path))
            if (info.type !== "File") return yield* fail("NotFound", `${path} is not a regular file`, path)
            const size = Number(info.size)
            if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
              return yield* fail("Truncated", `bad range [${offset}, ${offset + length})`, path)
            }
            if (offset + length > size) {
              return yield* fail(
                "Truncated",
                `read [${offset}, ${offset + length}) outside ${size} bytes`,
                path,
              )
            }
            const buf = new Uint8Array(length)
            yield* fill(file, path, offset, buf)
            return buf
          }),
        ),
      readInto: (path, offset, target) =>
        Effect.scoped(
          Effect.gen(function* () {
            const real = yield* resolve(path)
            if (real === undefined) return yield* fail("NotFound", `${path} does not exist`, path)
            const file = yield* Effect.mapError(fs.open(real, { flag: "r" }), io(path))
            if (!Number.isSafeInteger(offset) || offset < 0)
              return yield* fail("Truncated", `bad offset ${offset}`, path)
            yield* fill(file, path, offset, target)
          }),
        ),
    }
    return source
  })
