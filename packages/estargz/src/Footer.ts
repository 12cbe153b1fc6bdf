/** Size of the eStargz footer (an empty gzip member whose extra field holds the TOC offset). */
export const FOOTER_SIZE = 51
/** Size of the legacy CRFS stargz footer. */
export const LEGACY_FOOTER_SIZE = 47
/** Size of the external-TOC footer. */
export const EXTERNAL_FOOTER_SIZE = 46

const STARGZ = [0x53, 0x54, 0x41, 0x52, 0x47, 0x5a] // "STARGZ"
const EXTERNAL = new TextEncoder().encode("STARGZEXTERNALTOC")
const GZIP_HEADER_FEXTRA = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff]
const EMPTY_STORED_BLOCK_AND_TRAILER = [0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]

const hex16 = (n: number): Uint8Array => new TextEncoder().encode(n.toString(16).padStart(16, "0"))

/**
 * The 51-byte eStargz footer for a TOC at `tocOffset` (FORMATS §2.6).
 *
 * @example
 * makeFooter(391) // 1f8b0804 00000000 00ff 1a00 5347 1600 "0000000000000187" "STARGZ" ...
 */
export const makeFooter = (tocOffset: number): Uint8Array => {
  const out = new Uint8Array(FOOTER_SIZE)
  out.set(GZIP_HEADER_FEXTRA, 0)
  out.set([26, 0, 0x53, 0x47, 22, 0], 10)
  out.set(hex16(tocOffset), 16)
  out.set(STARGZ, 32)
  out.set(EMPTY_STORED_BLOCK_AND_TRAILER, 38)
  return out
}

/** The 46-byte external-TOC footer (FORMATS §2.6). */
export const makeExternalFooter = (): Uint8Array => {
  const out = new Uint8Array(EXTERNAL_FOOTER_SIZE)
  out.set(GZIP_HEADER_FEXTRA, 0)
  out.set([21, 0, 0x53, 0x47, 17, 0], 10)
  out.set(EXTERNAL, 16)
  out.set(EMPTY_STORED_BLOCK_AND_TRAILER, 33)
  return out
}

/** A footer recognised at the end of a blob. */
export type ParsedFooter =
  | { readonly kind: "estargz" | "legacy"; readonly tocOffset: number; readonly size: number }
  | { readonly kind: "external"; readonly tocOffset: -1; readonly size: number }

/** Why a footer candidate was rejected (used to build the combined error message). */
export type FooterProblem = string

const HEX = /^[0-9a-fA-F]{16}$/

const parseHexOffset = (bytes: Uint8Array): number | FooterProblem => {
  const s = String.fromCharCode(...bytes)
  if (!HEX.test(s)) return `TOC offset ${JSON.stringify(s)} is not 16 hex digits`
  const v = BigInt(`0x${s}`)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return `TOC offset 0x${s} is too large`
  return Number(v)
}

/**
 * Parses a gzip member header and returns its extra field; mirrors what Go's gzip reader accepts
 * (MTIME, XFL, OS, the empty body and the trailer are not checked: ERRATA 6).
 */
const gzipExtra = (b: Uint8Array): Uint8Array | FooterProblem => {
  if (b.length < 10 || b[0] !== 0x1f || b[1] !== 0x8b) return "not a gzip member"
  if (b[2] !== 8) return "gzip method is not deflate"
  const flg = b[3]!
  if ((flg & 0x04) === 0) return "gzip member has no extra field"
  if (flg & 0xe0) return "gzip reserved flags set"
  if (b.length < 12) return "truncated gzip header"
  const xlen = b[10]! | (b[11]! << 8)
  if (12 + xlen > b.length) return "gzip extra field runs past the footer"
  return b.subarray(12, 12 + xlen)
}

const startsWith = (b: Uint8Array, at: number, want: ArrayLike<number>): boolean => {
  if (at + want.length > b.length) return false
  for (let i = 0; i < want.length; i++) if (b[at + i] !== want[i]) return false
  return true
}

/** Parses the last 51 bytes as an eStargz footer. */
export const parseEstargzFooter = (b: Uint8Array): ParsedFooter | FooterProblem => {
  if (b.length !== FOOTER_SIZE) return `footer must be ${FOOTER_SIZE} bytes`
  const extra = gzipExtra(b)
  if (typeof extra === "string") return extra
  if (extra.length < 4) return "extra field too short"
  if (extra[0] !== 0x53 || extra[1] !== 0x47) return "extra subfield is not SG"
  const len = extra[2]! | (extra[3]! << 8)
  if (len !== 22) return `SG subfield length ${len}, want 22`
  // Go compares extra[4+16:] with "STARGZ": the extra field must be exactly the one subfield
  if (extra.length !== 4 + 22) return `extra field is ${extra.length} bytes, want 26`
  if (!startsWith(extra, 4 + 16, STARGZ)) return "SG subfield does not end in STARGZ"
  const off = parseHexOffset(extra.subarray(4, 20))
  return typeof off === "string" ? off : { kind: "estargz", tocOffset: off, size: FOOTER_SIZE }
}

/** Parses the last 47 bytes as a legacy CRFS stargz footer. */
export const parseLegacyFooter = (b: Uint8Array): ParsedFooter | FooterProblem => {
  if (b.length !== LEGACY_FOOTER_SIZE) return `legacy footer must be ${LEGACY_FOOTER_SIZE} bytes`
  const extra = gzipExtra(b)
  if (typeof extra === "string") return extra
  if (extra.length !== 22) return "legacy extra field is not 22 bytes"
  if (!startsWith(extra, 16, STARGZ)) return "legacy extra field does not end in STARGZ"
  const off = parseHexOffset(extra.subarray(0, 16))
  return typeof off === "string" ? off : { kind: "legacy", tocOffset: off, size: LEGACY_FOOTER_SIZE }
}

/** Parses the last 46 bytes as an external-TOC footer. */
export const parseExternalFooter = (b: Uint8Array): ParsedFooter | FooterProblem => {
  if (b.length !== EXTERNAL_FOOTER_SIZE) return `external footer must be ${EXTERNAL_FOOTER_SIZE} bytes`
  const extra = gzipExtra(b)
  if (typeof extra === "string") return extra
  if (extra.length < 4 || extra[0] !== 0x53 || extra[1] !== 0x47) return "extra subfield is not SG"
  const len = extra[2]! | (extra[3]! << 8)
  if (len !== 17 || !startsWith(extra, 4, EXTERNAL)) return "SG subfield is not STARGZEXTERNALTOC"
  if (extra.length !== 4 + 17) return `extra field is ${extra.length} bytes, want 21`
  return { kind: "external", tocOffset: -1, size: EXTERNAL_FOOTER_SIZE }
}

/**
 * Tries the three gzip footers on the end of `tail` in the reference's order (51, 47, 46 bytes) and
 * returns the first that parses, or the list of reasons none did.
 */
export const parseGzipFooter = (tail: Uint8Array): ParsedFooter | ReadonlyArray<FooterProblem> => {
  const problems: Array<string> = []
  const tries: Array<[number, (b: Uint8Array) => ParsedFooter | FooterProblem, string]> = [
    [FOOTER_SIZE, parseEstargzFooter, "estargz"],
    [LEGACY_FOOTER_SIZE, parseLegacyFooter, "legacy"],
    [EXTERNAL_FOOTER_SIZE, parseExternalFooter, "external"],
  ]
  for (const [size, parse, name] of tries) {
    if (tail.length < size) {
      problems.push(`${name}: blob shorter than ${size} bytes`)
      continue
    }
    const r = parse(tail.subarray(tail.length - size))
    if (typeof r !== "string") return r
    problems.push(`${name}: ${r}`)
  }
  return problems
}
