// The merged file tree of an image: every layer streamed once as a tar (whatever its compression) and applied
// the way a container runtime applies layers (later layers win, whiteouts, opaque dirs, implicit parents).
import * as Effect from "effect/Effect"
import {
  type CodecError,
  concatBytes,
  GzipEngine,
  type GzipInflater,
  Sha256,
  type Sha256Hasher,
  ZstdEngine,
} from "@lazypull/codec"
import { type Image, layerReader } from "@lazypull/oci"
import type { RangeReader, RangeReadError } from "@lazypull/range"
import { type TarHeader, TarParser } from "@lazypull/tar"
import {
  cleanEntryName,
  entryTypeOf,
  LANDMARK_DIGEST,
  LANDMARK_NO_PREFETCH,
  LANDMARK_PREFETCH,
  TOC_FILE_NAME,
} from "@lazypull/toc"
import { base64Encode } from "@lazypull/zstd-chunked"
import { ImageError } from "./ImageError.ts"

/** The file types of a merged tree (the TOC `type` names, without `chunk`). */
export type TreeEntryType = "reg" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo"

/** One entry as a single layer has it, before merging. */
export interface LayerEntry {
  /** Normalised path: no leading `./` or `/`, no trailing `/`, `..` applied (`""` is the root). */
  readonly path: string
  readonly type: TreeEntryType
  /** Content size for `reg` (and, once merged, for a hardlink: its target's); 0 otherwise. */
  readonly size: number
  /** Permission bits plus setuid/setgid/sticky (`mode & 0o7777`). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Owner names as the layer records them (not compared by diff). */
  readonly userName: string
  readonly groupName: string
  /** Symlink: the raw target. Hardlink: the normalised path of the target. `""` otherwise. */
  readonly linkName: string
  /** xattr name → standard base64 of the raw value, keys sorted. */
  readonly xattrs: Readonly<Record<string, string>>
  /** `sha256:<hex>` of the content of a `reg` (and, once merged, of a hardlink's target); `""` otherwise. */
  readonly sha256: string
  readonly devMajor: number
  readonly devMinor: number
  /** Unix seconds (a TOC rounds them to whole seconds); 0 when unknown or the epoch. */
  readonly modtime: number
}

/** One entry of the merged tree. */
export interface TreeEntry extends LayerEntry {
  /** Index of the topmost layer that provides this entry (-1 for a root nobody listed). */
  readonly layer: number
  /** A directory no layer listed, made for its children (mode 0755, owner 0:0, as runtimes do). */
  readonly implicit: boolean
}

/** What one layer does to the tree, in stream order. */
export type LayerOp =
  | { readonly op: "entry"; readonly entry: LayerEntry }
  /** `.wh.NAME`: deletes NAME and its subtree from lower layers. */
  | { readonly op: "whiteout"; readonly path: string }
  /** `.wh..wh..opq`: hides what lower layers put in this directory. */
  | { readonly op: "opaque"; readonly path: string }

/** A file a converter adds that is not image content. */
export interface LayerArtefact {
  readonly layer: number
  readonly path: string
  /** `.prefetch.landmark`, `.no.prefetch.landmark`, or the in-tar eStargz TOC `stargz.index.json`. */
  readonly kind: "prefetch-landmark" | "no-prefetch-landmark" | "toc"
  readonly size: number
  readonly sha256: string
}

/** Everything one layer changes, read from its tar stream or its TOC. */
export interface LayerChanges {
  readonly layer: number
  readonly digest: string
  /** Where the changes came from: the decompressed tar stream or the layer's TOC. */
  readonly source: "stream" | "toc"
  /** `tar`, `gzip` or `zstd` for a stream; the lazy format (`estargz`, `zstd:chunked`, ...) for a TOC. */
  readonly format: string
  readonly ops: ReadonlyArray<LayerOp>
  readonly artefacts: ReadonlyArray<LayerArtefact>
}

/** Per-layer counts of a merged tree. */
export interface LayerSummary {
  readonly layer: number
  readonly digest: string
  readonly source: "stream" | "toc"
  readonly format: string
  readonly entries: number
  readonly whiteouts: number
  readonly opaqueDirs: number
  readonly artefacts: number
}

/**
 * Orders paths by Unicode code point (the order of their UTF-8 bytes, as Go sorts), not by UTF-16 unit.
 *
 * @example
 * ["b", "a/c", "a"].sort(comparePaths) // ["a", "a/c", "b"]
 */
export const comparePaths = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      // a surrogate (U+D800..DFFF) encodes a code point above every BMP unit it might be compared with
      const xs = x >= 0xd800 && x <= 0xdfff
      const ys = y >= 0xd800 && y <= 0xdfff
      if (xs !== ys) return xs ? 1 : -1
      return x - y
    }
  }
  return a.length - b.length
}

/** The parent of a normalised path (`""` for top-level names and the root). */
export const parentPath = (path: string): string => {
  const i = path.lastIndexOf("/")
  return i < 0 ? "" : path.slice(0, i)
}

/** `dir/name`, or `name` under the root. */
export const joinPath = (dir: string, name: string): string => (dir === "" ? name : `${dir}/${name}`)

const WHITEOUT = ".wh."
const OPAQUE = ".wh..wh..opq"

const ARTEFACT_OF: Readonly<Record<string, LayerArtefact["kind"]>> = {
  [LANDMARK_PREFETCH]: "prefetch-landmark",
  [LANDMARK_NO_PREFETCH]: "no-prefetch-landmark",
}

/** What an entry is: an op, a converter artefact, or a problem (a message). */
export const classifyEntry = (
  layer: number,
  e: LayerEntry,
): { readonly op: LayerOp } | { readonly artefact: LayerArtefact } | { readonly problem: string } => {
  const path = e.path
  if (path === "") {
    return e.type === "dir" ? { op: { op: "entry", entry: e } } : { problem: `the root entry is a ${e.type}` }
  }
  const slash = path.lastIndexOf("/")
  const base = slash < 0 ? path : path.slice(slash + 1)
  if (base.startsWith(WHITEOUT)) {
    const dir = slash < 0 ? "" : path.slice(0, slash)
    if (base === OPAQUE) return { op: { op: "opaque", path: dir } }
    const name = base.slice(WHITEOUT.length)
    if (name === "" || name === "." || name === "..") return { problem: `${path} is not a valid whiteout` }
    return { op: { op: "whiteout", path: joinPath(dir, name) } }
  }
  if (slash < 0 && e.type === "reg") {
    const kind = ARTEFACT_OF[base]
    if (kind !== undefined && e.sha256 === LANDMARK_DIGEST)
      return { artefact: { layer, path, kind, size: e.size, sha256: e.sha256 } }
  }
  return { op: { op: "entry", entry: e } }
}

const sortedXattrs = (m: ReadonlyMap<string, Uint8Array>): Readonly<Record<string, string>> => {
  if (m.size === 0) return NO_XATTRS
  const out: Record<string, string> = {}
  for (const k of [...m.keys()].sort(comparePaths)) out[k] = base64Encode(m.get(k)!)
  return out
}
const NO_XATTRS: Readonly<Record<string, string>> = Object.freeze({})

/** The LayerEntry of a tar header (sha256 of a regular file's content passed in). */
const entryOfHeader = (h: TarHeader, path: string, type: TreeEntryType, sha256: string): LayerEntry => ({
  path,
  type,
  size: type === "reg" ? h.size : 0,
  mode: h.mode & 0o7777,
  uid: h.uid,
  gid: h.gid,
  userName: h.uname,
  groupName: h.gname,
  linkName: type === "symlink" ? h.linkname : type === "hardlink" ? cleanEntryName(h.linkname) : "",
  xattrs: sortedXattrs(h.xattrs),
  sha256,
  devMajor: type === "char" || type === "block" ? h.devmajor : 0,
  devMinor: type === "char" || type === "block" ? h.devminor : 0,
  modtime: h.mtime,
})

interface Current {
  readonly header: TarHeader
  readonly path: string
  readonly type: TreeEntryType
  readonly hash: Sha256Hasher | undefined
  readonly pieces: Array<Uint8Array> | undefined
}

/**
 * Turns a tar stream into layer ops, synchronously: push decompressed bytes, then `end()`. Regular files are
 * hashed as their bytes pass; only the paths in `capture` are kept.
 */
class Collector {
  private readonly parser = new TarParser()
  readonly ops: Array<LayerOp> = []
  readonly artefacts: Array<LayerArtefact> = []
  readonly captured = new Map<string, Uint8Array>()
  problem: { readonly message: string; readonly path?: string } | undefined
  private cur: Current | undefined
  /** A root `stargz.index.json`: an artefact if it is the last entry, else content. */
  private tocCandidate: LayerEntry | undefined

  constructor(
    private readonly sha: Sha256["Service"],
    private readonly layer: number,
    private readonly capture: ReadonlySet<string> | undefined,
  ) {}

  push(bytes: Uint8Array): boolean {
    this.parser.push(bytes)
    return this.drain()
  }

  end(): boolean {
    this.parser.end()
    return this.drain()
  }

  private drain(): boolean {
    const p = this.parser
    for (let ev = p.next(); ev !== undefined; ev = p.next()) {
      switch (ev._tag) {
        case "Entry":
          if (!this.close()) return false
          if (!this.open(ev.header, ev.offset)) return false
          break
        case "Data": {
          const c = this.cur
          if (c !== undefined) {
            c.hash?.update(ev.bytes)
            c.pieces?.push(ev.bytes.slice())
          }
          break
        }
        case "End":
          if (!this.close()) return false
          if (this.tocCandidate !== undefined) {
            const t = this.tocCandidate
            this.artefacts.push({
              layer: this.layer,
              path: t.path,
              kind: "toc",
              size: t.size,
              sha256: t.sha256,
            })
            this.tocCandidate = undefined
          }
          break
        case "Error":
          this.problem = {
            message: `not a valid tar at offset ${ev.error.offset} of the decompressed stream: ${ev.error.message}`,
            ...(ev.error.entry !== "" ? { path: ev.error.entry } : {}),
          }
          return false
        default:
          break
      }
    }
    return true
  }

  private open(h: TarHeader, offset: number): boolean {
    const type = entryTypeOf(h.typeflag)
    if (type === undefined || type === "chunk") {
      this.problem = {
        message: `entry at offset ${offset} has typeflag ${JSON.stringify(h.typeflag)}`,
        path: h.name,
      }
      return false
    }
    const path = cleanEntryName(h.name)
    const reg = type === "reg"
    this.cur = {
      header: h,
      path,
      type,
      hash: reg ? this.sha.make() : undefined,
      pieces: reg && this.capture?.has(path) === true ? [] : undefined,
    }
    return true
  }

  private close(): boolean {
    const c = this.cur
    if (c === undefined) return true
    this.cur = undefined
    if (this.tocCandidate !== undefined) {
      // something follows it: a file that happens to be called stargz.index.json
      this.ops.push({ op: "entry", entry: this.tocCandidate })
      this.tocCandidate = undefined
    }
    const sha256 = c.hash === undefined ? "" : `sha256:${c.hash.hex()}`
    if (c.pieces !== undefined) this.captured.set(c.path, concatBytes(c.pieces, c.header.size))
    const e = entryOfHeader(c.header, c.path, c.type, sha256)
    if (c.path === TOC_FILE_NAME && c.type === "reg") {
      this.tocCandidate = e
      return true
    }
    const r = classifyEntry(this.layer, e)
    if ("problem" in r) {
      this.problem = { message: r.problem, path: c.header.name }
      return false
    }
    if ("artefact" in r) this.artefacts.push(r.artefact)
    else this.ops.push(r.op)
    return true
  }
}

/** Options of {@link scanLayer}. */
export interface ScanOptions {
  /** Read the blob through this reader (its stats then count the bytes), instead of a fresh one. */
  readonly reader?: RangeReader
  /** Normalised paths whose content (of their last occurrence) is kept in `captured`. */
  readonly capture?: ReadonlySet<string>
}

/** What {@link scanLayer} read: the layer's changes, plus the captured file contents. */
export interface LayerScan extends LayerChanges {
  readonly captured: ReadonlyMap<string, Uint8Array>
  /** Bytes of the decompressed tar stream. */
  readonly uncompressedSize: number
}

/** Bytes read from the blob per step. */
const READ_BLOCK = 1 << 20

type Compression = "tar" | "gzip" | "zstd"

/** The compression of a blob from its first bytes (gzip, zstd frame or skippable frame, else tar). */
const sniff = (head: Uint8Array): Compression => {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip"
  if (
    head.length >= 4 &&
    head[1] === 0x2a &&
    head[2] === 0x4d &&
    head[3] === 0x18 &&
    (head[0]! & 0xf0) === 0x50
  )
    return "zstd"
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return "zstd"
  return "tar"
}

const layerContext = (image: Image, index: number) => ({
  image: image.source.name,
  layer: index,
  digest: image.layers[index]?.descriptor.digest,
})

/** An ImageError about layer `index` of `image`. */
export const layerError = (
  image: Image,
  index: number,
  reason: ImageError["reason"],
  message: string,
  path?: string,
): ImageError =>
  new ImageError({
    reason,
    ...layerContext(image, index),
    ...(path !== undefined ? { path } : {}),
    message: `layer ${index} (${image.layers[index]?.descriptor.digest ?? "?"}): ${message}`,
  })

/**
 * Streams one layer once as a tar, whatever its compression (tar, gzip, eStargz, zstd, zstd:chunked: detected
 * from its first bytes), through the engines' streaming inflaters, hashing every regular file on the way.
 * Memory stays bounded by the read block and inflater buffers, plus the captured files.
 *
 * @example
 * const scan = yield* scanLayer(image, 0) // scan.ops: entries, whiteouts and opaque dirs in stream order
 */
export const scanLayer = (
  image: Image,
  index: number,
  options: ScanOptions = {},
): Effect.Effect<LayerScan, ImageError, GzipEngine | ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const layer = image.layers[index]
    if (layer === undefined)
      return yield* new ImageError({
        reason: "NotFound",
        image: image.source.name,
        layer: index,
        message: `the image has ${image.layers.length} layers, no layer ${index}`,
      })
    const reader = options.reader ?? layerReader(image.source, layer.path, layer.descriptor.size)
    const ioFailure = (e: RangeReadError) => layerError(image, index, "Io", e.message)
    const size = reader.size
    const first =
      size === 0
        ? new Uint8Array(0)
        : yield* reader.readAt(0, Math.min(READ_BLOCK, size)).pipe(Effect.mapError(ioFailure))
    const compression = sniff(first)
    let inflater: GzipInflater | undefined
    const codecFailure = (off: number) => (e: CodecError) =>
      layerError(
        image,
        index,
        "BadLayer",
        `${compression} stream does not decode near offset ${off}: ${e.message}`,
      )
    if (compression === "gzip")
      inflater = yield* (yield* GzipEngine).inflater().pipe(Effect.mapError(codecFailure(0)))
    else if (compression === "zstd")
      inflater = yield* (yield* ZstdEngine).inflater().pipe(Effect.mapError(codecFailure(0)))
    const c = new Collector(yield* Sha256, index, options.capture)
    let total = 0
    const bad = () =>
      layerError(image, index, "BadLayer", c.problem?.message ?? "bad tar stream", c.problem?.path)
    const feed = (outs: ReadonlyArray<Uint8Array>): boolean => {
      for (const o of outs) {
        total += o.length
        if (!c.push(o)) return false
      }
      return true
    }
    for (let off = 0; off < size; off += READ_BLOCK) {
      const block =
        off === 0
          ? first
          : yield* reader.readAt(off, Math.min(READ_BLOCK, size - off)).pipe(Effect.mapError(ioFailure))
      const outs =
        inflater === undefined
          ? [block]
          : yield* inflater.push(block).pipe(Effect.mapError(codecFailure(off)))
      if (!feed(outs)) return yield* bad()
    }
    if (inflater !== undefined && !feed(yield* inflater.end().pipe(Effect.mapError(codecFailure(size)))))
      return yield* bad()
    if (!c.end()) return yield* bad()
    return {
      layer: index,
      digest: layer.descriptor.digest,
      source: "stream",
      format: compression,
      ops: c.ops,
      artefacts: c.artefacts,
      captured: c.captured,
      uncompressedSize: total,
    } satisfies LayerScan
  })

// ---- merging ----

class Node {
  kids: Map<string, Node> | undefined
  constructor(
    public entry: TreeEntry,
    public parent: Node | undefined,
  ) {
    this.kids = entry.type === "dir" ? new Map() : undefined
  }
}

const baseName = (path: string): string => path.slice(path.lastIndexOf("/") + 1)

/** The entry of a directory no layer lists (mode 0755, owner 0:0, as runtimes make it). */
export const implicitEntry = (path: string): LayerEntry => ({
  path,
  type: "dir",
  size: 0,
  mode: 0o755,
  uid: 0,
  gid: 0,
  userName: "",
  groupName: "",
  linkName: "",
  xattrs: NO_XATTRS,
  sha256: "",
  devMajor: 0,
  devMinor: 0,
  modtime: 0,
})

const implicitDir = (path: string, layer: number): TreeEntry => ({
  ...implicitEntry(path),
  layer,
  implicit: true,
})

/** Applies layers' ops in order, as a runtime unpacks them onto one directory. */
class TreeBuilder {
  private readonly nodes = new Map<string, Node>()
  private readonly root: Node
  readonly summaries: Array<LayerSummary> = []
  readonly artefacts: Array<LayerArtefact> = []

  constructor() {
    this.root = new Node(implicitDir("", -1), undefined)
    this.nodes.set("", this.root)
  }

  apply(changes: LayerChanges): void {
    const L = changes.layer
    let entries = 0
    let whiteouts = 0
    let opaque = 0
    for (const op of changes.ops) {
      if (op.op === "entry") {
        entries++
        this.put(op.entry, L)
      } else if (op.op === "whiteout") {
        whiteouts++
        const n = this.nodes.get(op.path)
        if (n !== undefined && n !== this.root) this.removeLower(n, L)
      } else {
        opaque++
        const d = this.ensureDir(op.path, L)
        for (const kid of [...d.kids!.values()]) this.removeLower(kid, L)
      }
    }
    for (const a of changes.artefacts) this.artefacts.push(a)
    this.summaries.push({
      layer: L,
      digest: changes.digest,
      source: changes.source,
      format: changes.format,
      entries,
      whiteouts,
      opaqueDirs: opaque,
      artefacts: changes.artefacts.length,
    })
  }

  private put(e: LayerEntry, L: number): void {
    let entry: TreeEntry
    if (e.type === "hardlink") {
      // the link shares its target's inode: record the content it has now (later layers may replace the target)
      const t = this.nodes.get(e.linkName)?.entry
      const has = t !== undefined && (t.type === "reg" || t.type === "hardlink")
      entry = { ...e, size: has ? t.size : 0, sha256: has ? t.sha256 : "", layer: L, implicit: false }
    } else entry = { ...e, layer: L, implicit: false }
    if (e.path === "") {
      this.root.entry = entry
      return
    }
    const existing = this.nodes.get(e.path)
    if (existing !== undefined && existing.entry.type === "dir" && e.type === "dir") {
      existing.entry = entry // a directory over a directory keeps the contents
      return
    }
    const parent = this.ensureDir(parentPath(e.path), L)
    if (existing !== undefined) this.removeSubtree(existing)
    const n = new Node(entry, parent)
    parent.kids!.set(baseName(e.path), n)
    this.nodes.set(e.path, n)
  }

  /** The directory at `path`, made (implicit, owned by layer L) where missing; a non-directory there is replaced. */
  private ensureDir(path: string, L: number): Node {
    const n = this.nodes.get(path)
    if (n !== undefined && n.kids !== undefined) return n
    const parent = this.ensureDir(parentPath(path), L)
    if (n !== undefined) this.removeSubtree(n)
    const d = new Node(implicitDir(path, L), parent)
    parent.kids!.set(baseName(path), d)
    this.nodes.set(path, d)
    return d
  }

  private removeSubtree(n: Node): void {
    n.parent?.kids?.delete(baseName(n.entry.path))
    const stack = [n]
    while (stack.length > 0) {
      const x = stack.pop()!
      this.nodes.delete(x.entry.path)
      if (x.kids !== undefined) for (const k of x.kids.values()) stack.push(k)
    }
  }

  /** Deletes what lower layers put at and under `n`; what layer L itself wrote there stays (OCI whiteout rule). */
  private removeLower(n: Node, L: number): void {
    if (n.entry.layer < L && !this.hasLayer(n, L)) {
      this.removeSubtree(n)
      return
    }
    const kept: Array<Node> = []
    const stack = [n]
    while (stack.length > 0) {
      const x = stack.pop()!
      if (x.kids !== undefined) for (const k of x.kids.values()) stack.push(k)
      if (x.entry.layer < L) {
        x.parent?.kids?.delete(baseName(x.entry.path))
        this.nodes.delete(x.entry.path)
      } else kept.push(x)
    }
    // re-attach what stayed, parents first, under (implicit) parents where theirs went away
    kept.sort((a, b) => a.entry.path.length - b.entry.path.length)
    for (const x of kept) {
      const p = x.parent
      if (p !== undefined && this.nodes.get(p.entry.path) === p) continue
      const parent = this.ensureDir(parentPath(x.entry.path), L)
      parent.kids!.set(baseName(x.entry.path), x)
      x.parent = parent
    }
  }

  private hasLayer(n: Node, L: number): boolean {
    const stack = [n]
    while (stack.length > 0) {
      const x = stack.pop()!
      if (x.entry.layer >= L) return true
      if (x.kids !== undefined) for (const k of x.kids.values()) stack.push(k)
    }
    return false
  }

  finish(): ImageTree {
    const entries: Array<TreeEntry> = []
    for (const n of this.nodes.values()) entries.push(n.entry)
    entries.sort((a, b) => comparePaths(a.path, b.path))
    return new ImageTree(entries, this.summaries, this.artefacts)
  }
}

/** The merged file tree of an image (or of its first layers), sorted by path. */
export class ImageTree {
  private readonly byPath = new Map<string, TreeEntry>()
  private readonly kids = new Map<string, Array<TreeEntry>>()

  constructor(
    /** Every entry, root (`""`) first, sorted by {@link comparePaths}. */
    readonly entries: ReadonlyArray<TreeEntry>,
    /** What each layer contributed, base first. */
    readonly layers: ReadonlyArray<LayerSummary>,
    /** Converter artefacts (landmarks, in-tar TOC), which are not part of the tree. */
    readonly artefacts: ReadonlyArray<LayerArtefact>,
  ) {
    for (const e of entries) {
      this.byPath.set(e.path, e)
      if (e.type === "dir") this.kids.set(e.path, [])
      if (e.path !== "") this.kids.get(parentPath(e.path))?.push(e)
    }
  }

  /** The entry at a path (normalised first, so `/etc/` finds `etc`). */
  get(path: string): TreeEntry | undefined {
    return this.byPath.get(cleanEntryName(path))
  }

  /** A directory's children sorted by name; undefined when the path is not a directory. */
  children(path: string): ReadonlyArray<TreeEntry> | undefined {
    return this.kids.get(cleanEntryName(path))
  }

  /** The entry at a path and everything under it, parents before children; empty when the path is absent. */
  subtree(path: string): ReadonlyArray<TreeEntry> {
    const top = this.get(path)
    if (top === undefined) return []
    const out: Array<TreeEntry> = []
    const stack: Array<TreeEntry> = [top]
    while (stack.length > 0) {
      const e = stack.pop()!
      out.push(e)
      const k = this.kids.get(e.path)
      if (k !== undefined) for (let i = k.length - 1; i >= 0; i--) stack.push(k[i]!)
    }
    return out
  }
}

/**
 * Merges layer changes (base first) into one tree: later layers override, `.wh.NAME` deletes NAME and its subtree
 * from lower layers, `.wh..wh..opq` empties a directory of what lower layers put there, missing parents become
 * implicit directories, a directory replaced by a file loses its subtree, a hardlink records its target's content.
 *
 * @example
 * const tree = mergeChanges([yield* scanLayer(image, 0), yield* scanLayer(image, 1)])
 */
export const mergeChanges = (changes: ReadonlyArray<LayerChanges>): ImageTree => {
  const b = new TreeBuilder()
  for (const c of changes) b.apply(c)
  return b.finish()
}

/** Options of {@link imageTree}. */
export interface TreeOptions {
  /** Layers streamed at once (default 2; the merge itself is always in layer order). */
  readonly concurrency?: number
}

/**
 * The merged file tree of an image, as a container runtime would unpack it: every layer streamed once (tar, gzip,
 * eStargz, zstd, zstd:chunked), regular files hashed on the way, converter artefacts reported per layer.
 *
 * @example
 * const tree = yield* imageTree(image)
 * tree.get("etc/hostname")?.sha256 // "sha256:…"
 */
export const imageTree = (
  image: Image,
  options: TreeOptions = {},
): Effect.Effect<ImageTree, ImageError, GzipEngine | ZstdEngine | Sha256> =>
  Effect.gen(function* () {
    const concurrency = options.concurrency ?? 2
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      return yield* new ImageError({
        reason: "BadOption",
        image: image.source.name,
        message: `concurrency ${concurrency} is not a positive integer`,
      })
    const scans = yield* Effect.forEach(image.layers, (_, i) => scanLayer(image, i), { concurrency })
    return mergeChanges(scans)
  })
