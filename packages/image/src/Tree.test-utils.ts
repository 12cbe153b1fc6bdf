// Test helpers for the tree, diff, view and extract tests: small images built in memory from tar entries, in any
// layer format (plain tar/gzip/zstd, eStargz, zstd:chunked in both dialects).
import { noise } from "@lazypull/testkit"
import { createHash } from "node:crypto"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { GzipEngine, layerScratchMemory, ZstdEngine } from "@lazypull/codec"
import * as NodeEngine from "@lazypull/engine-node"
import {
  buildLayer,
  makeCompressor as makeGzipCompressor,
  TOC_DIGEST_ANNOTATION,
  UNCOMPRESSED_SIZE_ANNOTATION,
} from "@lazypull/estargz"
import { type Image, type LayoutSource, layerReader, OciError, openLayoutImage } from "@lazypull/oci"
import { fromBytes } from "@lazypull/range"
import type { TarEntryInput } from "@lazypull/tar"
import { writeTar } from "@lazypull/tar"
import { buildStorageLayer, makeCompressor as makeZstdCompressor } from "@lazypull/zstd-chunked"

/** Node engines, in-memory scratch and Node's FileSystem. */
export const TestServices = Layer.mergeAll(NodeEngine.layer, layerScratchMemory, NodeFileSystem.layer)

/** sha256 hex, computed independently of the code under test. */
export const sha256Hex = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex")
/** `sha256:<hex>`. */
export const digest = (b: Uint8Array | string): string => `sha256:${sha256Hex(b)}`

const enc = new TextEncoder()
/** UTF-8 bytes of a string. */
export const bytes = (s: string): Uint8Array => enc.encode(s)

/** One tar entry and its payload. */
export interface TarItem {
  readonly entry: TarEntryInput
  readonly data?: Uint8Array
}

const MTIME = 1_704_164_645

/** A regular file. */
export const file = (
  name: string,
  content: string | Uint8Array,
  extra: Partial<TarEntryInput> = {},
): TarItem => ({
  entry: { name, typeflag: "0", mode: 0o644, mtime: MTIME, ...extra },
  data: typeof content === "string" ? bytes(content) : content,
})
/** A directory. */
export const dir = (name: string, extra: Partial<TarEntryInput> = {}): TarItem => ({
  entry: { name, typeflag: "5", mode: 0o755, mtime: MTIME, ...extra },
})
/** A symlink. */
export const symlink = (name: string, target: string): TarItem => ({
  entry: { name, typeflag: "2", linkname: target, mode: 0o777, mtime: MTIME },
})
/** A hardlink to `target` (an archive path). */
export const hardlink = (name: string, target: string): TarItem => ({
  entry: { name, typeflag: "1", linkname: target, mode: 0o644, mtime: MTIME },
})
/** A character device. */
export const chardev = (name: string, major: number, minor: number): TarItem => ({
  entry: { name, typeflag: "3", devmajor: major, devminor: minor, mode: 0o666, mtime: MTIME },
})
/** The whiteout of `path`. */
export const whiteout = (path: string): TarItem => {
  const i = path.lastIndexOf("/")
  return file(i < 0 ? `.wh.${path}` : `${path.slice(0, i)}/.wh.${path.slice(i + 1)}`, "", { mode: 0 })
}
/** The opaque marker of `dirPath`. */
export const opaque = (dirPath: string): TarItem => file(`${dirPath}/.wh..wh..opq`, "", { mode: 0 })

/** How a test layer is stored. */
export type TestFormat = "tar" | "gzip" | "zstd" | "estargz" | "zstd:chunked" | "storage"

/** A layer blob with what its descriptor and the config say about it. */
export interface TestBlob {
  readonly blob: Uint8Array
  readonly mediaType: string
  readonly diffId: string
  readonly annotations?: Readonly<Record<string, string>>
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const TAR = "application/vnd.oci.image.layer.v1.tar"
const GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

/**
 * Stores a layer (a tar, or a tar+gzip/zstd blob for the lazy formats, which take any) in a format. `chunkSize`
 * applies to eStargz and stargz-dialect zstd:chunked.
 */
export const encodeLayer = (input: Uint8Array, format: TestFormat, chunkSize?: number) =>
  Effect.gen(function* () {
    if (format === "tar") return { blob: input, mediaType: TAR, diffId: digest(input) } satisfies TestBlob
    if (format === "gzip") {
      const blob = yield* GzipEngine.use((g) => g.compress(input, 6))
      return { blob, mediaType: GZIP, diffId: digest(input) } satisfies TestBlob
    }
    if (format === "zstd") {
      const blob = yield* ZstdEngine.use((z) => z.compress(input, 3))
      return { blob, mediaType: ZSTD, diffId: digest(input) } satisfies TestBlob
    }
    const parts: Array<Uint8Array> = []
    const sink = { write: (b: Uint8Array) => Effect.sync(() => void parts.push(b.slice())) }
    if (format === "storage") {
      const r = yield* buildStorageLayer(fromBytes(input), { level: 3 }, sink)
      return {
        blob: concat(parts),
        mediaType: ZSTD,
        diffId: r.diffId,
        annotations: r.annotations,
      } satisfies TestBlob
    }
    const compressor =
      format === "estargz" ? yield* makeGzipCompressor({ level: 6 }) : yield* makeZstdCompressor({})
    const r = yield* buildLayer(
      fromBytes(input),
      compressor,
      chunkSize === undefined ? {} : { chunkSize },
      sink,
    )
    return {
      blob: concat(parts),
      mediaType: format === "estargz" ? GZIP : ZSTD,
      diffId: r.diffId,
      annotations: {
        ...r.annotations,
        [TOC_DIGEST_ANNOTATION]: r.tocDigest,
        [UNCOMPRESSED_SIZE_ANNOTATION]: String(r.uncompressedSize),
      },
    } satisfies TestBlob
  })

/** A LayoutSource over files in memory. */
export const memorySource = (name: string, files: ReadonlyMap<string, Uint8Array>): LayoutSource => ({
  name,
  list: () => Effect.succeed([...files.keys()]),
  stat: (path) => Effect.succeed(files.get(path)?.length),
  readAt: (path, offset, length) => {
    const f = files.get(path)
    if (f === undefined)
      return Effect.fail(
        new OciError({ reason: "NotFound", image: name, path, message: `${path} is missing` }),
      )
    if (offset < 0 || length < 0 || offset + length > f.length)
      return Effect.fail(
        new OciError({ reason: "Truncated", image: name, path, message: "read past the end" }),
      )
    return Effect.succeed(f.subarray(offset, offset + length))
  },
})

/** Writes an OCI layout of these layer blobs into memory and opens it. */
export const assembleImage = (layers: ReadonlyArray<TestBlob>, name = "memory") =>
  Effect.gen(function* () {
    const files = new Map<string, Uint8Array>()
    const put = (b: Uint8Array) => {
      const hex = sha256Hex(b)
      files.set(`blobs/sha256/${hex}`, b)
      return { digest: `sha256:${hex}`, size: b.length }
    }
    const config = put(
      bytes(
        JSON.stringify({
          architecture: "amd64",
          os: "linux",
          rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
        }),
      ),
    )
    const manifest = put(
      bytes(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
          layers: layers.map((l) => ({
            mediaType: l.mediaType,
            ...put(l.blob),
            ...(l.annotations !== undefined ? { annotations: l.annotations } : {}),
          })),
        }),
      ),
    )
    files.set("oci-layout", bytes(JSON.stringify({ imageLayoutVersion: "1.0.0" })))
    files.set(
      "index.json",
      bytes(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: "application/vnd.oci.image.manifest.v1+json",
              ...manifest,
              annotations: { "org.opencontainers.image.ref.name": "latest" },
            },
          ],
        }),
      ),
    )
    return yield* openLayoutImage(memorySource(name, files))
  })

/** Builds an image whose layers (base first) hold these entries, each stored in its format. */
export const buildImage = (
  layers: ReadonlyArray<{ readonly items: ReadonlyArray<TarItem>; readonly format: TestFormat }>,
  name = "memory",
) =>
  Effect.gen(function* () {
    const blobs: Array<TestBlob> = []
    for (const l of layers) blobs.push(yield* encodeLayer(writeTar(l.items), l.format))
    return yield* assembleImage(blobs, name)
  })

/** The raw blob of layer `i`. */
export const layerBlob = (image: Image, i: number) =>
  Effect.gen(function* () {
    const l = image.layers[i]!
    const r = layerReader(image.source, l.path, l.descriptor.size)
    return yield* r.readAt(0, r.size)
  })

/** The same image with every layer converted to `format` (the lazy formats read any compression). */
export const convertImage = (image: Image, format: TestFormat, chunkSize?: number) =>
  Effect.gen(function* () {
    const blobs: Array<TestBlob> = []
    for (let i = 0; i < image.layers.length; i++) {
      const blob = yield* layerBlob(image, i)
      if (format === "tar" || format === "gzip" || format === "zstd") {
        const c = image.layers[i]!.compression
        const tar =
          c === "gzip"
            ? yield* GzipEngine.use((g) => g.decompress(blob, 1 << 30))
            : c === "zstd"
              ? yield* ZstdEngine.use((z) => z.decompress(blob, 1 << 30))
              : blob
        blobs.push(yield* encodeLayer(tar, format))
      } else blobs.push(yield* encodeLayer(blob, format, chunkSize))
    }
    return yield* assembleImage(blobs, `${image.source.name}+${format}`)
  })

/** Deterministic pseudo-random bytes (from @lazypull/testkit). */
export { noise }

export const CAP = new Uint8Array([1, 0, 0, 2, 0x80, 0xff, 0, 0x7a])

/**
 * A base layer, an upper layer with whiteouts / opaque dir / duplicates, a top layer re-creating things.
 * `duplicates`: a path twice in one layer (containers/storage refuses that); `crossLink`: a hardlink in the top
 * layer to a file of the base layer (the lazy readers refuse that, as the Go reader does).
 */
export const layeredItems = (
  options: { readonly duplicates?: boolean; readonly crossLink?: boolean } = {},
): ReadonlyArray<ReadonlyArray<TarItem>> => {
  const duplicates = options.duplicates ?? true
  return [
    [
      dir("./"),
      dir("etc/"),
      file("etc/motd", "hello motd\n"),
      file("etc/hostname", "base-host\n"),
      hardlink("etc/hostname.hard", "etc/hostname"),
      file("etc/config", "v1"),
      dir("usr/share/doc/"),
      file("usr/share/doc/a", "a"),
      file("usr/share/doc/b", "b"),
      dir("var/cache/"),
      file("var/cache/old", "old"),
      dir("var/cache/sub/"),
      file("var/cache/sub/x", "x"),
      dir("bin/"),
      file("bin/tool", "tool bytes", {
        mode: 0o4755,
        uid: 1000,
        gid: 1000,
        uname: "app",
        gname: "app",
        xattrs: { "security.capability": CAP, "user.empty": new Uint8Array(0) },
      }),
      symlink("bin/sh", "tool"),
      chardev("dev/null", 1, 3),
      file("opt/replaced-by-dir", "file"),
      dir("opt/dir-replaced/"),
      file("opt/dir-replaced/inner", "inner"),
    ],
    [
      whiteout("etc/motd"),
      whiteout("usr/share/doc"),
      opaque("var/cache"),
      file("var/cache/fresh", "fresh"),
      file("etc/hostname", "upper-host\n"),
      ...(duplicates ? [file("etc/config", "first")] : []),
      file("etc/config", "second", { mode: 0o600 }),
      dir("opt/replaced-by-dir/"),
      file("opt/replaced-by-dir/k", "k"),
      file("opt/dir-replaced", "now a file"),
      file("same/keep", "kept"),
      whiteout("same/keep"),
    ],
    [
      file("usr/share/doc/new", "new"),
      dir("etc/", { mode: 0o750 }),
      ...((options.crossLink ?? true) ? [hardlink("bin/tool2", "bin/tool")] : []),
    ],
  ]
}

export const EXPECTED_PATHS = [
  "",
  "bin",
  "bin/sh",
  "bin/tool",
  "bin/tool2",
  "dev",
  "dev/null",
  "etc",
  "etc/config",
  "etc/hostname",
  "etc/hostname.hard",
  "opt",
  "opt/dir-replaced",
  "opt/replaced-by-dir",
  "opt/replaced-by-dir/k",
  "same",
  "same/keep",
  "usr",
  "usr/share",
  "usr/share/doc",
  "usr/share/doc/new",
  "var",
  "var/cache",
  "var/cache/fresh",
]
