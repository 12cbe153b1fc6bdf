// PAX extended header records: "<len> <key>=<value>\n", <len> counting the whole record.
import { decodeUtf8 } from "./Fields.ts"

/** A record-level failure: which reason and a human message. */
export interface PaxProblem {
  readonly reason: "BadPax"
  readonly message: string
}

const KEYS_WITHOUT_NUL = new Set(["path", "linkpath", "uname", "gname"])

/**
 * Parses every record of a PAX 'x' payload (later duplicates win). Values are subarrays of `buf`.
 * Like Go's archive/tar, the payload must consist of records only, keys must be non-empty and
 * NUL-free, and path/linkpath/uname/gname values must be NUL-free.
 */
export const parsePaxRecords = (buf: Uint8Array): Map<string, Uint8Array> | PaxProblem => {
  const out = new Map<string, Uint8Array>()
  const n = buf.length
  let i = 0
  while (i < n) {
    let j = i
    let len = 0
    while (j < n && buf[j]! >= 0x30 && buf[j]! <= 0x39) {
      len = len * 10 + (buf[j]! - 0x30)
      if (len > n)
        return { reason: "BadPax", message: `record at ${i} claims more bytes than the header holds` }
      j++
    }
    if (j === i || j >= n || buf[j] !== 0x20) {
      return { reason: "BadPax", message: `record at ${i} does not start with "<length> "` }
    }
    if (len < 5 || i + len > n || len <= j - i + 1) {
      return { reason: "BadPax", message: `record at ${i} has an impossible length ${len}` }
    }
    const recEnd = i + len
    if (buf[recEnd - 1] !== 0x0a) {
      return { reason: "BadPax", message: `record at ${i} does not end with a newline` }
    }
    const kvStart = j + 1
    let eq = -1
    for (let k = kvStart; k < recEnd - 1; k++) {
      if (buf[k] === 0x3d) {
        eq = k
        break
      }
    }
    if (eq <= kvStart) return { reason: "BadPax", message: `record at ${i} has no "key="` }
    for (let k = kvStart; k < eq; k++) {
      if (buf[k] === 0) return { reason: "BadPax", message: `record at ${i} has a NUL in its key` }
    }
    const key = decodeUtf8(buf, kvStart, eq)
    const value = buf.subarray(eq + 1, recEnd - 1)
    if (KEYS_WITHOUT_NUL.has(key) && value.includes(0)) {
      return { reason: "BadPax", message: `PAX ${key} contains a NUL byte` }
    }
    out.set(key, value)
    i = recEnd
  }
  return out
}

const encoder = new TextEncoder()

/** Encodes one record; the length prefix counts its own digits. */
export const formatPaxRecord = (key: string, value: Uint8Array): Uint8Array => {
  const k = encoder.encode(key)
  const body = k.length + value.length + 3 // ' ', '=', '\n'
  let total = body + String(body).length
  if (String(total).length !== String(body).length) total = body + String(total).length
  const prefix = String(total)
  const out = new Uint8Array(total)
  for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i)
  let p = prefix.length
  out[p++] = 0x20
  out.set(k, p)
  p += k.length
  out[p++] = 0x3d
  out.set(value, p)
  p += value.length
  out[p] = 0x0a
  return out
}

/** Parses a PAX decimal integer ("[+-]digits"); undefined when malformed, NaN when unsafe. */
export const parsePaxInt = (v: Uint8Array): number | undefined => {
  const s = decodeUtf8(v, 0, v.length)
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const x = Number(s)
  return Number.isSafeInteger(x) ? x : Number.NaN
}

/** Parses a PAX time ("[-]secs[.frac]") as fractional seconds; undefined when malformed, NaN when unsafe. */
export const parsePaxTime = (v: Uint8Array): number | undefined => {
  const s = decodeUtf8(v, 0, v.length)
  const m = /^([+-]?[0-9]+)(\.[0-9]*)?$/.exec(s)
  if (m === null) return undefined
  if (!Number.isSafeInteger(Number(m[1]))) return Number.NaN
  return Number(m[2] === undefined || m[2] === "." ? m[1] : s)
}
