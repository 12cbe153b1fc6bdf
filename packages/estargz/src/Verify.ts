import * as Effect from "effect/Effect"
import { LayerError, Sha256 } from "@lazypull/codec"
import { TarParser } from "@lazypull/tar"
import {
  cleanEntryName,
  entryTypeOf,
  formatModtime,
  LANDMARK_NO_PREFETCH,
  LANDMARK_PREFETCH,
  parseModtime,
  TOC_FILE_NAME,
  type TocEntry,
  type TocNode,
} from "@lazypull/toc"
import { chunkBytes, type OpenedLayer } from "./Reader.ts"

/** Per-file facts, in exactly the shape of the reference checker's `files` (fixtures README). */
export interface FileFact {
  readonly name: string
  readonly type: string
  readonly size: number
  readonly sha256: string
  readonly mode: string
  readonly uid: number
  readonly gid: number
  readonly linkName: string
  readonly xattrs: Readonly<Record<string, string>>
  readonly modtime: string
  readonly devMajor: number
  readonly devMinor: number
}

/** What a full verification found. */
export interface VerifyReport {
  readonly ok: true
  readonly format: string
  readonly tocDigest: string
  readonly tocOffset: number
  readonly diffId: string
  readonly uncompressedSize: number
  readonly chunkCount: number
  readonly tocEntries: number
  readonly landmark: string | undefined
  readonly files: ReadonlyArray<FileFact>
}

/** Options of {@link verifyLayer}. */
export interface VerifyOptions {
  /** Expected diffID (sha256 of the decompressed blob), e.g. from the image config. */
  readonly diffId?: string
  /** Expected `io.containers.estargz.uncompressed-size`. */
  readonly uncompressedSize?: number
  /** Files verified at once (default 4). */
  readonly concurrency?: number
}

const isSpecial = (clean: string) =>
  clean === TOC_FILE_NAME || clean === LANDMARK_PREFETCH || clean === LANDMARK_NO_PREFETCH

/** The reference checker's per-file record for one TOC node. */
export const factOf = (node: TocNode): FileFact => {
  const e = node.entry
  const xattrs: Record<string, string> = {}
  for (const k of Object.keys(e.xattrs ?? {}).sort()) xattrs[k] = e.xattrs![k]!
  const mt = e.modtime === undefined ? undefined : parseModtime(e.modtime)
  return {
    name: cleanEntryName(e.name),
    type: e.type,
    size: e.type === "reg" ? (e.size ?? 0) : 0,
    sha256: e.type === "reg" ? (e.digest ?? "") : "",
    mode: `0${(e.mode ?? 0).toString(8)}`,
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    linkName:
      e.type === "symlink"
        ? (e.linkName ?? "")
        : e.type === "hardlink"
          ? cleanEntryName(e.linkName ?? "")
          : "",
    xattrs,
    modtime: mt === undefined ? "" : (formatModtime(mt) ?? ""),
    devMajor: e.devMajor ?? 0,
    devMinor: e.devMinor ?? 0,
  }
}

/** The facts of every file of the layer, sorted by name; landmarks and the TOC entry are left out. */
export const layerFacts = (layer: OpenedLayer): Array<FileFact> => {
  const out: Array<FileFact> = []
  for (const n of layer.index.nodes()) if (!isSpecial(n.name)) out.push(factOf(n))
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

const fail = (
  layer: OpenedLayer,
  reason: LayerError["reason"],
  message: string,
  extra: { offset?: number; entry?: string } = {},
) =>
  new LayerError({ reason, format: layer.decompressor.name, message: `${layer.name}: ${message}`, ...extra })

/** Fetches, inflates and digest-checks every chunk of one file, then its whole-file digest. */
const verifyFile = (layer: OpenedLayer, node: TocNode): Effect.Effect<number, LayerError, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const whole = sha.make()
    let memo: { offset: number; bytes: Uint8Array } | undefined
    for (const c of node.chunks) {
      const compressed =
        memo && memo.offset === c.offset
          ? memo.bytes
          : yield* layer.reader
              .readAt(c.offset, c.compressedEnd - c.offset)
              .pipe(
                Effect.mapError((e) => fail(layer, "Io", e.message, { offset: c.offset, entry: node.name })),
              )
      memo = { offset: c.offset, bytes: compressed }
      const data = yield* chunkBytes(layer, node, c, compressed)
      whole.update(data)
    }
    const digest = `sha256:${whole.hex()}`
    if (node.entry.digest !== undefined && digest !== node.entry.digest)
      return yield* Effect.fail(
        fail(
          layer,
          "ChunkDigestMismatch",
          `${node.name}: content digest ${digest}, TOC says ${node.entry.digest}`,
          {
            entry: node.name,
          },
        ),
      )
    return node.chunks.length
  })

/**
 * Decompresses the whole blob as a stream and checks it is a tar whose entries are the TOC's, in order,
 * with the TOC's sizes and content digests; returns diffID and uncompressed size.
 */
export const verifyStream = (
  layer: OpenedLayer,
): Effect.Effect<{ diffId: string; uncompressedSize: number }, LayerError, Sha256> =>
  Effect.gen(function* () {
    const sha = yield* Sha256
    const diff = sha.make()
    let total = 0
    const tocEntries: Array<TocEntry> = layer.toc.entries.filter((e) => e.type !== "chunk")
    let next = 0
    const parser = new TarParser()
    let current: { entry: TocEntry; hash: ReturnType<typeof sha.make> | undefined } | undefined
    let sawToc = false
    const finishCurrent = (): LayerError | undefined => {
      if (current?.hash) {
        const got = `sha256:${current.hash.hex()}`
        if (current.entry.digest !== undefined && got !== current.entry.digest)
          return fail(
            layer,
            "StreamMismatch",
            `${current.entry.name}: tar content ${got}, TOC says ${current.entry.digest}`,
            {
              entry: current.entry.name,
            },
          )
      }
      current = undefined
      return undefined
    }
    const drain = (): LayerError | undefined => {
      for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
        switch (ev._tag) {
          case "Error":
            return fail(
              layer,
              "StreamMismatch",
              `decompressed stream is not a valid tar: ${ev.error.message}`,
              {
                offset: ev.error.offset,
                entry: ev.error.entry,
              },
            )
          case "Entry": {
            const err = finishCurrent()
            if (err) return err
            const h = ev.header
            if (
              h.name === TOC_FILE_NAME &&
              !layer.footer.external &&
              tocEntries[next]?.name !== TOC_FILE_NAME
            ) {
              const missing = tocEntries[next]
              if (missing !== undefined)
                return fail(
                  layer,
                  "StreamMismatch",
                  `TOC entry ${next} ${JSON.stringify(missing.name)} is not in the tar stream (it reaches ${TOC_FILE_NAME} first)`,
                  { entry: missing.name, offset: ev.offset },
                )
              sawToc = true
              current = undefined
              break
            }
            const t = tocEntries[next++]
            if (!t)
              return fail(layer, "StreamMismatch", `tar entry ${h.name} is not in the TOC`, {
                entry: h.name,
                offset: ev.offset,
              })
            const type = entryTypeOf(h.typeflag)
            if (t.name !== h.name || t.type !== type)
              return fail(
                layer,
                "StreamMismatch",
                `tar entry ${next - 1} is ${type} ${JSON.stringify(h.name)}, TOC says ${t.type} ${JSON.stringify(t.name)}`,
                {
                  entry: h.name,
                  offset: ev.offset,
                },
              )
            if (type === "reg" && (t.size ?? 0) !== h.size)
              return fail(layer, "StreamMismatch", `${h.name}: tar size ${h.size}, TOC says ${t.size ?? 0}`, {
                entry: h.name,
              })
            current = { entry: t, hash: type === "reg" ? sha.make() : undefined }
            break
          }
          case "Data":
            current?.hash?.update(ev.bytes)
            break
          case "End": {
            const err = finishCurrent()
            if (err) return err
            break
          }
          default:
            break
        }
      }
      return undefined
    }
    const inflater = yield* layer.decompressor.inflater()
    // the inflater cannot tell where in its input it failed: name the block it was given
    const inBlock = (off: number, len: number) => (e: LayerError) =>
      fail(layer, e.reason, `while inflating the blob at offset ${off} (${len} bytes): ${e.message}`, {
        offset: off,
      })
    const feed = (outs: ReadonlyArray<Uint8Array>) => {
      for (const o of outs) {
        diff.update(o)
        total += o.length
        parser.push(o)
        const err = drain()
        if (err) return err
      }
      return undefined
    }
    const BLOCK = 1 << 20
    const size = layer.reader.size
    for (let off = 0; off < size; off += BLOCK) {
      const chunk = yield* layer.reader
        .readAt(off, Math.min(BLOCK, size - off))
        .pipe(Effect.mapError((e) => fail(layer, "Io", e.message, { offset: e.offset })))
      const err = feed(yield* inflater.push(chunk).pipe(Effect.mapError(inBlock(off, chunk.length))))
      if (err) return yield* Effect.fail(err)
    }
    const err = feed(yield* inflater.end().pipe(Effect.mapError(inBlock(size, 0))))
    if (err) return yield* Effect.fail(err)
    parser.end()
    const err2 = drain()
    if (err2) return yield* Effect.fail(err2)
    if (next !== tocEntries.length)
      return yield* Effect.fail(
        fail(layer, "StreamMismatch", `TOC lists ${tocEntries.length} entries, the tar stream has ${next}`, {
          entry: tocEntries[next]?.name ?? "",
        }),
      )
    if (!layer.footer.external && layer.decompressor.name === "estargz" && !sawToc)
      return yield* Effect.fail(
        fail(layer, "StreamMismatch", `the tar stream does not end with ${TOC_FILE_NAME}`),
      )
    return { diffId: `sha256:${diff.hex()}`, uncompressedSize: total }
  })

/**
 * Everything that makes a layer lazy-pullable, checked: TOC (already digest-checked by openLayer), every
 * chunk fetched by its offset and digest-checked, whole-file digests, and the decompressed stream against
 * the TOC, diffID and uncompressed size.
 */
export const verifyLayer = (
  layer: OpenedLayer,
  options: VerifyOptions = {},
): Effect.Effect<VerifyReport, LayerError, Sha256> =>
  Effect.gen(function* () {
    const files = Array.from(layer.index.nodes()).filter((n) => n.type === "reg" && n.chunks.length > 0)
    // the chunk checks (random access by offset) and the stream check run side by side: two cores
    const [counts, { diffId, uncompressedSize }] = yield* Effect.all(
      [
        Effect.forEach(files, (n) => verifyFile(layer, n), { concurrency: options.concurrency ?? 4 }),
        verifyStream(layer),
      ],
      { concurrency: 2 },
    )
    if (options.diffId !== undefined && options.diffId !== diffId)
      return yield* Effect.fail(fail(layer, "StreamMismatch", `diffID is ${diffId}, want ${options.diffId}`))
    if (options.uncompressedSize !== undefined && options.uncompressedSize !== uncompressedSize)
      return yield* Effect.fail(
        fail(
          layer,
          "StreamMismatch",
          `uncompressed size is ${uncompressedSize}, want ${options.uncompressedSize}`,
        ),
      )
    return {
      ok: true,
      format: layer.footer.format,
      tocDigest: layer.tocDigest,
      tocOffset: layer.footer.tocOffset,
      diffId,
      uncompressedSize,
      chunkCount: counts.reduce((a, b) => a + b, 0),
      tocEntries: layer.toc.entries.length,
      landmark:
        layer.index.landmark === "prefetch"
          ? LANDMARK_PREFETCH
          : layer.index.landmark === "no-prefetch"
            ? LANDMARK_NO_PREFETCH
            : undefined,
      files: layerFacts(layer),
    }
  })
