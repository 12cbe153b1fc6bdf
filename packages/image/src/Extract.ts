// Extracting files of the merged image into a directory, lazily, through effect's FileSystem: nothing outside
// the target directory, nothing through a symlink, every file written under a temp name and renamed when complete.
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type { PlatformError } from "effect/PlatformError"
import type { GzipEngine, Sha256, ZstdEngine } from "@lazypull/codec"
import type { Image } from "@lazypull/oci"
import { ImageError } from "./ImageError.ts"
import { comparePaths, joinPath, parentPath, type TreeEntry } from "./Tree.ts"
import { makeImageView, type ReadCost, resolveInTree, type ViewOptions } from "./View.ts"

/** Options of {@link extractImage}. */
export interface ExtractOptions extends ViewOptions {
  /**
   * A symlink whose target leaves the target directory (absolute, too many `..`, or through another symlink that
   * does): fail before writing anything (default), or skip it and report it.
   */
  readonly unsafeSymlinks?: "fail" | "skip"
}

/** One thing written. */
export interface ExtractedEntry {
  /** Path relative to the target directory. */
  readonly path: string
  /** `reg` (hardlinks are written as regular files with their target's content), `dir` or `symlink`. */
  readonly type: "reg" | "dir" | "symlink"
  readonly size: number
}

/** One thing not written, and why. */
export interface SkippedEntry {
  readonly path: string
  readonly type: string
  readonly reason: string
}

/** What {@link extractImage} did. */
export interface ExtractReport {
  readonly written: ReadonlyArray<ExtractedEntry>
  readonly skipped: ReadonlyArray<SkippedEntry>
  /** Bytes and reads fetched from the image (TOCs, chunks, streamed plain layers). */
  readonly cost: ReadCost
}

interface Item {
  /** Destination, relative to the target directory. */
  readonly dest: string
  readonly entry: TreeEntry
}

const MAX_LINKS = 40

const segments = (path: string): Array<string> => path.split("/").filter((s) => s !== "" && s !== ".")

/** Whether a relative destination is made of plain names only (no `..`, no NUL, not absolute). */
const plainRelative = (rel: string): boolean =>
  rel === "" ||
  (!rel.startsWith("/") &&
    rel.split("/").every((s) => s !== "" && s !== "." && s !== ".." && !s.includes("\0")))

let tempCounter = 0
const tempName = (dest: string): string => {
  const dir = parentPath(dest)
  const base = dest.slice(dest.lastIndexOf("/") + 1)
  tempCounter = (tempCounter + 1) % 1_000_000
  return joinPath(dir, `.${base}.lazypull-${Math.random().toString(36).slice(2, 10)}${tempCounter}`)
}

/**
 * Extracts paths of the merged image (files, symlinks, or whole directories) under `targetDir`, each at its path
 * in the image: symlinks in a requested path are followed (`bin/ls` with `bin -> usr/bin` lands at `usr/bin/ls`),
 * the last component is taken as it is. Lists the merged tree first (every layer's TOC; plain layers streamed),
 * then fetches only the chosen files' chunks. Plans everything first and refuses, before writing anything, a
 * requested path with `..` and a symlink whose target would leave `targetDir`; devices and FIFOs are skipped.
 * While writing it refuses to go through any symlink that exists in `targetDir`, writes each file to a temp name
 * in its directory (content verified) and renames it into place. Hardlinks become regular files; modes are kept
 * without setuid/setgid; owners are not changed.
 *
 * @example
 * const report = yield* extractImage(image, ["/etc/os-release", "/usr/share/doc"], "out")
 */
export const extractImage = (
  image: Image,
  paths: ReadonlyArray<string>,
  targetDir: string,
  options: ExtractOptions = {},
): Effect.Effect<ExtractReport, ImageError, FileSystem.FileSystem | GzipEngine | ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const name = image.source.name
    if (targetDir === "" || targetDir.includes("\0"))
      return yield* new ImageError({
        reason: "BadOption",
        image: name,
        path: targetDir,
        message: `target directory ${JSON.stringify(targetDir)} is not a path`,
      })
    const view = makeImageView(image, options)
    const root = targetDir.length > 1 ? targetDir.replace(/\/+$/, "") : targetDir
    const abs = (rel: string) => (rel === "" ? root : `${root}/${rel}`)
    const escapeError = (path: string, message: string) =>
      new ImageError({ reason: "Escape", image: name, path, message })
    const io = (path: string) => (e: PlatformError) =>
      new ImageError({ reason: "Io", image: name, path, message: `${abs(path)}: ${e.message}` })
    const notDir = (rel: string) =>
      new ImageError({
        reason: "Io",
        image: name,
        path: rel,
        message: `${abs(rel)} exists and is not a directory`,
      })
    const lstat = (rel: string) =>
      fs.lstat(abs(rel)).pipe(
        Effect.map((i): FileSystem.File.Info | undefined => i),
        Effect.catch((e) =>
          e.reason._tag === "NotFound" ? Effect.succeed(undefined) : Effect.fail(io(rel)(e)),
        ),
      )

    // 1. plan: which entries go where
    const tree = yield* view.tree()
    const plan = new Map<string, Item>()
    for (const requested of paths) {
      if (requested.includes("\0"))
        return yield* new ImageError({
          reason: "BadOption",
          image: name,
          path: requested,
          message: "a NUL in a path",
        })
      const segs = segments(requested)
      if (segs.includes(".."))
        return yield* escapeError(
          requested,
          `${requested}: a path with ".." could leave the target directory`,
        )
      const r = resolveInTree(tree, segs.join("/"), false)
      if ("problem" in r)
        return yield* new ImageError({ reason: "NotFound", image: name, path: requested, message: r.problem })
      for (const e of tree.subtree(r.entry.path)) {
        if (!plainRelative(e.path)) return yield* escapeError(e.path, `${e.path}: not a plain relative path`)
        plan.set(e.path, { dest: e.path, entry: e })
      }
    }

    // 2. check every symlink target inside the destination tree (planned entries, then what already exists)
    const linkTarget = (rel: string): Effect.Effect<string | undefined, ImageError> => {
      const planned = plan.get(rel)
      if (planned !== undefined)
        return Effect.succeed(planned.entry.type === "symlink" ? planned.entry.linkName : undefined)
      return Effect.flatMap(lstat(rel), (info) =>
        info?.type === "SymbolicLink"
          ? Effect.mapError(fs.readLink(abs(rel)), io(rel))
          : Effect.succeed(undefined),
      )
    }
    const staysInside = (dest: string, target: string): Effect.Effect<boolean, ImageError> =>
      Effect.gen(function* () {
        if (target.startsWith("/")) return false
        const at = segments(parentPath(dest))
        let todo = target.split("/")
        let hops = 0
        while (todo.length > 0) {
          const c = todo.shift()!
          if (c === "" || c === ".") continue
          if (c === "..") {
            if (at.length === 0) return false
            at.pop()
            continue
          }
          at.push(c)
          const t = yield* linkTarget(at.join("/"))
          if (t !== undefined) {
            if (++hops > MAX_LINKS || t.startsWith("/")) return false
            at.pop()
            todo = [...t.split("/"), ...todo]
          }
        }
        return true
      })
    const skipped: Array<SkippedEntry> = []
    const items: Array<Item> = []
    for (const item of [...plan.values()].sort((a, b) => comparePaths(a.dest, b.dest))) {
      const e = item.entry
      if (e.type === "char" || e.type === "block" || e.type === "fifo") {
        skipped.push({ path: item.dest, type: e.type, reason: "devices and FIFOs are not extracted" })
        continue
      }
      if (e.type === "symlink" && !(yield* staysInside(item.dest, e.linkName))) {
        const message = `${item.dest} -> ${e.linkName} points outside the target directory`
        if (options.unsafeSymlinks === "skip") {
          skipped.push({ path: item.dest, type: e.type, reason: message })
          continue
        }
        return yield* escapeError(item.dest, message)
      }
      items.push(item)
    }

    // 3. write, parents first; never through a symlink
    const safeDirs = new Set<string>([""])
    const ensureDir = (rel: string): Effect.Effect<void, ImageError> =>
      Effect.gen(function* () {
        if (safeDirs.has(rel)) return
        yield* ensureDir(parentPath(rel))
        const info = yield* lstat(rel)
        if (info === undefined) yield* Effect.mapError(fs.makeDirectory(abs(rel), { mode: 0o755 }), io(rel))
        else if (info.type === "SymbolicLink")
          return yield* escapeError(rel, `${abs(rel)} is a symlink: refusing to write through it`)
        else if (info.type !== "Directory") return yield* notDir(rel)
        safeDirs.add(rel)
      })
    const rootInfo = yield* fs.stat(root).pipe(
      Effect.map((i): FileSystem.File.Info | undefined => i),
      Effect.catch((e) =>
        e.reason._tag === "NotFound" ? Effect.succeed(undefined) : Effect.fail(io("")(e)),
      ),
    )
    if (rootInfo === undefined) yield* Effect.mapError(fs.makeDirectory(root, { recursive: true }), io(""))
    else if (rootInfo.type !== "Directory") return yield* notDir("")

    const written: Array<ExtractedEntry> = []
    const dirModes: Array<{ rel: string; mode: number }> = []
    for (const { dest, entry } of items) {
      if (dest === "") continue // the image root is the target directory itself: left as it is
      yield* ensureDir(parentPath(dest))
      const existing = yield* lstat(dest)
      if (entry.type === "dir") {
        if (existing === undefined)
          yield* Effect.mapError(fs.makeDirectory(abs(dest), { mode: 0o700 }), io(dest))
        else if (existing.type === "SymbolicLink")
          return yield* escapeError(dest, `${abs(dest)} is a symlink: refusing to write through it`)
        else if (existing.type !== "Directory") return yield* notDir(dest)
        safeDirs.add(dest)
        dirModes.push({ rel: dest, mode: entry.mode & 0o1777 })
        written.push({ path: dest, type: "dir", size: 0 })
        continue
      }
      if (existing?.type === "Directory")
        return yield* new ImageError({
          reason: "Io",
          image: name,
          path: dest,
          message: `${abs(dest)} is a directory; refusing to replace it with a ${entry.type}`,
        })
      const tmp = tempName(dest)
      const cleanup = Effect.ignore(fs.remove(abs(tmp), { force: true }))
      if (entry.type === "symlink") {
        yield* Effect.mapError(fs.symlink(entry.linkName, abs(tmp)), io(tmp))
        yield* Effect.mapError(fs.rename(abs(tmp), abs(dest)), io(dest)).pipe(Effect.onError(() => cleanup))
        written.push({ path: dest, type: "symlink", size: 0 })
        continue
      }
      // regular file or hardlink: content into an exclusively created temp file, then rename over the destination
      let size = 0
      yield* Effect.scoped(
        Effect.gen(function* () {
          const file = yield* Effect.mapError(
            fs.open(abs(tmp), { flag: "wx", mode: 0o600, noFollow: true }),
            io(tmp),
          )
          yield* view.readContent(entry.path, entry.layer, entry, (bytes) => {
            size += bytes.length
            return Effect.mapError(file.writeAll(bytes), io(tmp))
          })
        }),
      ).pipe(
        Effect.andThen(Effect.mapError(fs.chmod(abs(tmp), entry.mode & 0o1777), io(tmp))),
        Effect.andThen(Effect.mapError(fs.rename(abs(tmp), abs(dest)), io(dest))),
        Effect.onError(() => cleanup),
      )
      written.push({ path: dest, type: "reg", size })
    }
    // directory modes last, deepest first (a read-only directory must not stop its own extraction)
    for (const { rel, mode } of dirModes.sort((a, b) => b.rel.length - a.rel.length))
      yield* Effect.mapError(fs.chmod(abs(rel), mode), io(rel))
    return { written, skipped, cost: view.cost() }
  })
