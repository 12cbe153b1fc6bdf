import * as Effect from "effect/Effect"
import { compareCodePoints } from "./internal/GoJson.ts"
import { baseName, cleanEntryName, parentName } from "./internal/Path.ts"
import { ENTRY_TYPES, type EntryType, type Toc, type TocEntry } from "./Toc.ts"
import { TocError, type TocErrorReason } from "./TocError.ts"

/** Name of the landmark that asks for prefetching `[0, its offset)`. */
export const LANDMARK_PREFETCH = ".prefetch.landmark"
/** Name of the landmark that says "do not prefetch". */
export const LANDMARK_NO_PREFETCH = ".no.prefetch.landmark"
/** Name of the tar entry that holds the TOC inside an eStargz blob. */
export const TOC_FILE_NAME = "stargz.index.json"
/** sha256 of the landmark payload (the single byte 0x0F). */
export const LANDMARK_DIGEST = "sha256:dc0e9c3658a1a3ed1ec94274d8b19925c93e1abb7ddba294923ad9bde30f8cb8"
/** sha256 of no bytes: the `digest` of every empty regular file. */
export const EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/** One chunk of a regular file: where its compressed bytes are and which part of the file they hold. */
export interface ChunkRef {
  /** Compressed offset of the gzip member / zstd frame (an absent `offset` is 0). */
  readonly offset: number
  /** Uncompressed bytes to skip after inflating from `offset` (0 if absent). */
  readonly innerOffset: number
  /** Offset of the chunk within the file. */
  readonly chunkOffset: number
  /** Length of the chunk, normalised per FORMATS §2.4 (never 0 for a non-empty file). */
  readonly chunkSize: number
  /** sha256 of the chunk's bytes; `undefined` when the TOC has none (c/storage single-chunk files, legacy stargz). */
  readonly chunkDigest: string | undefined
  /**
   * End of the compressed range to fetch: the smallest data-entry offset greater than `offset`, else `dataEnd`;
   * tightened to the file's `endOffset` when the TOC (c/storage) records one.
   */
  readonly compressedEnd: number
  /** `"zeros"` for a containers/storage hole. */
  readonly chunkType?: string
  /** Index of the `reg`/`chunk` entry in `toc.entries`. */
  readonly entryIndex: number
}

/** A name in the tree a reader sees. */
export interface TocNode {
  /** Cleaned name (`""` for the root). */
  readonly name: string
  /** The entry that defines this name (synthesised for implicit directories); for a hardlink, its own entry. */
  readonly entry: TocEntry
  /** `dir` for implicit parents. */
  readonly type: EntryType
  /** Created for a parent directory the TOC does not list. */
  readonly implicit: boolean
  /** `reg` only: every chunk, sorted by `chunkOffset`, tiling `[0, size)`. */
  readonly chunks: ReadonlyArray<ChunkRef>
  /** Hardlink: the final target (chains followed); read content and metadata from it. */
  readonly target?: TocNode
  /** The entry's `userName`, or the last one seen for its uid (FORMATS §3.2). */
  readonly userName?: string
  /** The entry's `groupName`, or the last one seen for its gid. */
  readonly groupName?: string
  /** Dirs: 2 + child dirs. Others: 1 + hardlinks to it (a hardlink node shows its target's count). */
  linkCount: number
}

/** What {@link TocIndex.build} needs to know about the blob. */
export interface TocIndexOptions {
  /** End of the data region: `tocOffset` for an in-blob TOC, `blobSize - footerSize` for an external TOC. */
  dataEnd: number
}

const DIGEST = /^sha256:[0-9a-f]{64}$/

class ChunkRefImpl implements ChunkRef {
  readonly chunkType?: string
  constructor(
    readonly offset: number,
    readonly innerOffset: number,
    readonly chunkOffset: number,
    readonly chunkSize: number,
    readonly chunkDigest: string | undefined,
    readonly compressedEnd: number,
    readonly entryIndex: number,
    chunkType: string | undefined,
  ) {
    if (chunkType !== undefined) this.chunkType = chunkType
  }
}

/**
 * The validated chunk facts of every data entry (`reg` with content, `chunk`), by entry index, kept outside the
 * JS heap; ChunkRef objects are made from it the first time a file's chunks are asked for.
 */
class ChunkTable {
  readonly offset: Float64Array
  readonly innerOffset: Float64Array
  readonly chunkOffset: Float64Array
  readonly chunkSize: Float64Array
  readonly compressedEnd: Float64Array
  readonly chunkDigest: Array<string | undefined>
  readonly chunkType = new Map<number, string>()
  constructor(n: number) {
    this.offset = new Float64Array(n)
    this.innerOffset = new Float64Array(n)
    this.chunkOffset = new Float64Array(n)
    this.chunkSize = new Float64Array(n)
    this.compressedEnd = new Float64Array(n)
    this.chunkDigest = new Array(n)
  }
  refs(first: number, count: number): ReadonlyArray<ChunkRef> {
    const out = new Array<ChunkRef>(count)
    for (let k = 0; k < count; k++) {
      const i = first + k
      out[k] = new ChunkRefImpl(
        this.offset[i]!,
        this.innerOffset[i]!,
        this.chunkOffset[i]!,
        this.chunkSize[i]!,
        this.chunkDigest[i],
        this.compressedEnd[i]!,
        i,
        this.chunkType.get(i),
      )
    }
    return out
  }
}

class Node implements TocNode {
  linkCount: number
  target?: Node
  userName?: string
  groupName?: string
  /** Dirs: children in insertion order (names are unique per parent); sorted on first listing. */
  kids: Array<Node> | undefined
  sorted = false
  /** reg: its chunks are the data entries index .. index + chunkCount - 1 of the table. */
  chunkCount = 0
  private made: ReadonlyArray<ChunkRef> | undefined
  constructor(
    readonly name: string,
    readonly entry: TocEntry,
    readonly type: EntryType,
    readonly implicit: boolean,
    readonly index: number,
    private readonly table: ChunkTable | undefined,
  ) {
    this.linkCount = type === "dir" ? 2 : 1
    this.kids = type === "dir" ? [] : undefined
  }
  get chunks(): ReadonlyArray<ChunkRef> {
    if (this.chunkCount === 0) return NO_CHUNKS
    if (this.made === undefined) this.made = this.table!.refs(this.index, this.chunkCount)
    return this.made
  }
}
const NO_CHUNKS: ReadonlyArray<ChunkRef> = []

class BuildError {
  constructor(readonly error: TocError) {}
}
const bad = (reason: TocErrorReason, index: number, e: TocEntry | undefined, message: string): BuildError => {
  const name = e !== undefined && typeof e.name === "string" ? e.name : ""
  const label = name === "" ? `entry #${index}` : `entry #${index} (${name})`
  return new BuildError(new TocError({ reason, entry: name, message: `${label}: ${message}` }))
}

const isCount = (v: unknown): v is number | undefined =>
  v === undefined || (typeof v === "number" && Number.isSafeInteger(v) && v >= 0)

const impliedDir = (name: string): TocEntry => ({ name, type: "dir", mode: 0o755 })

// Upper bound: index of the first element of the sorted array greater than x.
const upperBound = (a: Float64Array, n: number, x: number): number => {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The tree a reader uses (FORMATS §3.5, §3.6, §3.8): cleaned names, implicit parents, last duplicate wins,
 * resolved hardlinks, normalised and validated chunk lists with their compressed ranges, link counts,
 * carried-forward owner names and the prefetch landmark.
 */
export class TocIndex {
  /**
   * Validates a parsed TOC and builds its index. Fails with `BadEntry` for a stray or misplaced `chunk`, chunks
   * that do not tile `[0, size)` exactly, a malformed digest, an unknown type, or a name used both as a
   * non-directory and as a parent; `BadOffset` for a data offset outside `[0, dataEnd)` or a bad `endOffset`;
   * `DanglingHardlink` for a missing hardlink target or a cycle of hardlinks.
   * @example TocIndex.build(toc, { dataEnd: tocOffset })
   */
  static build(toc: Toc, options: TocIndexOptions): Effect.Effect<TocIndex, TocError> {
    return Effect.suspend(() => {
      const r = buildIndex(toc, options.dataEnd)
      return r instanceof BuildError ? Effect.fail(r.error) : Effect.succeed(r)
    })
  }

  /** The root directory (`""`). */
  readonly root: TocNode
  /** `"no-prefetch"` if a root-level `.no.prefetch.landmark` exists, else `"prefetch"` for `.prefetch.landmark`. */
  readonly landmark: "prefetch" | "no-prefetch" | undefined
  /** The `offset` of `.prefetch.landmark` when {@link landmark} is `"prefetch"`: prefetch `[0, prefetchEnd)`. */
  readonly prefetchEnd: number | undefined

  private constructor(
    /** The TOC this index was built from. */
    readonly toc: Toc,
    private readonly byName: Map<string, Node>,
    private readonly winners: ReadonlyArray<Node>,
  ) {
    this.root = byName.get("")!
    const no = byName.get(LANDMARK_NO_PREFETCH)
    const yes = byName.get(LANDMARK_PREFETCH)
    if (no !== undefined && no.type === "reg") {
      this.landmark = "no-prefetch"
      this.prefetchEnd = undefined
    } else if (yes !== undefined && yes.type === "reg") {
      this.landmark = "prefetch"
      this.prefetchEnd = yes.entry.offset ?? 0
    } else {
      this.landmark = undefined
      this.prefetchEnd = undefined
    }
  }

  /** @internal */
  static make(toc: Toc, byName: Map<string, Node>, winners: ReadonlyArray<Node>): TocIndex {
    return new TocIndex(toc, byName, winners)
  }

  /** The node at a path (cleaned first, so `./etc/` finds `etc`); a hardlink's node has `target` set. */
  lookup(path: string): TocNode | undefined {
    return this.byName.get(cleanEntryName(path))
  }

  /** A directory's children sorted by name (code point order), landmarks and `stargz.index.json` included. */
  children(path: string): ReadonlyArray<TocNode> | undefined {
    const n = this.byName.get(cleanEntryName(path))
    if (n === undefined || n.kids === undefined) return undefined
    if (!n.sorted) {
      n.kids.sort((a, b) => compareCodePoints(baseName(a.name), baseName(b.name)))
      n.sorted = true
    }
    return n.kids
  }

  /** Every non-chunk entry's node in TOC order (a duplicated name appears once, at its last entry); no implicit dirs. */
  nodes(): Iterable<TocNode> {
    return this.winners
  }

  /** The chunk holding byte `fileOffset` of a regular file (or a hardlink's target); `undefined` past EOF. */
  chunkForOffset(node: TocNode, fileOffset: number): ChunkRef | undefined {
    const n = node.target ?? node
    const chunks = n.chunks
    const count = chunks.length
    if (count === 0 || !(fileOffset >= 0)) return undefined
    const last = chunks[count - 1]!
    if (fileOffset >= last.chunkOffset + last.chunkSize) return undefined
    let lo = 0
    let hi = count - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (chunks[mid]!.chunkOffset <= fileOffset) lo = mid
      else hi = mid - 1
    }
    return chunks[lo]
  }
}

const buildIndex = (toc: Toc, dataEnd: number): TocIndex | BuildError => {
  if (!(Number.isSafeInteger(dataEnd) && dataEnd >= 0)) {
    return new BuildError(
      new TocError({
        reason: "BadOffset",
        entry: "",
        message: `dataEnd ${dataEnd} is not a non-negative integer`,
      }),
    )
  }
  if (toc.tarSplitDigest !== undefined && !DIGEST.test(toc.tarSplitDigest)) {
    return new BuildError(
      new TocError({
        reason: "BadEntry",
        entry: "",
        message: `tarSplitDigest ${toc.tarSplitDigest} is not sha256:<64 hex>`,
      }),
    )
  }
  const entries = toc.entries
  const count = entries.length
  const table = new ChunkTable(count)
  const byName = new Map<string, Node>()
  const all: Array<Node> = []
  const dataIdx = new Int32Array(count) // entry indices of the data entries, in TOC order
  const fileEnds = new Float64Array(count) // per data entry: its file's endOffset, or +Infinity
  let dataCount = 0
  const unames = new Map<number, string>()
  const gnames = new Map<number, string>()

  // The regular file currently accepting chunk entries.
  let file: Node | undefined
  let fileSize = 0
  let covered = 0
  let fileEnd = Number.POSITIVE_INFINITY
  const closeFile = (): BuildError | undefined => {
    if (file !== undefined && covered !== fileSize) {
      return bad("BadEntry", file.index, file.entry, `chunks cover ${covered} of ${fileSize} bytes`)
    }
    file = undefined
    return undefined
  }

  // Validates and records one data entry.
  const dataRef = (
    e: TocEntry,
    i: number,
    chunkOffset: number,
    chunkSize: number,
  ): BuildError | undefined => {
    const offset = e.offset ?? 0
    if (!isCount(e.offset)) return bad("BadOffset", i, e, `offset ${e.offset} is not a non-negative integer`)
    if (!isCount(e.innerOffset))
      return bad("BadOffset", i, e, `innerOffset ${e.innerOffset} is not a non-negative integer`)
    if (offset >= dataEnd)
      return bad("BadOffset", i, e, `offset ${offset} is not below the data end ${dataEnd}`)
    if (offset >= fileEnd)
      return bad("BadOffset", i, e, `offset ${offset} is not below the file's endOffset ${fileEnd}`)
    const digest = e.chunkDigest === "" ? undefined : e.chunkDigest
    if (digest !== undefined && digest !== e.digest && !DIGEST.test(digest))
      return bad("BadEntry", i, e, `chunkDigest ${digest} is not sha256:<64 hex>`)
    table.offset[i] = offset
    table.innerOffset[i] = e.innerOffset ?? 0
    table.chunkOffset[i] = chunkOffset
    table.chunkSize[i] = chunkSize
    table.chunkDigest[i] = digest
    if (e.chunkType !== undefined && e.chunkType !== "") table.chunkType.set(i, e.chunkType)
    dataIdx[dataCount] = i
    fileEnds[dataCount++] = fileEnd
    return undefined
  }

  for (let i = 0; i < count; i++) {
    const e = entries[i]!
    if (typeof e !== "object" || e === null || typeof e.name !== "string" || !ENTRY_TYPES.has(e.type)) {
      return bad("BadEntry", i, undefined, `not a valid entry (type ${String((e as TocEntry | null)?.type)})`)
    }
    if (!(isCount(e.size) && isCount(e.chunkOffset) && isCount(e.chunkSize) && isCount(e.endOffset))) {
      return bad("BadEntry", i, e, "size, chunkOffset, chunkSize and endOffset must be non-negative integers")
    }
    if (!(isCount(e.uid) && isCount(e.gid)))
      return bad("BadEntry", i, e, "uid and gid must be non-negative integers")
    if (e.digest !== undefined && e.digest !== "" && !DIGEST.test(e.digest))
      return bad("BadEntry", i, e, `digest ${e.digest} is not sha256:<64 hex>`)

    if (e.type === "chunk") {
      if (file === undefined) return bad("BadEntry", i, e, "chunk entry without a preceding regular file")
      if (e.name !== "" && cleanEntryName(e.name) !== file.name)
        return bad("BadEntry", i, e, `chunk entry names ${e.name} but follows ${file.name}`)
      if (covered >= fileSize)
        return bad("BadEntry", i, e, `chunk entry past the end of ${file.name} (${fileSize} bytes)`)
      const co = e.chunkOffset ?? 0
      if (co !== covered) return bad("BadEntry", i, e, `chunkOffset ${co}, expected ${covered}`)
      const cs = e.chunkSize || fileSize - co
      if (co + cs > fileSize)
        return bad("BadEntry", i, e, `chunk [${co}, ${co + cs}) exceeds the file size ${fileSize}`)
      const err = dataRef(e, i, co, cs)
      if (err !== undefined) return err
      file.chunkCount++
      covered += cs
      continue
    }

    const closed = closeFile()
    if (closed !== undefined) return closed
    const name = cleanEntryName(e.name)
    const node = new Node(name, e, e.type, false, i, table)
    const uid = e.uid ?? 0
    const gid = e.gid ?? 0
    if (e.userName !== undefined && e.userName !== "") unames.set(uid, e.userName)
    if (e.groupName !== undefined && e.groupName !== "") gnames.set(gid, e.groupName)
    const un = unames.get(uid)
    const gn = gnames.get(gid)
    if (un !== undefined) node.userName = un
    if (gn !== undefined) node.groupName = gn

    if (e.type === "reg") {
      const size = e.size ?? 0
      file = node
      fileSize = size
      covered = 0
      fileEnd = Number.POSITIVE_INFINITY
      if (size > 0) {
        if ((e.chunkOffset ?? 0) !== 0) return bad("BadEntry", i, e, `a regular file's chunkOffset must be 0`)
        const cs = e.chunkSize || size
        if (cs > size) return bad("BadEntry", i, e, `chunkSize ${cs} exceeds the file size ${size}`)
        if (e.endOffset !== undefined && e.endOffset !== 0) {
          if (e.endOffset > dataEnd)
            return bad("BadOffset", i, e, `endOffset ${e.endOffset} is past the data end ${dataEnd}`)
          fileEnd = e.endOffset
        }
        const err = dataRef(e, i, 0, cs)
        if (err !== undefined) return err
        node.chunkCount = 1
        covered = cs
      }
    }
    byName.set(name, node)
    all.push(node)
  }
  const closed = closeFile()
  if (closed !== undefined) return closed

  // Compressed ranges: the next greater data offset, or dataEnd (FORMATS §3.8), within the file's endOffset.
  const sorted = new Float64Array(dataCount)
  for (let k = 0; k < dataCount; k++) sorted[k] = table.offset[dataIdx[k]!]!
  sorted.sort()
  for (let k = 0; k < dataCount; k++) {
    const i = dataIdx[k]!
    const j = upperBound(sorted, dataCount, table.offset[i]!)
    table.compressedEnd[i] = Math.min(j < dataCount ? sorted[j]! : dataEnd, fileEnds[k]!)
  }

  // Winners: the last entry for each name, in TOC order.
  let winners = all
  if (byName.size !== all.length) {
    winners = []
    for (const n of all) if (byName.get(n.name) === n) winners.push(n)
  }

  let root = byName.get("")
  if (root === undefined) {
    root = new Node("", impliedDir(""), "dir", true, -1, undefined)
    byName.set("", root)
  } else if (root.type !== "dir") {
    return bad("BadEntry", root.index, root.entry, `the root entry must be a directory, not ${root.type}`)
  }

  // Tree: attach every winner to its parent, creating missing parents (iteratively: names can be deep).
  // Consecutive entries usually share a parent, so the last one is tried before a map lookup.
  const missing: Array<string> = []
  let last: Node = root
  for (const n of winners) {
    const name = n.name
    if (name === "") continue
    const ln = last.name
    let p: Node | undefined
    if (
      ln === ""
        ? name.indexOf("/") < 0
        : name.length > ln.length + 1 &&
          name.charCodeAt(ln.length) === 0x2f &&
          name.startsWith(ln) &&
          name.indexOf("/", ln.length + 1) < 0
    ) {
      p = last
    } else {
      let parent = parentName(name)
      p = byName.get(parent)
      while (p === undefined) {
        missing.push(parent)
        parent = parentName(parent)
        p = byName.get(parent)
      }
      if (p.kids === undefined) {
        return bad("BadEntry", n.index, n.entry, `its parent ${p.name} is a ${p.type}, not a directory`)
      }
      while (missing.length > 0) {
        const d = missing.pop()!
        const dir = new Node(d, impliedDir(d), "dir", true, -1, undefined)
        byName.set(d, dir)
        p.kids!.push(dir)
        p.linkCount++
        p = dir
      }
      last = p
    }
    p.kids!.push(n)
    if (n.type === "dir") p.linkCount++
  }

  // Hardlinks: follow chains among the winners; a missing target or a cycle is an error.
  const chain: Array<Node> = []
  const onChain = new Set<Node>()
  for (const n of winners) {
    if (n.type !== "hardlink" || n.target !== undefined) continue
    chain.length = 0
    onChain.clear()
    let cur: Node = n
    let final: Node | undefined
    for (;;) {
      chain.push(cur)
      onChain.add(cur)
      const linkName = cur.entry.linkName ?? ""
      const t = byName.get(cleanEntryName(linkName))
      if (t === undefined || t.implicit) {
        return bad(
          "DanglingHardlink",
          cur.index,
          cur.entry,
          `hardlink target ${JSON.stringify(linkName)} is not in the TOC`,
        )
      }
      if (t.type !== "hardlink") {
        final = t
        break
      }
      if (t.target !== undefined) {
        final = t.target
        break
      }
      if (onChain.has(t))
        return bad("DanglingHardlink", cur.index, cur.entry, `hardlink cycle through ${t.name}`)
      cur = t
    }
    if (final.type === "dir")
      return bad("BadEntry", n.index, n.entry, `hardlink to the directory ${final.name}`)
    for (const c of chain) c.target = final
  }
  for (const n of winners) if (n.target !== undefined) n.target.linkCount++
  for (const n of winners) if (n.target !== undefined) n.linkCount = n.target.linkCount

  return TocIndex.make(toc, byName, winners)
}
