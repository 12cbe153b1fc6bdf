// Test helper: hand-crafted eStargz blobs (node:zlib members, any TOC JSON, any footer), so tests can build the
// hostile layers the writer never produces.
import { createHash } from "node:crypto"
import { gzipSync } from "node:zlib"
import { Effect, Layer } from "effect"
import {
  Decompressors,
  type GzipEngine,
  LayerError,
  layerScratchMemory,
  type Scratch,
  type Sha256,
} from "@lazypull/codec"
import { NodeEngine } from "@lazypull/engine-node"
import { END_OF_ARCHIVE, encodeHeader, paddingFor, type TarEntryInput } from "@lazypull/tar"
import { makeDecompressor, makeFooter, tocTarBytes } from "./index.ts"

/** `sha256:<hex>` of some bytes. */
export const sha256 = (b: Uint8Array | string): string =>
  `sha256:${createHash("sha256").update(b).digest("hex")}`

/** One gzip member. */
export const gz = (b: Uint8Array, level = 6): Uint8Array => new Uint8Array(gzipSync(b, { level }))

/** Bytes of a UTF-8 string. */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Joins byte arrays. */
export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** The 47-byte legacy CRFS footer (FORMATS §2.6). */
export const legacyFooter = (tocOffset: number): Uint8Array => {
  const f = new Uint8Array(47)
  f.set([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0], 0)
  f.set(utf8(tocOffset.toString(16).padStart(16, "0")), 12)
  f.set(utf8("STARGZ"), 28)
  f.set([0x01, 0x00, 0x00, 0xff, 0xff], 34)
  return f
}

/** A file of a crafted layer. */
export interface CraftFile {
  readonly name: string
  readonly type?: "reg" | "dir" | "symlink" | "hardlink"
  readonly data?: Uint8Array | string
  readonly linkName?: string
}

/** A TOC entry as JSON (any keys, any values: tests edit them freely). */
export type RawEntry = Record<string, unknown>

/** How to craft the blob. */
export interface CraftOptions {
  /** Chunk size of regular files (default: one chunk per file). */
  readonly chunkSize?: number
  /** Edits the generated TOC entries (in place, or returns new ones) before the JSON is written. */
  readonly editEntries?: (entries: Array<RawEntry>) => Array<RawEntry> | undefined
  /** Replaces the JSON bytes (receives the generated ones). */
  readonly json?: (json: Uint8Array) => Uint8Array
  /** Replaces the uncompressed TOC tar (receives the JSON). */
  readonly tocTar?: (json: Uint8Array) => Uint8Array
  /** Replaces the TOC member (receives the uncompressed TOC tar). */
  readonly tocMember?: (tar: Uint8Array) => Uint8Array
  /** Replaces the footer (receives the TOC offset); default the 51-byte footer. */
  readonly footer?: (tocOffset: number) => Uint8Array
  /** Drops `chunkDigest` everywhere (legacy CRFS TOCs). */
  readonly legacy?: boolean
}

/** A crafted blob and everything the tests need to know about it. */
export interface Crafted {
  readonly blob: Uint8Array
  readonly json: Uint8Array
  readonly tocDigest: string
  readonly tocOffset: number
  readonly entries: ReadonlyArray<RawEntry>
  /** The decompressed stream (tar including the TOC entry). */
  readonly stream: Uint8Array
  readonly diffId: string
  /** Where each member starts in the blob. */
  readonly members: ReadonlyArray<number>
}

const asBytes = (d: Uint8Array | string | undefined) =>
  d === undefined ? new Uint8Array(0) : typeof d === "string" ? utf8(d) : d

/**
 * Builds a classic eStargz blob by hand: member 0 holds headers, every chunk of every non-empty file starts a
 * member (its data first, then padding and the following headers), then the TOC member and the footer.
 */
export const craft = (files: ReadonlyArray<CraftFile>, options: CraftOptions = {}): Crafted => {
  const members: Array<Uint8Array> = []
  const starts: Array<number> = []
  let blobLen = 0
  let current: Array<Uint8Array> = []
  const stream: Array<Uint8Array> = []
  const closeMember = () => {
    const raw = concat(current)
    current = []
    if (raw.length === 0 && members.length > 0) return
    const m = gz(raw)
    starts.push(blobLen)
    members.push(m)
    blobLen += m.length
  }
  const put = (b: Uint8Array) => {
    current.push(b)
    stream.push(b)
  }
  const entries: Array<RawEntry> = []
  for (const f of files) {
    const type = f.type ?? "reg"
    const data = asBytes(f.data)
    const typeflag = { reg: "0", dir: "5", symlink: "2", hardlink: "1" }[type]
    const input: TarEntryInput = {
      name: f.name,
      typeflag,
      size: type === "reg" ? data.length : 0,
      mode: type === "dir" ? 0o755 : 0o644,
      ...(f.linkName === undefined ? {} : { linkname: f.linkName }),
    }
    put(encodeHeader(input, "ustar"))
    const entry: RawEntry = { name: f.name, type, mode: type === "dir" ? 0o755 : 0o644 }
    if (f.linkName !== undefined) entry.linkName = f.linkName
    if (type !== "reg") {
      entries.push(entry)
      continue
    }
    entry.digest = sha256(data)
    if (data.length === 0) {
      entries.push(entry)
      continue
    }
    entry.size = data.length
    const cs = options.chunkSize ?? data.length
    for (let co = 0; co < data.length; co += cs) {
      const piece = data.subarray(co, Math.min(data.length, co + cs))
      closeMember()
      const e: RawEntry = co === 0 ? entry : { name: f.name, type: "chunk" }
      e.offset = blobLen
      if (co > 0) e.chunkOffset = co
      if (piece.length === cs && cs !== data.length) e.chunkSize = cs
      if (!options.legacy) e.chunkDigest = sha256(piece)
      entries.push(e)
      put(piece)
    }
    put(paddingFor(data.length))
  }
  closeMember()
  const edited = options.editEntries?.(entries) ?? entries
  const generated = utf8(JSON.stringify({ version: 1, entries: edited }, null, "\t"))
  const json = options.json ? options.json(generated) : generated
  const tocTar = options.tocTar ? options.tocTar(json) : tocTarBytes(json)
  stream.push(tocTar)
  const tocOffset = blobLen
  const tocMember = options.tocMember ? options.tocMember(tocTar) : gz(tocTar)
  starts.push(tocOffset)
  const footer = options.footer ? options.footer(tocOffset) : makeFooter(tocOffset)
  const blob = concat([...members, tocMember, footer])
  const all = concat(stream)
  return {
    blob,
    json,
    tocDigest: sha256(json),
    tocOffset,
    entries: edited,
    stream: all,
    diffId: sha256(all),
    members: starts,
  }
}

/** A TOC tar for `json` without the end-of-archive blocks, or with other entries first. */
export const tarOf = (
  items: ReadonlyArray<{ name: string; data: Uint8Array }>,
  endBlocks = true,
): Uint8Array =>
  concat([
    ...items.flatMap(({ name, data }) => [
      encodeHeader({ name, typeflag: "0", size: data.length, mode: 0, mtime: 0 }, "ustar"),
      data,
      paddingFor(data.length),
    ]),
    endBlocks ? END_OF_ARCHIVE : new Uint8Array(0),
  ])

/** The engines and the eStargz decompressor list, on node:zlib. */
export const nodeLayer: Layer.Layer<GzipEngine | Sha256 | Decompressors | Scratch> = (() => {
  const engine = Layer.merge(NodeEngine.layerGzip, NodeEngine.layerSha256)
  const decompressors = Layer.effect(
    Decompressors,
    Effect.map(makeDecompressor(), (d) => [d]),
  ).pipe(Layer.provide(engine))
  return Layer.mergeAll(engine, layerScratchMemory, decompressors)
})()

/** Runs an effect and returns its LayerError; fails the test on success, a defect or another error. */
export const layerError = <A, R>(effect: Effect.Effect<A, unknown, R>): Effect.Effect<LayerError, never, R> =>
  effect.pipe(
    Effect.matchEffect({
      onSuccess: (a) => Effect.die(new Error(`expected a LayerError, got success: ${String(a)}`)),
      onFailure: (e) =>
        e instanceof LayerError ? Effect.succeed(e) : Effect.die(new Error(`not a LayerError: ${String(e)}`)),
    }),
  )
