import { noise } from "@lazypull/testkit"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs"
import { join, relative } from "node:path"
import { gzipSync } from "node:zlib"
import { Sha256 } from "@lazypull/codec"
import { checkBounds, type RangeReader, type RangeStats } from "@lazypull/range"
import { Effect, Layer } from "effect"
import type { LayoutSource } from "./LayoutSource.ts"
import { OciError } from "./OciError.ts"

/** sha256 over node:crypto, for tests. */
export const sha256Layer: Layer.Layer<Sha256> = Layer.succeed(
  Sha256,
  Sha256.of({
    name: "node:crypto",
    make: () => {
      const h = createHash("sha256")
      return { update: (d) => void h.update(d), hex: () => h.digest("hex") }
    },
  }),
)

/** sha256 hex of bytes, computed independently of the code under test. */
export const sha256Hex = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex")

const walk = (root: string, dir: string, out: Array<string>): void => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(root, p, out)
    else if (statSync(p).isFile()) out.push(relative(root, p))
  }
}

const readRange = (path: string, offset: number, length: number): Uint8Array => {
  const fd = openSync(path, "r")
  try {
    const buf = new Uint8Array(length)
    let got = 0
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got)
      if (n === 0) break
      got += n
    }
    return buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

/** A LayoutSource over a directory (the test-side implementation; engine-node will ship its own). */
export const dirSource = (root: string): LayoutSource => {
  const size = (path: string): number | undefined => {
    try {
      const st = statSync(join(root, path))
      return st.isFile() ? st.size : undefined
    } catch {
      return undefined
    }
  }
  return {
    name: root,
    list: () =>
      Effect.sync(() => {
        const out: Array<string> = []
        walk(root, root, out)
        return out
      }),
    stat: (path) => Effect.sync(() => size(path)),
    readAt: (path, offset, length) =>
      Effect.suspend(() => {
        const s = size(path)
        if (s === undefined) {
          return Effect.fail(
            new OciError({ reason: "NotFound", image: root, path, message: `${path} is missing` }),
          )
        }
        if (offset + length > s) {
          return Effect.fail(
            new OciError({ reason: "Truncated", image: root, path, message: "read past end" }),
          )
        }
        return Effect.succeed(readRange(join(root, path), offset, length))
      }),
  }
}

/** A RangeReader over a file with positional reads (no whole-file read), counting reads and bytes. */
export const fileReader = (path: string): RangeReader => {
  const fd = openSync(path, "r")
  const size = fstatSync(fd).size
  closeSync(fd)
  const stats: RangeStats = { reads: 0, bytes: 0 }
  return {
    source: path,
    size,
    stats,
    readAt: (offset, length) =>
      Effect.map(checkBounds(path, size, offset, length), () => {
        stats.reads++
        stats.bytes += length
        return readRange(path, offset, length)
      }),
  }
}

/** A descriptor-like record of a blob written by the builders. */
export interface Written {
  readonly digest: string
  readonly size: number
}

/** Writes `bytes` as `blobs/sha256/<hex>` under `dir`. */
export const writeBlob = (dir: string, bytes: Uint8Array | string): Written => {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes
  const hex = sha256Hex(b)
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true })
  writeFileSync(join(dir, "blobs", "sha256", hex), b)
  return { digest: `sha256:${hex}`, size: b.length }
}

/** Deterministic pseudo-random bytes (from @lazypull/testkit). */
export { noise }

/** What `buildLayout` wrote. */
export interface BuiltImage {
  readonly dir: string
  readonly manifest: Written
  readonly config: Written
  readonly layers: ReadonlyArray<Written>
  readonly diffIds: ReadonlyArray<string>
}

/** Options of `buildLayout`. */
export interface BuildOptions {
  readonly layers?: ReadonlyArray<Uint8Array>
  readonly gzip?: boolean
  readonly ref?: string
  readonly layerMediaType?: string
  /** Extra descriptors appended to index.json. */
  readonly extraManifests?: ReadonlyArray<unknown>
  /** Extra top-level config keys. */
  readonly configExtra?: Record<string, unknown>
  /** Skip index.json (for building nested indexes by hand). */
  readonly noIndex?: boolean
}

/** Writes a small OCI image layout into `dir` (created) and returns its digests. */
export const buildLayout = (dir: string, options: BuildOptions = {}): BuiltImage => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }))
  const raws = options.layers ?? [noise(3000, 1), noise(70_000, 2)]
  const diffIds = raws.map((r) => `sha256:${sha256Hex(r)}`)
  const layers = raws.map((r) => writeBlob(dir, options.gzip ? gzipSync(r) : r))
  const config = writeBlob(
    dir,
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: raws.map((_, i) => ({ created_by: `step ${i}`, "x-extra": i })),
      ...options.configExtra,
    }),
  )
  const layerType =
    options.layerMediaType ??
    (options.gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar")
  const manifest = writeBlob(
    dir,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layers.map((l) => ({ mediaType: layerType, ...l })),
    }),
  )
  if (!options.noIndex) {
    writeFileSync(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            annotations: { "org.opencontainers.image.ref.name": options.ref ?? "latest" },
          },
          ...(options.extraManifests ?? []),
        ],
      }),
    )
  }
  return { dir, manifest, config, layers, diffIds }
}

/** Packs the contents of `dir` into a tar file with GNU tar; returns the archive path. */
export const packTar = (dir: string, out: string): string => {
  execFileSync("tar", ["--format=gnu", "-C", dir, "-cf", out, "."])
  return out
}
