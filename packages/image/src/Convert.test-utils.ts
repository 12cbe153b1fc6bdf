// Shared by the convert and check tests: Node services, opening layouts, converting into a temp dir.
import { createHash } from "node:crypto"
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeEngine from "@lazypull/engine-node"
import { layerScratchFile } from "@lazypull/engine-node/NodeScratch"
import {
  blobPath,
  type Descriptor,
  directorySource,
  type LayoutSource,
  openLayout,
  tarSource,
} from "@lazypull/oci"
import { fileRangeReader, openOciArchiveOutput, openOciLayoutOutput } from "@lazypull/storage"
import { tmpDir } from "@lazypull/testkit"
import { layerAllDecompressors } from "@lazypull/zstd-chunked"
import { checkImage, externalTocsOf } from "./Check.ts"
import { type ConvertOptions, type ConvertResult, convertImages } from "./Convert.ts"
import type { ImageError } from "./ImageError.ts"
import { selectImages } from "./Select.ts"

const base = Layer.mergeAll(NodeEngine.layer, layerScratchFile(), NodeFileSystem.layer)
/** Every service convert and check need, on Node. */
export const TestServices = Layer.merge(base, layerAllDecompressors.pipe(Layer.provide(base)))

let lastDir = ""
/** The directory the last conversion wrote into (its only entry is the output, if any). */
export const lastTmp = (): string => join(lastDir, "out")

const convertFrom = (
  open: Effect.Effect<LayoutSource, unknown, any>,
  options: ConvertOptions,
  archive: boolean,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      lastDir = tmpDir()
      const out = join(lastDir, archive ? "out.tar" : "out")
      const source = yield* open
      const output = archive ? yield* openOciArchiveOutput(out) : yield* openOciLayoutOutput(out)
      const result = yield* convertImages(source, output, options)
      return { out, result }
    }),
  )

/** Converts the layout at `srcDir` into a new layout directory (or archive); returns its path and the result. */
export const convertDir = (srcDir: string, options: ConvertOptions = {}, archive = false) =>
  convertFrom(directorySource(srcDir), options, archive) as Effect.Effect<
    { out: string; result: ConvertResult },
    ImageError,
    Effect.Services<typeof convertImages>
  >

/** Converts an OCI or docker archive file into a new layout directory. */
export const convertArchive = (file: string, options: ConvertOptions = {}) =>
  convertFrom(
    Effect.flatMap(fileRangeReader(file), (r) => tarSource(r)),
    options,
    false,
  ) as Effect.Effect<
    { out: string; result: ConvertResult },
    ImageError,
    Effect.Services<typeof convertImages>
  >

/** Checks every selected image of a layout directory, external TOCs from `<tag>-esgztoc`. */
export const checkDir = (dir: string, ref?: string, withTocs = true) =>
  Effect.gen(function* () {
    const source = yield* directorySource(dir)
    const selection = yield* selectImages(source, { ref, allPlatforms: true })
    const tocs = withTocs
      ? yield* externalTocsOf(yield* openLayout(source), ref)
      : new Map<string, Uint8Array>()
    return yield* Effect.forEach(selection.images, (image) => checkImage(image, { externalTocs: tocs }))
  })

/** Copies a layout and lets `edit` rewrite its (only) manifest and config as JSON; returns the copy. */
export const editLayout = (
  dir: string,
  edit: (manifest: Record<string, any>, config: Record<string, any>) => void,
): string => {
  const copy = join(tmpDir(), "edited")
  cpSync(dir, copy, { recursive: true })
  const indexPath = join(copy, "index.json")
  const index = JSON.parse(readFileSync(indexPath, "utf8"))
  const md: Descriptor = index.manifests[0]
  const manifest = JSON.parse(readFileSync(join(copy, blobPath(md.digest)), "utf8"))
  const config = JSON.parse(readFileSync(join(copy, blobPath(manifest.config.digest)), "utf8"))
  edit(manifest, config)
  const put = (bytes: Buffer) => {
    const digest = `sha256:${sha256Hex(bytes)}`
    writeFileSync(join(copy, blobPath(digest)), bytes)
    return { digest, size: bytes.length }
  }
  const c = put(Buffer.from(JSON.stringify(config)))
  manifest.config = { ...manifest.config, ...c }
  const m = put(Buffer.from(JSON.stringify(manifest)))
  index.manifests[0] = { ...md, ...m }
  writeFileSync(indexPath, JSON.stringify(index))
  return copy
}

const sha256Hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

/** sha256 hex of a file. */
export const sha256File = (path: string): string => sha256Hex(readFileSync(path))

/** Whether a path exists. */
export const exists = (path: string): boolean => existsSync(path)
