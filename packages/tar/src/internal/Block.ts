// Decoding of one 512-byte header block (no extension records merged yet).
import {
  bytesEqual,
  checksums,
  F,
  numStatus,
  parseNumeric,
  parseOctal,
  parseString,
  resetNumStatus,
} from "./Fields.ts"

/** The fields of a single header block. */
export interface RawBlock {
  typeflag: number
  name: string
  linkname: string
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  uname: string
  gname: string
  devmajor: number
  devminor: number
  magic: "v7" | "ustar" | "gnu"
}

/** Why a block did not decode. */
export interface BlockProblem {
  readonly reason: "BadChecksum" | "BadHeader" | "TooLarge"
  readonly message: string
  readonly name: string
}

const numericProblem = (field: string, name: string): BlockProblem =>
  numStatus === 2
    ? { reason: "TooLarge", message: `header field ${field} exceeds Number.MAX_SAFE_INTEGER`, name }
    : { reason: "BadHeader", message: `header field ${field} is not a valid number`, name }

/** Verifies the checksum (unsigned or signed sum, as Go accepts) and decodes every field. */
export const decodeBlock = (b: Uint8Array): RawBlock | BlockProblem => {
  resetNumStatus()
  const stored = parseOctal(b, F.chksum, 8)
  if (numStatus !== 0) return { reason: "BadChecksum", message: "checksum field is not octal", name: "" }
  const [unsigned, signed] = checksums(b)
  if (stored !== unsigned && stored !== signed) {
    return {
      reason: "BadChecksum",
      message: `checksum ${stored} matches neither ${unsigned} (unsigned) nor ${signed} (signed)`,
      name: "",
    }
  }
  let magic: RawBlock["magic"] = "v7"
  let prefixLen = 0
  if (bytesEqual(b, F.magic, "ustar\0")) {
    magic = "ustar"
    prefixLen = bytesEqual(b, F.starTrailer, "tar\0") ? F.starPrefixLen : F.prefixLen
  } else if (bytesEqual(b, F.magic, "ustar ") && bytesEqual(b, F.version, " \0")) {
    magic = "gnu"
  }
  let name = parseString(b, F.name, F.nameLen)
  if (prefixLen > 0 && b[F.prefix] !== 0) name = `${parseString(b, F.prefix, prefixLen)}/${name}`
  const linkname = parseString(b, F.linkname, F.linknameLen)
  const mode = parseNumeric(b, F.mode, 8)
  if (numStatus !== 0) return numericProblem("mode", name)
  const uid = parseNumeric(b, F.uid, 8)
  if (numStatus !== 0) return numericProblem("uid", name)
  const gid = parseNumeric(b, F.gid, 8)
  if (numStatus !== 0) return numericProblem("gid", name)
  const size = parseNumeric(b, F.size, 12)
  if (numStatus !== 0) return numericProblem("size", name)
  const mtime = parseNumeric(b, F.mtime, 12)
  if (numStatus !== 0) return numericProblem("mtime", name)
  let uname = ""
  let gname = ""
  let devmajor = 0
  let devminor = 0
  if (magic !== "v7") {
    uname = parseString(b, F.uname, F.nameFieldLen)
    gname = parseString(b, F.gname, F.nameFieldLen)
    devmajor = parseNumeric(b, F.devmajor, 8)
    if (numStatus !== 0) return numericProblem("devmajor", name)
    devminor = parseNumeric(b, F.devminor, 8)
    if (numStatus !== 0) return numericProblem("devminor", name)
  }
  return {
    typeflag: b[F.typeflag]!,
    name,
    linkname,
    mode,
    uid,
    gid,
    size,
    mtime,
    uname,
    gname,
    devmajor,
    devminor,
    magic,
  }
}

/** Type guard for a failed decode. */
export const isProblem = (r: RawBlock | BlockProblem): r is BlockProblem => "reason" in r
