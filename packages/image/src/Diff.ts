// Comparing the merged file trees of two images: what a conversion must keep.
import * as Effect from "effect/Effect"
import type { GzipEngine, Sha256, ZstdEngine } from "@lazypull/codec"
import type { Image } from "@lazypull/oci"
import type { ImageError } from "./ImageError.ts"
import { comparePaths, type ImageTree, imageTree, type LayerArtefact, type TreeEntry } from "./Tree.ts"

/** The entry fields {@link diffImages} compares. */
export type DiffField =
  | "type"
  | "size"
  | "mode"
  | "uid"
  | "gid"
  | "linkName"
  | "xattrs"
  | "sha256"
  | "devMajor"
  | "devMinor"
  | "modtime"

/** One field that differs, with both values (mode as octal text, xattrs as JSON, modtime in whole seconds). */
export interface FieldChange {
  readonly field: DiffField
  readonly a: string | number
  readonly b: string | number
}

/** A path present in both images whose entries differ. */
export interface PathChange {
  readonly path: string
  readonly fields: ReadonlyArray<FieldChange>
}

/** What differs between two merged trees; every list sorted by path. */
export interface ImageDiff {
  /** No path missing, added or changed (artefacts do not count). */
  readonly same: boolean
  /** Paths only in A. */
  readonly missing: ReadonlyArray<string>
  /** Paths only in B. */
  readonly added: ReadonlyArray<string>
  readonly changed: ReadonlyArray<PathChange>
  /** Converter artefacts (landmarks, in-tar TOC) of each image, per layer: reported, never compared. */
  readonly artefacts: { readonly a: ReadonlyArray<LayerArtefact>; readonly b: ReadonlyArray<LayerArtefact> }
}

/** Options of {@link diffImages}. */
export interface DiffOptions {
  /** Compare modification times too, rounded to whole seconds as TOCs store them (default false). */
  readonly compareModtime?: boolean
  /** Layers streamed at once per image (default 2). */
  readonly concurrency?: number
}

const octal = (mode: number): string => `0${mode.toString(8)}`

const sameXattrs = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) if (a[k] !== b[k]) return false
  return true
}

/** Go's time.Round(time.Second) of Unix seconds (halves away from zero). */
const wholeSeconds = (t: number): number => Math.sign(t) * Math.round(Math.abs(t))

/** The fields in which two entries of the same path differ (empty when they are the same). */
export const entryChanges = (a: TreeEntry, b: TreeEntry, options: DiffOptions = {}): Array<FieldChange> => {
  const out: Array<FieldChange> = []
  const num = (field: DiffField, x: number, y: number) => {
    if (x !== y) out.push({ field, a: x, b: y })
  }
  if (a.type !== b.type) out.push({ field: "type", a: a.type, b: b.type })
  num("size", a.size, b.size)
  if (a.mode !== b.mode) out.push({ field: "mode", a: octal(a.mode), b: octal(b.mode) })
  num("uid", a.uid, b.uid)
  num("gid", a.gid, b.gid)
  if (a.linkName !== b.linkName) out.push({ field: "linkName", a: a.linkName, b: b.linkName })
  if (!sameXattrs(a.xattrs, b.xattrs))
    out.push({ field: "xattrs", a: JSON.stringify(a.xattrs), b: JSON.stringify(b.xattrs) })
  if (a.sha256 !== b.sha256) out.push({ field: "sha256", a: a.sha256, b: b.sha256 })
  num("devMajor", a.devMajor, b.devMajor)
  num("devMinor", a.devMinor, b.devMinor)
  if (options.compareModtime === true) num("modtime", wholeSeconds(a.modtime), wholeSeconds(b.modtime))
  return out
}

/**
 * Compares two merged trees by path: type, size, mode, uid/gid, link target, xattrs, content sha256 and device
 * numbers (and modtime when asked). Deterministic: lists sorted by path.
 *
 * @example
 * const d = diffTrees(yield* imageTree(a), yield* imageTree(b)) // d.same, d.missing, d.changed
 */
export const diffTrees = (a: ImageTree, b: ImageTree, options: DiffOptions = {}): ImageDiff => {
  const missing: Array<string> = []
  const added: Array<string> = []
  const changed: Array<PathChange> = []
  // both entry lists are sorted by comparePaths: walk them side by side
  const ea = a.entries
  const eb = b.entries
  let i = 0
  let j = 0
  while (i < ea.length || j < eb.length) {
    const x = ea[i]
    const y = eb[j]
    const c = x === undefined ? 1 : y === undefined ? -1 : comparePaths(x.path, y.path)
    if (c < 0) {
      missing.push(x!.path)
      i++
    } else if (c > 0) {
      added.push(y!.path)
      j++
    } else {
      const fields = entryChanges(x!, y!, options)
      if (fields.length > 0) changed.push({ path: x!.path, fields })
      i++
      j++
    }
  }
  return {
    same: missing.length === 0 && added.length === 0 && changed.length === 0,
    missing,
    added,
    changed,
    artefacts: { a: a.artefacts, b: b.artefacts },
  }
}

/**
 * Compares the merged file trees of two images (each layer streamed once): how to prove that a conversion lost
 * nothing. Landmarks and the in-tar TOC a converter adds are reported under `artefacts`, not as differences.
 *
 * @example
 * const d = yield* diffImages(original, converted)
 * if (!d.same) console.log(d.missing, d.added, d.changed)
 */
export const diffImages = (
  a: Image,
  b: Image,
  options: DiffOptions = {},
): Effect.Effect<ImageDiff, ImageError, GzipEngine | ZstdEngine | Sha256> =>
  Effect.map(Effect.all([imageTree(a, options), imageTree(b, options)], { concurrency: 2 }), ([ta, tb]) =>
    diffTrees(ta, tb, options),
  )
