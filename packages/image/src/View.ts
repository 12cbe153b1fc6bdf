// The lazy image view: TOC, ls and cat of a whole image, served from TOCs and verified chunks for lazy layers
// (eStargz, both zstd:chunked dialects) and from the tar stream for plain layers.
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import {
  type Decompressor,
  Decompressors,
  type GzipEngine,
  type LayerError,
  Sha256,
  type ZstdEngine,
} from "@lazypull/codec"
import {
  makeDecompressor as makeGzipDecompressor,
  type OpenedLayer,
  openLayer,
  readFile as readLayerFile,
  TOC_DIGEST_ANNOTATION,
} from "@lazypull/estargz"
import { type Image, layerReader } from "@lazypull/oci"
import type { RangeReader } from "@lazypull/range"
import { cleanEntryName, EMPTY_DIGEST, parseModtime, type Toc, type TocNode } from "@lazypull/toc"
import {
  makeDecompressor as makeStargzZstdDecompressor,
  makeStorageDecompressor,
  openStorageLayer,
  STORAGE_FORMAT,
  STORAGE_MANIFEST_CHECKSUM_ANNOTATION,
} from "@lazypull/zstd-chunked"
import { ImageError } from "./ImageError.ts"
import {
  classifyEntry,
  comparePaths,
  type ImageTree,
  implicitEntry,
  joinPath,
  type LayerChanges,
  type LayerEntry,
  type LayerOp,
  type LayerArtefact,
  type LayerSummary,
  layerError,
  mergeChanges,
  parentPath,
  scanLayer,
  type TreeEntry,
  type TreeEntryType,
} from "./Tree.ts"

/** What reading cost: ranged reads issued and compressed bytes fetched, summed over the layers' readers. */
export interface ReadCost {
  readonly bytesRead: number
  readonly reads: number
}

/** Options of the image view. */
export interface ViewOptions {
  /** TOC blobs of external-TOC eStargz layers, by layer digest (e.g. from the lead's `externalTocsOf`). */
  readonly externalTocs?: ReadonlyMap<string, Uint8Array>
  /** Layers opened or streamed at once when the whole tree is needed (default 2). */
  readonly concurrency?: number
}

/** How the view serves one layer. */
export type ViewLayer =
  | {
      readonly kind: "lazy"
      readonly index: number
      readonly digest: string
      /** The footer's format: `estargz`, `estargz-external`, `zstd:chunked`, `zstd:chunked/storage`, ... */
      readonly format: string
      readonly opened: OpenedLayer
      /** The TOC was checked against the descriptor's annotation (else it is only self-consistent). */
      readonly tocVerified: boolean
    }
  | {
      readonly kind: "plain"
      readonly index: number
      readonly digest: string
      readonly format: string
      /** Why the layer is streamed instead. */
      readonly reason: string
    }

/** The TOC of one lazy layer. */
export interface LayerToc {
  readonly layer: number
  readonly digest: string
  readonly format: string
  /** sha256 of the TOC JSON (of the compressed TOC frame for containers/storage zstd:chunked). */
  readonly tocDigest: string
  readonly tocVerified: boolean
  /** The TOC JSON exactly as stored. */
  readonly json: Uint8Array
  readonly toc: Toc
}

/** Where a path resolved to, top-down through the layers. */
export interface Resolved {
  /** The path after following symlinks. */
  readonly path: string
  /** The topmost layer holding it. */
  readonly layer: number
  readonly entry: LayerEntry
}

/** The bytes of one file and what fetching them cost. */
export interface FileRead extends Resolved {
  readonly bytes: Uint8Array
  /** Everything the call read: footers, TOCs, streamed plain layers, chunks. */
  readonly cost: ReadCost
  /** The part of `cost` spent on the file's content. */
  readonly fileCost: ReadCost
}

type Requirements = GzipEngine | ZstdEngine | Sha256

const MAX_LINKS = 40
/** Uncompressed bytes fetched per step when reading a lazy file (whole chunks). */
const WINDOW = 8 << 20

const NO_XATTRS: Readonly<Record<string, string>> = Object.freeze({})

/** The LayerEntry of a TOC node (as Tree makes it from a tar header, where the TOC has the field). */
export const entryOfTocNode = (n: TocNode): LayerEntry => {
  const e = n.entry
  const type = n.type as TreeEntryType
  const reg = type === "reg"
  const dev = type === "char" || type === "block"
  const size = reg ? (e.size ?? 0) : 0
  let xattrs = NO_XATTRS
  if (e.xattrs !== undefined) {
    const x: Record<string, string> = {}
    for (const k of Object.keys(e.xattrs).sort(comparePaths)) x[k] = e.xattrs[k]!
    xattrs = x
  }
  return {
    path: n.name,
    type,
    size,
    mode: (e.mode ?? 0) & 0o7777,
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    userName: n.userName ?? "",
    groupName: n.groupName ?? "",
    linkName:
      type === "symlink" ? (e.linkName ?? "") : type === "hardlink" ? cleanEntryName(e.linkName ?? "") : "",
    xattrs,
    // containers/storage leaves the digest of empty files out
    sha256: reg ? (e.digest ?? (size === 0 ? EMPTY_DIGEST : "")) : "",
    devMajor: dev ? (e.devMajor ?? 0) : 0,
    devMinor: dev ? (e.devMinor ?? 0) : 0,
    modtime: e.modtime === undefined ? 0 : (parseModtime(e.modtime) ?? 0),
  }
}

/** A layer's changes read from its TOC (no payload fetched). */
export const tocChanges = (
  opened: OpenedLayer,
  layer: number,
  digest: string,
): { readonly changes: LayerChanges } | { readonly problem: string; readonly path: string } => {
  const ops: Array<LayerOp> = []
  const artefacts: Array<LayerArtefact> = []
  for (const n of opened.index.nodes()) {
    const r = classifyEntry(layer, entryOfTocNode(n))
    if ("problem" in r) return { problem: r.problem, path: n.name }
    if ("artefact" in r) artefacts.push(r.artefact)
    else ops.push(r.op)
  }
  return { changes: { layer, digest, source: "toc", format: opened.footer.format, ops, artefacts } }
}

const WHITEOUT = ".wh."
const OPAQUE = ".wh..wh..opq"

/** What one layer says about a path, for the top-down lookups. */
interface Lookup {
  /** The entry the layer has at `path` (explicit, or an implicit parent directory). */
  entry(path: string): { readonly entry: LayerEntry; readonly implicit: boolean } | undefined
  /** The layer has `.wh.<name>` for `path`. */
  whiteout(path: string): boolean
  /** The layer has `<dir>/.wh..wh..opq`. */
  opaque(dir: string): boolean
}

const whiteoutName = (path: string): string => {
  const i = path.lastIndexOf("/")
  return i < 0 ? `${WHITEOUT}${path}` : `${path.slice(0, i)}/${WHITEOUT}${path.slice(i + 1)}`
}

const tocLookup = (opened: OpenedLayer, layer: number): Lookup => {
  const index = opened.index
  return {
    entry: (path) => {
      const n = index.lookup(path)
      if (n === undefined || n.name !== path) return undefined
      const entry = entryOfTocNode(n)
      const r = classifyEntry(layer, entry)
      if (!("op" in r) || r.op.op !== "entry") return undefined
      return { entry, implicit: n.implicit }
    },
    whiteout: (path) => path !== "" && index.lookup(whiteoutName(path)) !== undefined,
    opaque: (dir) => index.lookup(joinPath(dir, OPAQUE)) !== undefined,
  }
}

const changesLookup = (changes: LayerChanges): Lookup => {
  const entries = new Map<string, LayerEntry>()
  const dirs = new Set<string>()
  const whiteouts = new Set<string>()
  const opaques = new Set<string>()
  const addParents = (path: string) => {
    for (let p = parentPath(path); p !== "" && !dirs.has(p); p = parentPath(p)) dirs.add(p)
  }
  for (const op of changes.ops) {
    if (op.op === "entry") {
      entries.set(op.entry.path, op.entry)
      addParents(op.entry.path)
    } else if (op.op === "whiteout") {
      whiteouts.add(op.path)
      addParents(op.path)
    } else {
      opaques.add(op.path)
      if (op.path !== "") dirs.add(op.path)
      addParents(op.path)
    }
  }
  return {
    entry: (path) => {
      const e = entries.get(path)
      if (e !== undefined) return { entry: e, implicit: false }
      return dirs.has(path) ? { entry: implicitEntry(path), implicit: true } : undefined
    },
    whiteout: (path) => whiteouts.has(path),
    opaque: (dir) => opaques.has(dir),
  }
}

/** Whether layer `v` hides what lower layers have at `path` (whiteout, opaque ancestor, non-directory ancestor). */
const hides = (v: Lookup, path: string): boolean => {
  if (path === "") return false
  if (v.whiteout(path)) return true
  for (let a = parentPath(path); ; a = parentPath(a)) {
    if (v.opaque(a)) return true
    if (a === "") return false
    if (v.whiteout(a)) return true
    const hit = v.entry(a)
    if (hit !== undefined && !hit.implicit && hit.entry.type !== "dir") return true
  }
}

const splitPath = (path: string): Array<string> => path.split("/").filter((s) => s !== "" && s !== ".")

const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (pieces.length === 1) return pieces[0]!
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * Resolves a path in a merged tree, following symlinks in every component but the last (and the last too with
 * `followLast`) the way a chroot would: absolute targets start at the image root, `..` stops at the root.
 * Returns a message when a component is missing or not a directory, or after 40 symlinks.
 *
 * @example
 * resolveInTree(tree, "bin/sh", true) // the entry of usr/bin/dash when bin -> usr/bin and sh -> dash
 */
export const resolveInTree = (
  tree: ImageTree,
  path: string,
  followLast: boolean,
): { readonly entry: TreeEntry } | { readonly problem: string } => {
  let todo = splitPath(path)
  const done: Array<string> = []
  let hops = 0
  let current = tree.get("")!
  while (todo.length > 0) {
    const c = todo.shift()!
    if (c === "..") {
      done.pop()
      current = tree.get(done.join("/"))!
      continue
    }
    const candidate = joinPath(done.join("/"), c)
    const e = tree.get(candidate)
    if (e === undefined) return { problem: `${candidate}: no such file or directory` }
    if (e.type === "symlink" && (todo.length > 0 || followLast)) {
      if (++hops > MAX_LINKS) return { problem: `${path}: more than ${MAX_LINKS} symlinks` }
      if (e.linkName.startsWith("/")) done.length = 0
      todo = [...splitPath(e.linkName), ...todo]
      current = tree.get(done.join("/"))!
      continue
    }
    if (todo.length > 0 && e.type !== "dir") return { problem: `${candidate}: not a directory` }
    done.push(c)
    current = e
  }
  return { entry: current }
}

/**
 * A lazy view of one image: opens each layer's TOC on first use (eStargz, zstd:chunked in both dialects) and falls
 * back to streaming the layers that have none. Caches what it opened, and counts every byte it read.
 *
 * @example
 * const view = makeImageView(image)
 * const { bytes, fileCost } = yield* view.read("etc/os-release")
 */
export class ImageView {
  private readonly readers = new Map<number, RangeReader>()
  private readonly layers = new Map<number, ViewLayer>()
  private readonly changesCache = new Map<number, LayerChanges>()
  private readonly lookups = new Map<number, Lookup>()
  private decompressors: ReadonlyArray<Decompressor> | undefined
  private merged: ImageTree | undefined

  constructor(
    readonly image: Image,
    private readonly options: ViewOptions = {},
  ) {}

  /** What every read through this view cost so far. */
  cost(): ReadCost {
    let bytesRead = 0
    let reads = 0
    for (const r of this.readers.values()) {
      bytesRead += r.stats.bytes
      reads += r.stats.reads
    }
    return { bytesRead, reads }
  }

  private since(before: ReadCost): ReadCost {
    const now = this.cost()
    return { bytesRead: now.bytesRead - before.bytesRead, reads: now.reads - before.reads }
  }

  private reader(index: number): RangeReader {
    let r = this.readers.get(index)
    if (r === undefined) {
      const l = this.image.layers[index]!
      r = layerReader(this.image.source, l.path, l.descriptor.size)
      this.readers.set(index, r)
    }
    return r
  }

  private checkIndex(index: number): Effect.Effect<void, ImageError> {
    return Number.isSafeInteger(index) && index >= 0 && index < this.image.layers.length
      ? Effect.void
      : Effect.fail(
          new ImageError({
            reason: "NotFound",
            image: this.image.source.name,
            message: `the image has ${this.image.layers.length} layers, no layer ${index}`,
          }),
        )
  }

  private decoders(): Effect.Effect<ReadonlyArray<Decompressor>, never, Requirements> {
    const self = this
    return Effect.gen(function* () {
      if (self.decompressors === undefined) {
        const given = yield* Effect.serviceOption(Decompressors)
        self.decompressors = Option.isSome(given)
          ? given.value
          : [
              yield* makeGzipDecompressor(),
              yield* makeStargzZstdDecompressor(),
              yield* makeStorageDecompressor(),
            ]
      }
      return self.decompressors
    })
  }

  /** How layer `index` is served: its opened TOC, or why it is streamed. */
  layer(index: number): Effect.Effect<ViewLayer, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      yield* self.checkIndex(index)
      const known = self.layers.get(index)
      if (known !== undefined) return known
      const vl = yield* self.open(index)
      self.layers.set(index, vl)
      return vl
    })
  }

  private open(index: number): Effect.Effect<ViewLayer, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const image = self.image
      const l = image.layers[index]!
      const digest = l.descriptor.digest
      const ann = l.descriptor.annotations ?? {}
      const name = `layer ${index} (${digest})`
      const reader = self.reader(index)
      const failed = (e: LayerError) =>
        new ImageError({
          reason: e.reason === "Io" ? "Io" : "BadLayer",
          image: image.source.name,
          layer: index,
          digest,
          ...(e.entry !== undefined ? { path: e.entry } : {}),
          message: e.message.startsWith(name) ? e.message : `${name}: ${e.message}`,
        })
      const plain = (reason: string): ViewLayer => ({
        kind: "plain",
        index,
        digest,
        format: l.compression === "none" ? "tar" : l.compression,
        reason,
      })
      if (ann[STORAGE_MANIFEST_CHECKSUM_ANNOTATION] !== undefined) {
        const opened = yield* openStorageLayer(reader, ann, { name }).pipe(Effect.mapError(failed))
        return { kind: "lazy", index, digest, format: STORAGE_FORMAT, opened, tocVerified: true } as const
      }
      if (l.compression === "none") return plain("an uncompressed tar layer has no TOC")
      const tocDigest = ann[TOC_DIGEST_ANNOTATION]
      const externalToc = self.options.externalTocs?.get(digest)
      const ds = yield* self.decoders()
      const r = yield* Effect.result(
        openLayer(reader, {
          name,
          ...(tocDigest !== undefined ? { tocDigest } : {}),
          ...(externalToc !== undefined ? { externalToc } : {}),
        }).pipe(Effect.provideService(Decompressors, ds)),
      )
      if (r._tag === "Success") {
        const opened = r.success
        return {
          kind: "lazy",
          index,
          digest,
          format: opened.footer.format,
          opened,
          tocVerified: tocDigest !== undefined,
        } as const
      }
      const e = r.failure
      if (e.reason === "Io") return yield* failed(e)
      const external = e.reason === "BadToc" && e.message.includes("external") && externalToc === undefined
      if (external) return plain(`the TOC is external and was not given (${e.message})`)
      // a layer that claims a TOC must have a good one; without the claim it is just not lazy
      if (tocDigest !== undefined) return yield* failed(e)
      return plain(`a plain ${l.compression} layer: ${e.message}`)
    })
  }

  /** Layer `index`'s changes: from its TOC when it is lazy, else by streaming it. */
  changes(index: number): Effect.Effect<LayerChanges, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const known = self.changesCache.get(index)
      if (known !== undefined) return known
      const vl = yield* self.layer(index)
      let changes: LayerChanges
      if (vl.kind === "lazy") {
        const r = tocChanges(vl.opened, index, vl.digest)
        if ("problem" in r) return yield* layerError(self.image, index, "BadLayer", r.problem, r.path)
        changes = r.changes
      } else {
        const s = yield* scanLayer(self.image, index, { reader: self.reader(index) })
        changes = {
          layer: s.layer,
          digest: s.digest,
          source: s.source,
          format: s.format,
          ops: s.ops,
          artefacts: s.artefacts,
        }
      }
      self.changesCache.set(index, changes)
      return changes
    })
  }

  private lookup(index: number): Effect.Effect<Lookup, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const known = self.lookups.get(index)
      if (known !== undefined) return known
      const vl = yield* self.layer(index)
      const v = vl.kind === "lazy" ? tocLookup(vl.opened, index) : changesLookup(yield* self.changes(index))
      self.lookups.set(index, v)
      return v
    })
  }

  /** The merged tree, from every layer's TOC (or stream). */
  tree(): Effect.Effect<ImageTree, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      if (self.merged !== undefined) return self.merged
      const all = yield* Effect.forEach(self.image.layers, (_, i) => self.changes(i), {
        concurrency: self.options.concurrency ?? 2,
      })
      self.merged = mergeChanges(all)
      return self.merged
    })
  }

  /** The TOC of layer `index`; NotLazy for a layer without one. */
  toc(index: number): Effect.Effect<LayerToc, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const vl = yield* self.layer(index)
      if (vl.kind === "plain")
        return yield* layerError(self.image, index, "NotLazy", `no TOC to serve: ${vl.reason}`)
      return {
        layer: index,
        digest: vl.digest,
        format: vl.format,
        tocDigest: vl.opened.tocDigest,
        tocVerified: vl.tocVerified,
        json: vl.opened.tocJson,
        toc: vl.opened.toc,
      }
    })
  }

  /**
   * The merged entries: all of them without a path; a directory's children; the entry itself for anything else.
   * Symlinks in the path are followed except in its last component.
   */
  list(path?: string): Effect.Effect<ReadonlyArray<TreeEntry>, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const tree = yield* self.tree()
      if (path === undefined) return tree.entries
      const r = resolveInTree(tree, cleanEntryName(path), false)
      if ("problem" in r) return yield* self.notFound(path, r.problem)
      return r.entry.type === "dir" ? tree.children(r.entry.path)! : [r.entry]
    })
  }

  private notFound(path: string, message: string): ImageError {
    return new ImageError({ reason: "NotFound", image: this.image.source.name, path, message })
  }

  /**
   * The topmost layer at or below `top` that has `path` (undefined when absent or hidden by a higher layer); with
   * `anyDir` an implicit directory (a parent some layer's entries imply) ends the search.
   */
  private lookupAt(
    path: string,
    top: number,
    anyDir = false,
  ): Effect.Effect<
    { entry: LayerEntry; layer: number; implicit: boolean } | undefined,
    ImageError,
    Requirements
  > {
    const self = this
    return Effect.gen(function* () {
      let implicit: { entry: LayerEntry; layer: number; implicit: boolean } | undefined
      for (let L = top; L >= 0; L--) {
        const v = yield* self.lookup(L)
        const hit = v.entry(path)
        if (hit !== undefined && !hit.implicit) return { entry: hit.entry, layer: L, implicit: false }
        if (hit !== undefined && implicit === undefined) {
          implicit = { entry: hit.entry, layer: L, implicit: true }
          // a directory on the way: that it is one is enough, its metadata is not needed
          if (anyDir) return implicit
        }
        if (hides(v, path)) break
      }
      if (implicit === undefined && path === "")
        return { entry: implicitEntry(""), layer: -1, implicit: true }
      return implicit
    })
  }

  /**
   * Resolves a path top-down through the layers, opening only the layers it needs from the top: whiteouts and
   * opaque directories hide lower layers, symlinks are followed in every component (and in the last one with
   * `followLast`) inside the image, as {@link resolveInTree} does.
   */
  resolve(path: string, followLast = true): Effect.Effect<Resolved, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const top = self.image.layers.length - 1
      let todo = splitPath(cleanEntryName(path))
      const done: Array<string> = []
      let hops = 0
      // what `done` names, when known (looked up again at the end after a `..` or a symlink)
      let current: { entry: LayerEntry; layer: number } | undefined
      while (todo.length > 0) {
        const c = todo.shift()!
        if (c === "..") {
          done.pop()
          current = undefined
          continue
        }
        const candidate = joinPath(done.join("/"), c)
        const found = yield* self.lookupAt(candidate, top, todo.length > 0)
        if (found === undefined) return yield* self.notFound(path, `${candidate}: no such file or directory`)
        const e = found.entry
        if (e.type === "symlink" && (todo.length > 0 || followLast)) {
          if (++hops > MAX_LINKS)
            return yield* self.notFound(path, `${path}: more than ${MAX_LINKS} symlinks`)
          if (e.linkName.startsWith("/")) done.length = 0
          todo = [...splitPath(e.linkName), ...todo]
          current = undefined
          continue
        }
        if (todo.length > 0 && e.type !== "dir")
          return yield* self.notFound(path, `${candidate}: not a directory`)
        done.push(c)
        current = found
      }
      if (current === undefined) current = yield* self.lookupAt(done.join("/"), top)
      if (current === undefined) return yield* self.notFound(path, `${path}: no such file or directory`)
      return { path: done.join("/"), layer: current.layer, entry: current.entry }
    })
  }

  /**
   * Streams the content of a regular file or hardlink that layer `layer` has at `path` to `sink`: verified chunks
   * of a lazy layer (whole chunks, at most 8 MiB at a time), or the file out of the streamed tar of a plain one.
   * The whole-file sha256 is checked against the entry's at the end.
   */
  readContent(
    path: string,
    layer: number,
    entry: LayerEntry,
    sink: (bytes: Uint8Array) => Effect.Effect<void, ImageError>,
  ): Effect.Effect<void, ImageError, Requirements> {
    return this.content(path, layer, entry, sink, 0)
  }

  private content(
    path: string,
    layer: number,
    entry: LayerEntry,
    sink: (bytes: Uint8Array) => Effect.Effect<void, ImageError>,
    depth: number,
  ): Effect.Effect<void, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const image = self.image
      if (entry.type === "hardlink") {
        if (depth >= MAX_LINKS) return yield* self.notFound(path, `${path}: more than ${MAX_LINKS} hardlinks`)
        const target = entry.linkName
        const here = (yield* self.lookup(layer)).entry(target)
        if (here !== undefined && !here.implicit)
          return yield* self.content(target, layer, here.entry, sink, depth + 1)
        // a link to a file of a lower layer
        const lower = layer > 0 ? yield* self.lookupAt(target, layer - 1) : undefined
        if (lower === undefined || lower.implicit)
          return yield* self.notFound(path, `${path}: hardlink target ${target} is not in the image`)
        return yield* self.content(target, lower.layer, lower.entry, sink, depth + 1)
      }
      if (entry.type !== "reg")
        return yield* self.notFound(path, `${path} is a ${entry.type}, not a regular file`)
      const vl = yield* self.layer(layer)
      const h = (yield* Sha256).make()
      if (vl.kind === "lazy") {
        const opened = vl.opened
        const node = opened.index.lookup(path)
        const chunks = node?.target?.chunks ?? node?.chunks ?? []
        const failed = (e: LayerError) =>
          layerError(image, layer, e.reason === "Io" ? "Io" : "BadLayer", e.message, path)
        let start = 0
        for (let i = 0; i < chunks.length; i++) {
          const c = chunks[i]!
          const end = c.chunkOffset + c.chunkSize
          if (end - start < WINDOW && i < chunks.length - 1) continue
          const bytes = yield* readLayerFile(opened, path, { offset: start, length: end - start }).pipe(
            Effect.mapError(failed),
          )
          h.update(bytes)
          yield* sink(bytes)
          start = end
        }
      } else {
        const scan = yield* scanLayer(image, layer, { reader: self.reader(layer), capture: new Set([path]) })
        const bytes = scan.captured.get(path)
        if (bytes === undefined)
          return yield* layerError(
            image,
            layer,
            "BadLayer",
            `${path} is not in the tar stream any more`,
            path,
          )
        h.update(bytes)
        yield* sink(bytes)
      }
      const got = `sha256:${h.hex()}`
      if (entry.sha256 !== "" && got !== entry.sha256)
        return yield* layerError(
          image,
          layer,
          "BadLayer",
          `${path} has content ${got}, want ${entry.sha256}`,
          path,
        )
    })
  }

  /**
   * Reads a file of the merged image: resolves it top-down (whiteouts, opaque dirs, symlinks), then fetches it
   * from the topmost layer that has it, verifying every chunk and the whole file.
   */
  read(path: string): Effect.Effect<FileRead, ImageError, Requirements> {
    const self = this
    return Effect.gen(function* () {
      const before = self.cost()
      const r = yield* self.resolve(path, true)
      if (r.entry.type === "dir") return yield* self.notFound(path, `${r.path || "/"} is a directory`)
      const fileBefore = self.cost()
      const pieces: Array<Uint8Array> = []
      yield* self.readContent(r.path, r.layer, r.entry, (b) => Effect.sync(() => void pieces.push(b)))
      const bytes = pieces.length === 0 ? new Uint8Array(0) : concat(pieces)
      return { ...r, bytes, cost: self.since(before), fileCost: self.since(fileBefore) }
    })
  }
}

/**
 * Makes a lazy view of an image (nothing is read until it is used).
 *
 * @example
 * const view = makeImageView(image, { externalTocs })
 */
export const makeImageView = (image: Image, options: ViewOptions = {}): ImageView =>
  new ImageView(image, options)

/**
 * The TOC JSON of one layer, served from the layer's footer and TOC only; NotLazy for a plain layer.
 *
 * @example
 * const { json, tocDigest, cost } = yield* imageToc(image, 0)
 */
export const imageToc = (
  image: Image,
  layerIndex: number,
  options: ViewOptions = {},
): Effect.Effect<LayerToc & { readonly cost: ReadCost }, ImageError, Requirements> =>
  Effect.suspend(() => {
    const view = makeImageView(image, options)
    return Effect.map(view.toc(layerIndex), (t) => ({ ...t, cost: view.cost() }))
  })

/** What {@link listImage} returns. */
export interface ImageListing {
  readonly entries: ReadonlyArray<TreeEntry>
  /** How each layer was read (TOC or stream) and what it contributed. */
  readonly layers: ReadonlyArray<LayerSummary>
  readonly artefacts: ReadonlyArray<LayerArtefact>
  readonly cost: ReadCost
}

/**
 * The merged listing of an image (whole tree, or one directory, or one entry), from the TOCs of lazy layers and
 * the streams of plain ones, with the same entry fields as {@link imageTree} where the TOC has them.
 *
 * @example
 * const { entries, cost } = yield* listImage(image, "etc")
 */
export const listImage = (
  image: Image,
  path?: string,
  options: ViewOptions = {},
): Effect.Effect<ImageListing, ImageError, Requirements> =>
  Effect.suspend(() => {
    const view = makeImageView(image, options)
    return Effect.gen(function* () {
      const entries = yield* view.list(path)
      const tree = yield* view.tree()
      return { entries, layers: tree.layers, artefacts: tree.artefacts, cost: view.cost() }
    })
  })

/**
 * Reads one file of the merged image lazily: only the TOCs of the layers down to the one that has it, and the
 * file's chunks (verified), are fetched; a plain layer on the way is streamed.
 *
 * @example
 * const { bytes, cost } = yield* readImageFile(image, "/etc/os-release") // cost.reads, cost.bytesRead
 */
export const readImageFile = (
  image: Image,
  path: string,
  options: ViewOptions = {},
): Effect.Effect<FileRead, ImageError, Requirements> =>
  Effect.suspend(() => makeImageView(image, options).read(path))
