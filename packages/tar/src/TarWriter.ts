import {
  BLOCK,
  encodeUtf8,
  F,
  isAscii,
  isValidUtf8,
  octalMax,
  writeAscii,
  writeBytes,
  writeNumeric,
  writeOctal,
} from "./internal/Fields.ts"
import { formatPaxRecord } from "./internal/Pax.ts"

/** What to write for one entry; absent fields are 0 / empty, `typeflag` defaults to "0". */
export interface TarEntryInput {
  readonly name: string
  readonly typeflag: string
  readonly size?: number
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  readonly mtime?: number
  readonly linkname?: string
  readonly uname?: string
  readonly gname?: string
  readonly devmajor?: number
  readonly devminor?: number
  readonly xattrs?: ReadonlyMap<string, Uint8Array> | Record<string, Uint8Array>
}

/** Header flavours the writer produces. */
export type TarWriteFormat = "ustar" | "pax" | "gnu"

const MAX = Number.MAX_SAFE_INTEGER
const NAME_MAX = F.nameLen
const PREFIX_MAX = F.prefixLen
const OWNER_MAX = F.nameFieldLen
const EMPTY = new Uint8Array(0)

const int = (x: number | undefined): number =>
  x === undefined || !Number.isFinite(x) ? 0 : Math.max(-MAX, Math.min(MAX, Math.trunc(x)))

const isHeaderOnly = (t: number): boolean => t >= 0x31 && t <= 0x36

/** Splits an ASCII path into a ustar prefix (≤155) and name (1..100) at a "/", if possible. */
const splitUstar = (s: string): readonly [string, string] | undefined => {
  for (let i = Math.min(s.length - 2, PREFIX_MAX); i >= 1; i--) {
    if (s.charCodeAt(i) === 0x2f) {
      const rest = s.length - i - 1
      return rest <= NAME_MAX ? [s.slice(0, i), s.slice(i + 1)] : undefined
    }
  }
  return undefined
}

/** Replaces non-ASCII characters so that a placeholder field stays ASCII. */
const toAscii = (s: string): string => (isAscii(s) ? s : s.replace(/[^\x00-\x7f]/g, "_"))

const formatPaxTime = (t: number): string => {
  if (Number.isInteger(t)) return String(t)
  const s = String(t)
  if (!s.includes("e")) return s
  return t.toFixed(9).replace(/0+$/, "")
}

interface BlockFields {
  name: Uint8Array
  prefix: Uint8Array
  typeflag: number
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  linkname: Uint8Array
  uname: Uint8Array
  gname: Uint8Array
  devmajor: number
  devminor: number
}

const writeBlock = (out: Uint8Array, off: number, f: BlockFields, gnu: boolean): void => {
  const b = out.subarray(off, off + BLOCK)
  writeBytes(b, F.name, NAME_MAX, f.name)
  writeNumeric(b, F.mode, 8, f.mode)
  writeNumeric(b, F.uid, 8, f.uid)
  writeNumeric(b, F.gid, 8, f.gid)
  writeNumeric(b, F.size, 12, f.size)
  writeNumeric(b, F.mtime, 12, f.mtime)
  b[F.typeflag] = f.typeflag
  writeBytes(b, F.linkname, F.linknameLen, f.linkname)
  if (gnu) writeAscii(b, F.magic, "ustar  \0")
  else writeAscii(b, F.magic, "ustar\x0000")
  writeBytes(b, F.uname, OWNER_MAX, f.uname)
  writeBytes(b, F.gname, OWNER_MAX, f.gname)
  writeNumeric(b, F.devmajor, 8, f.devmajor)
  writeNumeric(b, F.devminor, 8, f.devminor)
  if (!gnu) writeBytes(b, F.prefix, PREFIX_MAX, f.prefix)
  for (let i = 0; i < 8; i++) b[F.chksum + i] = 0x20
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += b[i]!
  writeOctal(b, F.chksum, 7, sum)
}

const extensionFields = (name: string, typeflag: number, size: number): BlockFields => ({
  name: encodeUtf8(name),
  prefix: EMPTY,
  typeflag,
  mode: 0o644,
  uid: 0,
  gid: 0,
  size,
  mtime: 0,
  linkname: EMPTY,
  uname: EMPTY,
  gname: EMPTY,
  devmajor: 0,
  devminor: 0,
})

const paxHeaderName = (name: string): string => {
  const a = toAscii(name).replace(/\/+$/, "")
  const slash = a.lastIndexOf("/")
  const dir = slash >= 0 ? a.slice(0, slash) : "."
  const base = slash >= 0 ? a.slice(slash + 1) : a
  return `${dir}/PaxHeaders.0/${base}`.slice(0, NAME_MAX)
}

const blocksFor = (n: number): number => Math.ceil(n / BLOCK) * BLOCK

/** Assembles extension header + payload blocks followed by the entry block into one array. */
const assemble = (
  ext: ReadonlyArray<readonly [fields: BlockFields, payload: Uint8Array]>,
  main: BlockFields,
  gnu: boolean,
): Uint8Array => {
  let total = BLOCK
  for (const [, p] of ext) total += BLOCK + blocksFor(p.length)
  const out = new Uint8Array(total)
  let off = 0
  for (const [f, p] of ext) {
    writeBlock(out, off, f, gnu)
    out.set(p, off + BLOCK)
    off += BLOCK + blocksFor(p.length)
  }
  writeBlock(out, off, main, gnu)
  return out
}

/**
 * Encodes all header blocks of one entry. Default format: ustar when every field fits, else PAX
 * (like Go's archive/tar). "gnu" writes ././@LongLink 'L'/'K' records for names/links over 100 bytes
 * and base-256 numbers. xattrs, a fractional mtime or (for "gnu") owner names over 32 bytes force PAX;
 * "ustar" also falls back to PAX when a field does not fit. Numbers are truncated to integers (mtime
 * keeps its fraction via PAX); links, dirs, devices and FIFOs get size 0. Names must not contain NUL.
 *
 * @example
 * const blocks = encodeHeader({ name: "etc/hostname", typeflag: "0", size: 5, mode: 0o644 })
 */
export const encodeHeader = (entry: TarEntryInput, format?: TarWriteFormat): Uint8Array => {
  const typeflag = entry.typeflag.length > 0 ? entry.typeflag.charCodeAt(0) & 0xff : 0x30
  const size = isHeaderOnly(typeflag) ? 0 : Math.max(0, int(entry.size))
  const mtimeRaw = entry.mtime !== undefined && Number.isFinite(entry.mtime) ? entry.mtime : 0
  const mtime = Math.max(-MAX, Math.min(MAX, mtimeRaw))
  const name = entry.name
  const linkname = entry.linkname ?? ""
  const uname = entry.uname ?? ""
  const gname = entry.gname ?? ""
  const uid = int(entry.uid)
  const gid = int(entry.gid)
  const xattrs: ReadonlyArray<readonly [string, Uint8Array]> =
    entry.xattrs === undefined
      ? []
      : entry.xattrs instanceof Map
        ? [...(entry.xattrs as ReadonlyMap<string, Uint8Array>)]
        : Object.entries(entry.xattrs as Record<string, Uint8Array>)
  const nameB = encodeUtf8(name)
  const linkB = encodeUtf8(linkname)
  const unameB = encodeUtf8(uname)
  const gnameB = encodeUtf8(gname)
  const base: BlockFields = {
    name: nameB,
    prefix: EMPTY,
    typeflag,
    mode: int(entry.mode),
    uid,
    gid,
    size,
    mtime: Math.floor(mtime),
    linkname: linkB,
    uname: unameB,
    gname: gnameB,
    devmajor: int(entry.devmajor),
    devminor: int(entry.devminor),
  }

  const needPax =
    xattrs.length > 0 || !Number.isInteger(mtime) || unameB.length > OWNER_MAX || gnameB.length > OWNER_MAX
  if (format === "gnu" && !needPax) {
    const ext: Array<readonly [BlockFields, Uint8Array]> = []
    const longRecord = (bytes: Uint8Array, t: number) => {
      const payload = new Uint8Array(bytes.length + 1)
      payload.set(bytes)
      ext.push([extensionFields("././@LongLink", t, payload.length), payload])
    }
    if (linkB.length > F.linknameLen) longRecord(linkB, 0x4b)
    if (nameB.length > NAME_MAX) longRecord(nameB, 0x4c)
    return assemble(ext, base, true)
  }

  // ustar, falling back to PAX records for whatever does not fit
  const records = new Map<string, Uint8Array>()
  const main: BlockFields = { ...base }
  if (!isAscii(name) || nameB.length > NAME_MAX) {
    const split = isAscii(name) ? splitUstar(name) : undefined
    if (split !== undefined) {
      main.prefix = encodeUtf8(split[0])
      main.name = encodeUtf8(split[1])
    } else {
      records.set("path", nameB)
      main.name = encodeUtf8(toAscii(name).slice(0, NAME_MAX))
    }
  }
  if (!isAscii(linkname) || linkB.length > F.linknameLen) {
    records.set("linkpath", linkB)
    main.linkname = encodeUtf8(toAscii(linkname).slice(0, F.linknameLen))
  }
  if (!isAscii(uname) || unameB.length > OWNER_MAX) {
    records.set("uname", unameB)
    main.uname = encodeUtf8(toAscii(uname).slice(0, OWNER_MAX))
  }
  if (!isAscii(gname) || gnameB.length > OWNER_MAX) {
    records.set("gname", gnameB)
    main.gname = encodeUtf8(toAscii(gname).slice(0, OWNER_MAX))
  }
  const max8 = octalMax(8)
  const max12 = octalMax(12)
  if (uid < 0 || uid > max8) {
    records.set("uid", encodeUtf8(String(uid)))
    main.uid = 0
  }
  if (gid < 0 || gid > max8) {
    records.set("gid", encodeUtf8(String(gid)))
    main.gid = 0
  }
  if (size > max12) {
    records.set("size", encodeUtf8(String(size)))
    main.size = 0
  }
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > max12) {
    records.set("mtime", encodeUtf8(formatPaxTime(mtime)))
    if (main.mtime < 0 || main.mtime > max12) main.mtime = 0
  }
  for (const [k, v] of xattrs) records.set(`SCHILY.xattr.${k}`, v)
  if (records.size === 0) return assemble([], main, false)

  let binary = false
  for (const v of records.values()) if (!isValidUtf8(v)) binary = true
  const keys = [...records.keys()].sort()
  const parts: Array<Uint8Array> = []
  if (binary) parts.push(formatPaxRecord("hdrcharset", encodeUtf8("BINARY")))
  for (const k of keys) parts.push(formatPaxRecord(k, records.get(k)!))
  let len = 0
  for (const p of parts) len += p.length
  const payload = new Uint8Array(len)
  len = 0
  for (const p of parts) {
    payload.set(p, len)
    len += p.length
  }
  return assemble([[extensionFields(paxHeaderName(name), 0x78, payload.length), payload]], main, false)
}

/** Zero bytes from the end of a `size`-byte payload up to the next 512-byte boundary (0..511 bytes). */
export const paddingFor = (size: number): Uint8Array => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK)

/** The end-of-archive marker: two zero blocks (1024 bytes). */
export const END_OF_ARCHIVE: Uint8Array = new Uint8Array(2 * BLOCK)

/**
 * Writes a whole archive in memory (for tests and small metadata). A given `data` sets the entry's
 * size; header-only types (links, dirs, devices, FIFOs) get no payload. End blocks are written
 * unless `endBlocks: false`.
 *
 * @example
 * const tar = writeTar([{ entry: { name: "a.txt", typeflag: "0" }, data: new TextEncoder().encode("hi") }])
 */
export const writeTar = (
  entries: ReadonlyArray<{ readonly entry: TarEntryInput; readonly data?: Uint8Array | undefined }>,
  options?: { readonly format?: TarWriteFormat; readonly endBlocks?: boolean },
): Uint8Array => {
  const pieces: Array<readonly [header: Uint8Array, data: Uint8Array]> = []
  let total = 0
  for (const { entry, data } of entries) {
    const t = entry.typeflag.length > 0 ? entry.typeflag.charCodeAt(0) & 0xff : 0x30
    const payload = isHeaderOnly(t) ? EMPTY : (data ?? new Uint8Array(Math.max(0, int(entry.size))))
    const header = encodeHeader(isHeaderOnly(t) ? entry : { ...entry, size: payload.length }, options?.format)
    pieces.push([header, payload])
    total += header.length + blocksFor(payload.length)
  }
  if (options?.endBlocks !== false) total += END_OF_ARCHIVE.length
  const out = new Uint8Array(total)
  let off = 0
  for (const [h, d] of pieces) {
    out.set(h, off)
    out.set(d, off + h.length)
    off += h.length + blocksFor(d.length)
  }
  return out
}
