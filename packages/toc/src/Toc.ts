import * as Effect from "effect/Effect"
import {
  compareCodePoints,
  decodeUtf8Go,
  goQuote,
  JNum,
  JObj,
  JsonSyntaxError,
  MAX_DEPTH,
  parseExact,
  countKeys,
  prescan,
  Scan,
} from "./internal/GoJson.ts"
import * as Path from "./internal/Path.ts"
import * as Time from "./internal/Time.ts"
import { TocError, type TocErrorReason } from "./TocError.ts"

/** The `type` of a TOC entry; `chunk` continues the preceding `reg`. */
export type EntryType = "dir" | "reg" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "chunk"

/**
 * The TOC `type` of a tar typeflag ("0" reg … "6" fifo); undefined for types a TOC cannot carry.
 *
 * @example
 * entryTypeOf("5") // "dir"
 */
export const entryTypeOf = (typeflag: string): EntryType | undefined => TYPE_OF_FLAG[typeflag]

const TYPE_OF_FLAG: Readonly<Record<string, EntryType>> = {
  "0": "reg",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
}

/**
 * One TOC entry. Keys are the JSON keys the Go writers use; an absent key means zero or empty, and
 * {@link parseToc} never produces a zero number, an empty string or an empty `xattrs`.
 */
export interface TocEntry {
  name: string
  type: EntryType
  size?: number
  modtime?: string
  linkName?: string
  mode?: number
  uid?: number
  gid?: number
  userName?: string
  groupName?: string
  offset?: number
  innerOffset?: number
  devMajor?: number
  devMinor?: number
  /** xattr name → standard base64 (with padding) of the raw value. */
  xattrs?: Record<string, string>
  digest?: string
  chunkOffset?: number
  chunkSize?: number
  chunkDigest?: string
  /** containers/storage: end (exclusive) of the file's last compressed frame, on the `reg` entry. */
  endOffset?: number
  /** containers/storage: `"zeros"` for a hole, absent for data. */
  chunkType?: string
  /** containers/storage: RFC 3339, possibly with fraction and offset. */
  accesstime?: string
  /** containers/storage: RFC 3339, possibly with fraction and offset. */
  changetime?: string
}

/** A parsed TOC (`version` is always 1). */
export interface Toc {
  version: number
  entries: Array<TocEntry>
  /** containers/storage: sha256 of the compressed tar-split frame. */
  tarSplitDigest?: string
}

/** Limits for {@link parseToc}. */
export interface ParseTocOptions {
  /** Refuse JSON longer than this many bytes before parsing it (default 150 MiB, the c/storage limit). */
  maxBytes?: number
  /** Refuse a TOC with more entries (default 5,000,000). */
  maxEntries?: number
}

/** How {@link serializeToc} lays out the JSON. */
export type TocStyle = "estargz" | "compact"

/** Default `maxBytes` of {@link parseToc}: 150 MiB. */
export const DEFAULT_MAX_TOC_BYTES = 150 * 1024 * 1024
/** Default `maxEntries` of {@link parseToc}. */
export const DEFAULT_MAX_TOC_ENTRIES = 5_000_000

/** Every valid `type` value. */
export const ENTRY_TYPES: ReadonlySet<string> = new Set<EntryType>([
  "dir",
  "reg",
  "symlink",
  "hardlink",
  "char",
  "block",
  "fifo",
  "chunk",
])

/**
 * Go's `path.Clean("/"+name)` without the leading `/`, the name normalisation every reader applies.
 * @example cleanEntryName("./etc/") // "etc"; cleanEntryName("../foo") // "foo"; cleanEntryName("./") // ""
 */
export const cleanEntryName: (name: string) => string = Path.cleanEntryName

/**
 * The estargz `modtime` for Unix seconds: UTC, rounded to the nearest second (Go `Round`), RFC 3339 with `Z`;
 * `undefined` for Go's zero time and for Unix second 0. Years outside 0000..9999 are written as Go does.
 * @example formatModtime(1609556645.5) // "2021-01-02T03:04:06Z"
 */
export const formatModtime: (seconds: number) => string | undefined = Time.formatModtime

/**
 * Unix seconds of an RFC 3339 `modtime`/`accesstime`/`changetime` (fraction and offset allowed); `undefined`
 * when it does not parse, for year 0001 (Go's zero time) and for Unix second 0.
 * @example parseModtime("2021-01-02T04:04:05.25+01:00") // 1609556645.25
 */
export const parseModtime: (s: string) => number | undefined = Time.parseModtime

// ---------------------------------------------------------------------------------------------------------------
// Parsing

enum Kind {
  Str = 0,
  Int = 1,
  Map = 2,
}

// Field ids double as bit positions in a "seen" mask.
const FIELDS = [
  "name",
  "type",
  "size",
  "modtime",
  "linkName",
  "mode",
  "uid",
  "gid",
  "userName",
  "groupName",
  "offset",
  "innerOffset",
  "devMajor",
  "devMinor",
  "xattrs",
  "digest",
  "chunkOffset",
  "chunkSize",
  "chunkDigest",
  "endOffset",
  "chunkType",
  "accesstime",
  "changetime",
] as const satisfies ReadonlyArray<keyof TocEntry>
type Field = (typeof FIELDS)[number]

const KIND: Record<Field, Kind> = {
  name: Kind.Str,
  type: Kind.Str,
  size: Kind.Int,
  modtime: Kind.Str,
  linkName: Kind.Str,
  mode: Kind.Int,
  uid: Kind.Int,
  gid: Kind.Int,
  userName: Kind.Str,
  groupName: Kind.Str,
  offset: Kind.Int,
  innerOffset: Kind.Int,
  devMajor: Kind.Int,
  devMinor: Kind.Int,
  xattrs: Kind.Map,
  digest: Kind.Str,
  chunkOffset: Kind.Int,
  chunkSize: Kind.Int,
  chunkDigest: Kind.Str,
  endOffset: Kind.Int,
  chunkType: Kind.Str,
  accesstime: Kind.Str,
  changetime: Kind.Str,
}
const OFFSET_FIELDS: ReadonlySet<string> = new Set(["offset", "innerOffset", "chunkOffset", "endOffset"])

// Go's key folding (encoding/json foldName): ASCII letters to upper case, and the two non-ASCII letters whose
// simple case folding reaches ASCII: U+017F (long s) → S, U+212A (Kelvin sign) → K.
const foldKey = (k: string): string =>
  k
    .toUpperCase()
    .replace(/\u017f/g, "S")
    .replace(/\u212a/g, "K")
const goFold = (k: string): string => {
  let out = ""
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i)
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32)
    else if (c === 0x17f) out += "S"
    else if (c === 0x212a) out += "K"
    else out += k[i]
  }
  return out
}

const makeLookup = (names: ReadonlyArray<string>) => {
  const exact = new Map<string, number>()
  const folded = new Map<string, number>()
  names.forEach((n, i) => {
    exact.set(n, i)
    folded.set(foldKey(n), i)
  })
  return (key: string): number => exact.get(key) ?? folded.get(goFold(key)) ?? -1
}
const entryField = makeLookup(FIELDS)
const TOP_FIELDS = ["version", "entries", "tarSplitDigest"] as const
const topField = makeLookup(TOP_FIELDS)

/** Returned when the fast path meets something only the exact parser reproduces faithfully. */
const NEED_EXACT: unique symbol = Symbol("NEED_EXACT")
/** A field value of JSON `null`: Go leaves the field unchanged. */
const SKIP: unique symbol = Symbol("SKIP")

class Fail {
  constructor(readonly error: TocError) {}
}

const fail = (reason: TocErrorReason, entry: string, message: string): Fail =>
  new Fail(new TocError({ reason, entry, message }))

type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string }
const wellFormed = (s: string): string => {
  const w = s as WellFormedString
  return w.isWellFormed() ? s : w.toWellFormed()
}

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Go decodes xattr values as base64 (skipping CR and LF, accepting non-zero trailing bits) and writes them back
// canonically; do the same so that the value re-serialises as Go would. `undefined` when it is not base64.
const canonicalBase64 = (v: string): string | undefined => {
  const s = v.includes("\r") || v.includes("\n") ? v.replace(/[\r\n]/g, "") : v
  if (!BASE64.test(s)) return undefined
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0
  if (pad === 0) return s
  const at = s.length - pad - 1
  const mask = pad === 2 ? 15 : 3
  const bits = B64.indexOf(s[at]!)
  return (bits & mask) === 0 ? s : s.slice(0, at) + B64[bits & ~mask] + s.slice(at + 1)
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof JObj) && !(v instanceof JNum)

const jsonType = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "array"
      : v instanceof JNum || typeof v === "number"
        ? "number"
        : v instanceof JObj || typeof v === "object"
          ? "object"
          : typeof v

const where = (index: number, name: string): string =>
  name === "" ? `entry #${index}` : `entry #${index} (${name})`

const setOwn = (o: Record<string, unknown>, k: string, v: unknown): void => {
  if (k === "__proto__")
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  else o[k] = v
}

// A Go integer field: a JSON number written without fraction or exponent, within the safe-integer range, and
// (for every TOC field) not negative. `null` leaves the field unchanged.
const readInt = (v: unknown, field: string, ctx: () => [number, string]): number | typeof SKIP | Fail => {
  let n: number
  if (typeof v === "number") n = v
  else if (v instanceof JNum) {
    if (!INTEGER.test(v.raw)) {
      const [i, name] = ctx()
      return fail("Schema", name, `${where(i, name)}: "${field}" must be an integer, got ${v.raw}`)
    }
    n = Number(v.raw)
  } else if (v === null) return SKIP
  else {
    const [i, name] = ctx()
    return fail("Schema", name, `${where(i, name)}: "${field}" must be an integer, got ${jsonType(v)}`)
  }
  if (!Number.isSafeInteger(n)) {
    const [i, name] = ctx()
    return fail("Schema", name, `${where(i, name)}: "${field}" is outside the safe-integer range`)
  }
  if (n < 0) {
    const [i, name] = ctx()
    return fail(
      OFFSET_FIELDS.has(field) ? "BadOffset" : "Schema",
      name,
      `${where(i, name)}: "${field}" must not be negative, got ${n}`,
    )
  }
  return n === 0 ? 0 : n // folds -0
}

const readStr = (v: unknown, field: string, ctx: () => [number, string]): string | typeof SKIP | Fail => {
  if (typeof v === "string") return v
  if (v === null) return SKIP
  const [i, name] = ctx()
  return fail("Schema", name, `${where(i, name)}: "${field}" must be a string, got ${jsonType(v)}`)
}

// xattrs: an object of base64 strings (Go []byte). A null value is an empty value; a null map leaves it unset.
// Returns the (possibly reused) map, whether it was reusable as is, or a failure.
const readXattrs = (
  v: unknown,
  ctx: () => [number, string],
): { map: Record<string, string> | undefined; clean: boolean } | typeof SKIP | Fail => {
  if (v === null) return SKIP
  const bad = (msg: string) => {
    const [i, name] = ctx()
    return fail("Schema", name, `${where(i, name)}: xattrs ${msg}`)
  }
  if (v instanceof JObj) {
    const out: Record<string, string> = {}
    let count = 0
    for (let k = 0; k < v.keys.length; k++) {
      const val = v.vals[k]
      if (val !== null && typeof val !== "string") return bad(`value of "${v.keys[k]}" must be a string`)
      const s = canonicalBase64(val ?? "")
      if (s === undefined) return bad(`value of "${v.keys[k]}" is not base64`)
      const key = wellFormed(v.keys[k]!)
      if (!Object.hasOwn(out, key)) count++
      setOwn(out, key, s)
    }
    return { map: count === 0 ? undefined : out, clean: false }
  }
  if (!isPlainObject(v)) return bad(`must be an object, got ${jsonType(v)}`)
  let clean = true
  let count = 0
  for (const key in v) {
    const val = v[key]
    if (val === null) clean = false
    else if (typeof val !== "string") return bad(`value of "${key}" must be a string`)
    else {
      const c = canonicalBase64(val)
      if (c === undefined) return bad(`value of "${key}" is not base64`)
      if (c !== val) clean = false
    }
    if (!(key as WellFormedString).isWellFormed()) clean = false
    count++
  }
  if (count === 0) return { map: undefined, clean: false }
  if (clean) return { map: v as Record<string, string>, clean: true }
  const out: Record<string, string> = {}
  for (const key in v) setOwn(out, wellFormed(key), canonicalBase64((v[key] as string | null) ?? "")!)
  return { map: out, clean: false }
}

const EXACT_FIELD = new Map<string, Kind>(FIELDS.map((f) => [f, KIND[f]]))

// The common case, allocation-free: a plain object from JSON.parse whose keys are all canonical and whose values
// are all valid and non-zero is itself the entry. Anything else (including every error) goes to readEntry.
const isCleanEntry = (v: Record<string, unknown>): boolean => {
  let hasName = false
  for (const key in v) {
    const kind = EXACT_FIELD.get(key)
    const val = v[key]
    if (kind === Kind.Str) {
      if (typeof val !== "string" || val === "" || !(val as WellFormedString).isWellFormed()) return false
      if (key === "name") hasName = true
    } else if (kind === Kind.Int) {
      if (typeof val !== "number" || !(val > 0) || !Number.isSafeInteger(val)) return false
    } else if (kind === Kind.Map) {
      const x = readXattrs(val, noCtx)
      if (x === SKIP || x instanceof Fail || !x.clean) return false
    } else return false
  }
  return hasName && ENTRY_TYPES.has(v.type as string)
}
const noCtx = (): [number, string] => [0, ""]

const NOT_OBJECT = Symbol("not an object")

/**
 * Calls `take` for every key of an object from either parser, in order, until it returns something; `fast`
 * says the object came from JSON.parse (duplicate keys already merged).
 */
const eachKey = <R>(
  v: unknown,
  take: (key: string, val: unknown, fast: boolean) => R | undefined,
): R | undefined | typeof NOT_OBJECT => {
  if (v instanceof JObj) {
    for (let k = 0; k < v.keys.length; k++) {
      const r = take(v.keys[k]!, v.vals[k], false)
      if (r !== undefined) return r
    }
    return undefined
  }
  if (!isPlainObject(v)) return NOT_OBJECT
  for (const key in v) {
    const r = take(key, v[key], true)
    if (r !== undefined) return r
  }
  return undefined
}

// Reads one entry: the object itself when it is clean (see isCleanEntry), otherwise a fresh object in canonical
// key order, with Go's semantics for spellings (later wins), nulls and zero values, or the error.
const readEntry = (v: unknown, index: number): TocEntry | Fail | typeof NEED_EXACT => {
  if (isPlainObject(v) && isCleanEntry(v)) return v as unknown as TocEntry
  const values: Partial<Record<Field, unknown>> = {}
  let rawName = ""
  const ctx = (): [number, string] => [index, rawName]
  const take = (key: string, val: unknown, fast: boolean): Fail | typeof NEED_EXACT | undefined => {
    const f = entryField(key)
    if (f < 0) return undefined
    const field = FIELDS[f]!
    // JSON.parse kept only the last of duplicate keys; with two spellings of one key the order matters
    if (fast && Object.hasOwn(values, field)) return NEED_EXACT
    switch (KIND[field]) {
      case Kind.Str: {
        const s = readStr(val, field, ctx)
        if (s instanceof Fail) return s
        if (s === SKIP) {
          if (fast) values[field] = undefined // seen, value unchanged
          return undefined
        }
        values[field] = wellFormed(s)
        if (field === "name") rawName = values[field] as string
        return undefined
      }
      case Kind.Int: {
        const n = readInt(val, field, ctx)
        if (n instanceof Fail) return n
        if (n !== SKIP) values[field] = n
        else if (fast) values[field] = undefined
        return undefined
      }
      case Kind.Map: {
        // null sets a Go map to nil
        const x = readXattrs(val, ctx)
        if (x instanceof Fail) return x
        values[field] = x === SKIP ? undefined : x.map
        return undefined
      }
    }
  }

  const r = eachKey(v, take)
  if (r === NOT_OBJECT) return fail("Schema", "", `entry #${index}: must be an object, got ${jsonType(v)}`)
  if (r !== undefined) return r

  const type = values.type
  if (typeof type !== "string" || !ENTRY_TYPES.has(type)) {
    return fail(
      "BadEntry",
      rawName,
      `${where(index, rawName)}: unknown type ${type === undefined ? "(none)" : JSON.stringify(type)}`,
    )
  }
  const out: Record<string, unknown> = { name: typeof values.name === "string" ? values.name : "", type }
  for (let f = 2; f < FIELDS.length; f++) {
    const field = FIELDS[f]!
    const val = values[field]
    if (val !== undefined && val !== 0 && val !== "") out[field] = val
  }
  return out as unknown as TocEntry
}

const readToc = (root: unknown, maxEntries: number): Toc | Fail | typeof NEED_EXACT => {
  const topFail = (reason: TocErrorReason, message: string) => fail(reason, "", message)
  let version: unknown
  let entries: unknown
  let tarSplitDigest: unknown
  let seen = 0
  const earlierEntries: Array<Array<unknown>> = []
  const take = (key: string, val: unknown, fast: boolean): Fail | typeof NEED_EXACT | undefined => {
    const f = topField(key)
    if (f < 0) return undefined
    if (fast && seen & (1 << f)) return NEED_EXACT
    seen |= 1 << f
    if (val === null) {
      // Go leaves the field as it was; a null `entries` (what Go writes for an empty archive) is no entries.
      if (f === 1) entries = []
      return undefined
    }
    // Go type-checks every occurrence of a key, the earlier of duplicates too, though the last one wins
    if (f === 0) {
      if (readVersion(val) === undefined)
        return topFail("Schema", `"version" must be an integer, got ${describe(val)}`)
      version = val
    } else if (f === 1) {
      if (!Array.isArray(val)) return topFail("Schema", `"entries" must be an array, got ${jsonType(val)}`)
      if (Array.isArray(entries)) earlierEntries.push(entries)
      entries = val
    } else {
      if (typeof val !== "string")
        return topFail("Schema", `"tarSplitDigest" must be a string, got ${jsonType(val)}`)
      tarSplitDigest = val
    }
    return undefined
  }
  const r = eachKey(root, take)
  if (r === NOT_OBJECT) return topFail("Schema", `the TOC must be a JSON object, got ${jsonType(root)}`)
  if (r !== undefined) return r

  if (version === undefined) return topFail("BadVersion", "the TOC has no version (want 1)")
  const vn = readVersion(version)
  if (vn === undefined) return topFail("Schema", `"version" must be an integer, got ${describe(version)}`)
  if (vn !== 1) return topFail("BadVersion", `unsupported TOC version ${describe(version)} (want 1)`)
  if (entries === undefined) return topFail("Schema", 'the TOC has no "entries" array')
  if (!Array.isArray(entries))
    return topFail("Schema", `"entries" must be an array, got ${jsonType(entries)}`)
  if (entries.length > maxEntries)
    return topFail("TooLarge", `the TOC has ${entries.length} entries, more than the limit of ${maxEntries}`)

  // an earlier "entries" array is decoded (and its errors reported) before the later one replaces it
  for (const earlier of earlierEntries) {
    for (let i = 0; i < earlier.length; i++) {
      const e = readEntry(earlier[i], i)
      if (e === NEED_EXACT || e instanceof Fail) return e
    }
  }
  const out: Array<TocEntry> = new Array(entries.length)
  for (let i = 0; i < entries.length; i++) {
    const e = readEntry(entries[i], i)
    if (e === NEED_EXACT || e instanceof Fail) return e
    out[i] = e
  }
  const toc: Toc = { version: 1, entries: out }
  if (typeof tarSplitDigest === "string" && tarSplitDigest !== "")
    toc.tarSplitDigest = wellFormed(tarSplitDigest)
  return toc
}

const readVersion = (v: unknown): number | undefined =>
  typeof v === "number" ? v : v instanceof JNum && INTEGER.test(v.raw) ? Number(v.raw) : undefined

const describe = (v: unknown): string => (v instanceof JNum ? v.raw : (JSON.stringify(v) ?? String(v)))

const decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true })

/** {@link parseToc} without the Effect wrapper; `exact` forces the slow exact parser (tests compare both paths). */
export const parseTocSync = (json: Uint8Array, options?: ParseTocOptions, exact = false): Toc | TocError => {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_TOC_BYTES
  const maxEntries = options?.maxEntries ?? DEFAULT_MAX_TOC_ENTRIES
  if (json.length > maxBytes) {
    return new TocError({
      reason: "TooLarge",
      entry: "",
      message: `the TOC is ${json.length} bytes, more than the limit of ${maxBytes}`,
    })
  }
  const scan = exact ? Scan.Exact : prescan(json)
  if (scan === Scan.TooDeep)
    return new TocError({
      reason: "InvalidJson",
      entry: "",
      message: `JSON nesting exceeds ${MAX_DEPTH} levels`,
    })
  let text: string
  try {
    text = decoder.decode(json)
  } catch {
    // not UTF-8: replace bad bytes with U+FFFD one by one, as Go's decoder does inside strings
    text = decodeUtf8Go(json)
  }
  if (scan >= 0) {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (e) {
      return new TocError({
        reason: "InvalidJson",
        entry: "",
        message: `invalid JSON: ${(e as Error).message}`,
      })
    }
    // fewer keys than the text holds: JSON.parse dropped a duplicate, whose value Go still type-checks
    if (countKeys(value) === scan) {
      const r = readToc(value, maxEntries)
      if (r instanceof Fail) return r.error
      if (r !== NEED_EXACT) return r
    }
  }
  const value = parseExact(text)
  if (value instanceof JsonSyntaxError) {
    return new TocError({
      reason: "InvalidJson",
      entry: "",
      message: `invalid JSON at character ${value.at}: ${value.message}`,
    })
  }
  const r = readToc(value, maxEntries)
  if (r === NEED_EXACT) {
    return new TocError({ reason: "InvalidJson", entry: "", message: "internal: exact parse fell back" })
  }
  return r instanceof Fail ? r.error : r
}

/**
 * Parses TOC JSON the way Go's encoding/json reads it into the estargz (or containers/storage) structs:
 * keys match case-insensitively (Go folding), unknown keys are ignored, `null` leaves a field unset, integer
 * fields must be JSON integers in the safe range and not negative, `version` must be 1, only whitespace may
 * follow the object (FORMATS §12 #6). Input above `maxBytes` is refused before it is decoded.
 * Zero numbers, empty strings and empty `xattrs` are dropped, so the result re-serialises like the Go writer.
 * @example parseToc(new TextEncoder().encode('{"version":1,"entries":[]}')) // Effect<{ version: 1, entries: [] }>
 */
export const parseToc = (json: Uint8Array, options?: ParseTocOptions): Effect.Effect<Toc, TocError> =>
  Effect.suspend(() => {
    const r = parseTocSync(json, options)
    return r instanceof TocError ? Effect.fail(r) : Effect.succeed(r)
  })

// ---------------------------------------------------------------------------------------------------------------
// Serialisation

// Key order of the estargz Go struct (types.go), with the containers/storage-only keys at the nearest natural place.
const ESTARGZ_ORDER: ReadonlyArray<Field> = [
  "name",
  "type",
  "size",
  "modtime",
  "accesstime",
  "changetime",
  "linkName",
  "mode",
  "uid",
  "gid",
  "userName",
  "groupName",
  "offset",
  "innerOffset",
  "endOffset",
  "devMajor",
  "devMinor",
  "xattrs",
  "digest",
  "chunkOffset",
  "chunkSize",
  "chunkDigest",
  "chunkType",
]
// Key order of containers/storage's FileMetadata, with the estargz-only keys at the nearest natural place.
const COMPACT_ORDER: ReadonlyArray<Field> = [
  "type",
  "name",
  "linkName",
  "mode",
  "size",
  "uid",
  "gid",
  "userName",
  "groupName",
  "modtime",
  "accesstime",
  "changetime",
  "devMajor",
  "devMinor",
  "xattrs",
  "digest",
  "offset",
  "innerOffset",
  "endOffset",
  "chunkSize",
  "chunkOffset",
  "chunkDigest",
  "chunkType",
]

// Go writes integers in decimal; anything that is not a finite number is treated as zero (omitted).
const goInt = (n: number): string => (Number.isSafeInteger(n) ? String(n) : BigInt(Math.trunc(n)).toString())

const writeEntry = (e: TocEntry, order: ReadonlyArray<Field>, indent: boolean): string => {
  const sep = indent ? ",\n\t\t\t" : ","
  const colon = indent ? ": " : ":"
  let out = indent ? "{\n\t\t\t" : "{"
  let first = true
  for (const field of order) {
    const v = e[field]
    let text: string
    if (field === "name" || field === "type") text = goQuote(typeof v === "string" ? v : "")
    else if (typeof v === "string") {
      if (v === "") continue
      text = goQuote(v)
    } else if (typeof v === "number") {
      if (v === 0 || !Number.isFinite(v)) continue
      text = goInt(v)
    } else if (typeof v === "object" && v !== null) {
      const keys = Object.keys(v)
      if (keys.length === 0) continue
      keys.sort(compareCodePoints)
      const inner = indent ? ",\n\t\t\t\t" : ","
      text = indent ? "{\n\t\t\t\t" : "{"
      keys.forEach((k, i) => {
        if (i > 0) text += inner
        text += goQuote(k) + colon + goQuote((v as Record<string, string>)[k] ?? "")
      })
      text += indent ? "\n\t\t\t}" : "}"
    } else continue
    if (!first) out += sep
    first = false
    out += goQuote(field) + colon + text
  }
  return out + (indent ? "\n\t\t}" : "}")
}

/**
 * Serialises a TOC. `"estargz"` is byte-identical to Go's `json.MarshalIndent(toc, "", "\t")` of the estargz
 * JTOC (struct key order, omitempty, sorted `xattrs`, `<>&` U+2028 U+2029 escaped, no trailing newline);
 * `"compact"` is the containers/storage layout (its key order, no whitespace). Keys one dialect lacks are
 * written at the closest natural position so that both styles round-trip through {@link parseToc}.
 */
export const serializeToc = (toc: Toc, style: TocStyle): Uint8Array => {
  const indent = style === "estargz"
  const order = indent ? ESTARGZ_ORDER : COMPACT_ORDER
  let out = indent
    ? '{\n\t"version": ' + goInt(toc.version) + ',\n\t"entries": '
    : '{"version":' + goInt(toc.version) + ',"entries":'
  const entries = toc.entries
  if (entries.length === 0) out += "[]"
  else {
    out += indent ? "[\n\t\t" : "["
    const sep = indent ? ",\n\t\t" : ","
    for (let i = 0; i < entries.length; i++) {
      if (i > 0) out += sep
      out += writeEntry(entries[i]!, order, indent)
    }
    out += indent ? "\n\t]" : "]"
  }
  if (toc.tarSplitDigest !== undefined && toc.tarSplitDigest !== "")
    out += (indent ? ',\n\t"tarSplitDigest": ' : ',"tarSplitDigest":') + goQuote(toc.tarSplitDigest)
  out += indent ? "\n}" : "}"
  return new TextEncoder().encode(out)
}
