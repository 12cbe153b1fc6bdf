import { Sha256 } from "@lazypull/codec"
import type { RangeReader } from "@lazypull/range"
import { TarParser } from "@lazypull/tar"
import { Effect } from "effect"
import { type ImageSelector, type Image, type ImageLayer, openLayoutImage } from "./Layout.ts"
import { fileSize, forEachChunk, type LayoutSource, readFile } from "./LayoutSource.ts"
import { type LayerCompression, OCI_CONFIG, OCI_MANIFEST, ociLayerMediaType } from "./MediaType.ts"
import { OciError } from "./OciError.ts"
import { decodeConfig, type Manifest, parseJson } from "./Schema.ts"

interface Member {
  readonly dataOffset: number
  readonly size: number
}

/** Bytes read per step while scanning tar headers. */
const HEADER_READ = 4096
const MAX_LINKS = 40

/** Normalizes an archive or layout path: no leading `./` or `/`, no `.` or empty segments, `..` applied. */
export const normalizePath = (path: string): string => {
  const out: Array<string> = []
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue
    if (seg === "..") out.pop()
    else out.push(seg)
  }
  return out.join("/")
}

const dirname = (path: string): string => {
  const i = path.lastIndexOf("/")
  return i < 0 ? "" : path.slice(0, i)
}

const truncated = (name: string, message: string, path?: string) =>
  new OciError({ reason: "Truncated", image: name, path, message })

/**
 * Indexes a tar archive's members by name, reading only header blocks (payloads are skipped with
 * `readAt`), and serves them as a LayoutSource. Symlinks and hard links are followed inside the archive.
 *
 * @example
 * const src = yield* tarSource(reader); const index = yield* readFile(src, "index.json")
 */
export const tarSource = (
  reader: RangeReader,
  name: string = reader.source,
): Effect.Effect<LayoutSource, OciError> =>
  Effect.gen(function* () {
    const files = new Map<string, Member>()
    const links = new Map<string, string>()
    const rangeError = (e: { readonly message: string }) =>
      truncated(name, `cannot read the archive: ${e.message}`)
    let off = 0
    scan: while (off < reader.size) {
      // a fresh parser at each header: payloads are never read
      const parser = new TarParser()
      let pos = off
      for (;;) {
        if (pos >= reader.size) parser.end()
        else {
          const n = Math.min(HEADER_READ, reader.size - pos)
          parser.push(yield* Effect.mapError(reader.readAt(pos, n), rangeError))
          pos += n
        }
        for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
          switch (ev._tag) {
            case "Entry": {
              const h = ev.header
              const dataOffset = off + ev.dataOffset
              if (dataOffset + h.size > reader.size) {
                return yield* truncated(
                  name,
                  `archive ends at ${reader.size} inside ${JSON.stringify(h.name)} (${h.size} bytes at ${dataOffset})`,
                  h.name,
                )
              }
              const path = normalizePath(h.name)
              if (h.typeflag === "0" || h.typeflag === "\0" || h.typeflag === "7") {
                files.set(path, { dataOffset, size: h.size })
                links.delete(path)
              } else if (h.typeflag === "2") {
                links.set(path, normalizePath(`${dirname(path)}/${h.linkname}`))
                files.delete(path)
              } else if (h.typeflag === "1") {
                links.set(path, normalizePath(h.linkname))
                files.delete(path)
              }
              off = dataOffset + Math.ceil(h.size / 512) * 512
              continue scan
            }
            case "Error":
              return yield* ev.error.reason === "Truncated"
                ? truncated(name, ev.error.message)
                : new OciError({
                    reason: "BadSchema",
                    image: name,
                    message: `not a tar archive: ${ev.error.message}`,
                  })
            case "Trailer":
            case "End":
              break scan
            default:
              break
          }
        }
      }
    }
    const resolve = (path: string): Member | undefined => {
      let p = normalizePath(path)
      for (let i = 0; i < MAX_LINKS; i++) {
        const m = files.get(p)
        if (m !== undefined) return m
        const target = links.get(p)
        if (target === undefined) return undefined
        p = target
      }
      return undefined
    }
    const source: { -readonly [K in keyof LayoutSource]: LayoutSource[K] } = {
      name,
      list: () =>
        Effect.succeed([...files.keys(), ...[...links.keys()].filter((p) => resolve(p) !== undefined)]),
      stat: (path) => Effect.sync(() => resolve(path)?.size),
      readAt: (path, offset, length) => {
        const m = resolve(path)
        if (m === undefined) {
          return Effect.fail(
            new OciError({ reason: "NotFound", image: name, path, message: `${path} is not in the archive` }),
          )
        }
        if (offset < 0 || length < 0 || offset + length > m.size) {
          return Effect.fail(
            truncated(name, `read [${offset}, ${offset + length}) outside ${m.size} bytes`, path),
          )
        }
        return Effect.mapError(reader.readAt(m.dataOffset + offset, length), (e) =>
          truncated(name, `cannot read ${path}: ${e.message}`, path),
        )
      },
    }
    const readInto = reader.readInto
    if (readInto)
      source.readInto = (path, offset, target) => {
        const m = resolve(path)
        if (m === undefined)
          return Effect.fail(
            new OciError({ reason: "NotFound", image: name, path, message: `${path} is not in the archive` }),
          )
        if (offset < 0 || offset + target.length > m.size)
          return Effect.fail(
            truncated(name, `read [${offset}, ${offset + target.length}) outside ${m.size} bytes`, path),
          )
        return Effect.mapError(readInto.call(reader, m.dataOffset + offset, target), (e) =>
          truncated(name, `cannot read ${path}: ${e.message}`, path),
        )
      }
    return source
  })

const sniff = (src: LayoutSource, path: string, size: number): Effect.Effect<LayerCompression, OciError> =>
  size < 4
    ? Effect.succeed("none")
    : Effect.map(src.readAt(path, 0, 4), (b) =>
        b[0] === 0x1f && b[1] === 0x8b
          ? "gzip"
          : b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd
            ? "zstd"
            : "none",
      )

const stringArray = (v: unknown): v is ReadonlyArray<string> =>
  Array.isArray(v) && v.every((x) => typeof x === "string")

/**
 * Opens the image of a `docker save` / skopeo docker-archive source (manifest.json naming Config and
 * Layers files); each layer's digest and size are computed by streaming it through sha256.
 */
export const openDockerImage = (
  src: LayoutSource,
  selector: ImageSelector = {},
): Effect.Effect<Image, OciError, Sha256> =>
  Effect.gen(function* () {
    const fail = (reason: OciError["reason"], message: string, path = "manifest.json", digest?: string) =>
      new OciError({ reason, image: src.name, path, digest, message })
    const value = yield* parseJson(yield* readFile(src, "manifest.json"), {
      image: src.name,
      path: "manifest.json",
    })
    if (!Array.isArray(value)) return yield* fail("BadSchema", "manifest.json is not an array")
    const entries: Array<{ config: string; layers: ReadonlyArray<string>; tags: ReadonlyArray<string> }> = []
    for (const e of value as Array<unknown>) {
      const o = (typeof e === "object" && e !== null ? e : {}) as Record<string, unknown>
      const tags = o.RepoTags ?? []
      if (typeof o.Config !== "string" || !stringArray(o.Layers) || !stringArray(tags)) {
        return yield* fail("BadSchema", "a manifest.json entry lacks Config, Layers or RepoTags")
      }
      entries.push({ config: o.Config, layers: o.Layers, tags })
    }
    const ref = selector.ref
    const hits =
      ref === undefined
        ? entries
        : entries.filter((e) => e.tags.some((t) => t === ref || t.endsWith(`:${ref}`)))
    if (hits.length === 0) {
      return yield* fail(
        ref === undefined ? "NotFound" : "NotFound",
        `no image ${ref ?? ""} in manifest.json`,
      )
    }
    if (hits.length > 1)
      return yield* fail("BadReference", "manifest.json holds several images; choose a ref")
    const entry = hits[0]!
    const sha = yield* Sha256
    const configPath = normalizePath(entry.config)
    const configBytes = yield* readFile(src, configPath)
    const ch = sha.make()
    ch.update(configBytes)
    const configDigest = `sha256:${ch.hex()}`
    const config = yield* decodeConfig(configBytes, {
      image: src.name,
      path: configPath,
      digest: configDigest,
    })
    const diffIds = config.rootfs.diff_ids
    if (diffIds.length !== entry.layers.length) {
      return yield* fail(
        "BadSchema",
        `the config lists ${diffIds.length} diff_ids for ${entry.layers.length} layers`,
        configPath,
        configDigest,
      )
    }
    const layers: Array<ImageLayer> = []
    for (let i = 0; i < entry.layers.length; i++) {
      const path = normalizePath(entry.layers[i]!)
      const size = yield* fileSize(src, path)
      const compression = yield* sniff(src, path, size)
      const h = sha.make()
      yield* forEachChunk(src, path, size, (c) => h.update(c))
      layers.push({
        descriptor: { mediaType: ociLayerMediaType(compression), digest: `sha256:${h.hex()}`, size },
        path,
        compression,
        diffId: diffIds[i],
      })
    }
    const configDescriptor = { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDescriptor,
      layers: layers.map((l) => l.descriptor),
    }
    return {
      source: src,
      format: "docker",
      manifestDescriptor: undefined,
      manifest,
      configDescriptor,
      configBytes,
      config,
      layers,
    } satisfies Image
  })

/**
 * Opens the image of a layout source of either kind: an OCI layout when `oci-layout` exists (directory,
 * `nerdctl save`, `ctr image export`, recent `docker save`), else a docker archive (`manifest.json`).
 */
export const openImage = (
  src: LayoutSource,
  selector: ImageSelector = {},
): Effect.Effect<Image, OciError, Sha256> =>
  Effect.flatMap(src.stat("oci-layout"), (size) =>
    size !== undefined
      ? openLayoutImage(src, selector)
      : Effect.flatMap(src.stat("manifest.json"), (m) =>
          m !== undefined
            ? openDockerImage(src, selector)
            : Effect.fail(
                new OciError({
                  reason: "NotFound",
                  image: src.name,
                  message: "neither oci-layout nor manifest.json: not an image layout or archive",
                }),
              ),
        ),
  )

/**
 * Opens the image of a tar archive (OCI archive or docker archive) read through a RangeReader.
 *
 * @example
 * const image = yield* openArchive(reader, { ref: "latest" })
 */
export const openArchive = (
  reader: RangeReader,
  selector: ImageSelector = {},
): Effect.Effect<Image, OciError, Sha256> =>
  Effect.flatMap(tarSource(reader), (src) => openImage(src, selector))
