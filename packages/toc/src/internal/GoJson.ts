/**
 * JSON helpers that follow Go's encoding/json where it differs from the ECMAScript JSON functions:
 * a byte pre-scan that decides whether `JSON.parse` can be trusted, an exact (slow) parser that keeps number
 * lexemes, duplicate keys and nulls, and Go's string escaping for output.
 */

/** Go's decoder refuses nesting deeper than this. */
export const MAX_DEPTH = 10000

/** An object as written, duplicate keys and their order kept (exact parser only). */
export class JObj {
  constructor(
    readonly keys: Array<string>,
    readonly vals: Array<unknown>,
  ) {}
}

/** A number as written (exact parser only): the raw lexeme, so that `1.0` and `1` stay distinguishable. */
export class JNum {
  constructor(readonly raw: string) {}
}

/**
 * Outcome of {@link prescan} when `JSON.parse` cannot be trusted. Any result >= 0 means only strings, integers,
 * objects and arrays occur (so `JSON.parse` sees what Go would see, except for duplicate keys) and is the number
 * of object keys in the text (the number of `:` outside strings): a caller that counts fewer keys in the parsed
 * value knows `JSON.parse` dropped a duplicate, whose earlier value Go still type-checks.
 */
export enum Scan {
  /** Something else occurs outside strings (a literal, a fraction, an exponent, a stray byte): use the exact parser. */
  Exact = -1,
  /** Nesting deeper than {@link MAX_DEPTH}. */
  TooDeep = -2,
}

/**
 * Walks the raw bytes once, skipping strings with `indexOf`, and reports whether every byte outside strings is
 * a digit, `-`, JSON whitespace or structural punctuation, and whether nesting stays within {@link MAX_DEPTH};
 * when it is, returns the number of object keys.
 */
export const prescan = (b: Uint8Array): number => {
  const n = b.length
  let depth = 0
  let keys = 0
  let i = 0
  while (i < n) {
    const c = b[i]!
    if (c === 0x22) {
      let j = i + 1
      for (;;) {
        j = b.indexOf(0x22, j)
        if (j < 0) return Scan.Exact
        let k = j - 1
        let backslashes = 0
        while (k > i && b[k] === 0x5c) {
          backslashes++
          k--
        }
        if ((backslashes & 1) === 0) break
        j++
      }
      i = j + 1
      continue
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) return Scan.TooDeep
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    } else if (c === 0x3a) {
      keys++
    } else if (
      !(
        (c >= 0x30 && c <= 0x39) ||
        c === 0x2d ||
        c === 0x20 ||
        c === 0x0a ||
        c === 0x09 ||
        c === 0x0d ||
        c === 0x2c
      )
    ) {
      return Scan.Exact
    }
    i++
  }
  return keys
}

/** Counts the own keys of every object inside a `JSON.parse` result (compare with {@link prescan}); no recursion. */
export const countKeys = (root: unknown): number => {
  let n = 0
  const stack: Array<unknown> = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v !== "object" || v === null) continue
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i]
        if (typeof x === "object" && x !== null) stack.push(x)
      }
      continue
    }
    const o = v as Record<string, unknown>
    for (const k in o) {
      n++
      const x = o[k]
      if (typeof x === "object" && x !== null) stack.push(x)
    }
  }
  return n
}

/** A JSON syntax error from {@link parseExact}: `at` is the UTF-16 index in the decoded text. */
export class JsonSyntaxError {
  constructor(
    readonly at: number,
    readonly message: string,
  ) {}
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d

const hexVal = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y

interface Frame {
  readonly obj: JObj | undefined
  readonly arr: Array<unknown> | undefined
}

/**
 * A strict RFC 8259 parser that keeps what `JSON.parse` loses: number lexemes ({@link JNum}), duplicate keys
 * in order ({@link JObj}), and it turns unpaired `\uD800`-style escapes into U+FFFD as Go does.
 * Iterative, so deep nesting cannot overflow the stack; nesting beyond {@link MAX_DEPTH} is an error (as in Go).
 * Only whitespace may follow the top-level value.
 */
export const parseExact = (s: string): unknown => {
  const n = s.length
  let i = 0
  const stack: Array<Frame> = []
  let pendingKey = ""
  let result: unknown
  const skipWs = () => {
    while (i < n && isWs(s.charCodeAt(i))) i++
  }
  const fail = (message: string) => new JsonSyntaxError(i, message)

  const readString = (): string | JsonSyntaxError => {
    // s[i] is the opening quote
    const start = ++i
    // fast path: no escapes
    for (;;) {
      if (i >= n) return fail("unterminated string")
      const c = s.charCodeAt(i)
      if (c === 0x22) {
        i++
        return s.slice(start, i - 1)
      }
      if (c === 0x5c) break
      if (c < 0x20) return fail("control character in string")
      i++
    }
    let out = s.slice(start, i)
    for (;;) {
      if (i >= n) return fail("unterminated string")
      const c = s.charCodeAt(i)
      if (c === 0x22) {
        i++
        return out
      }
      if (c < 0x20) return fail("control character in string")
      if (c !== 0x5c) {
        const runStart = i
        while (i < n) {
          const d = s.charCodeAt(i)
          if (d === 0x22 || d === 0x5c || d < 0x20) break
          i++
        }
        out += s.slice(runStart, i)
        continue
      }
      const e = s.charCodeAt(i + 1)
      switch (e) {
        case 0x22:
          out += '"'
          break
        case 0x5c:
          out += "\\"
          break
        case 0x2f:
          out += "/"
          break
        case 0x62:
          out += "\b"
          break
        case 0x66:
          out += "\f"
          break
        case 0x6e:
          out += "\n"
          break
        case 0x72:
          out += "\r"
          break
        case 0x74:
          out += "\t"
          break
        case 0x75: {
          const u = readHex4(i + 2)
          if (u < 0) return fail("bad \\u escape")
          i += 6
          if (u >= 0xd800 && u < 0xdc00) {
            // a high surrogate pairs only with an immediately following \uDC00-\uDFFF escape
            if (s.charCodeAt(i) === 0x5c && s.charCodeAt(i + 1) === 0x75) {
              const lo = readHex4(i + 2)
              if (lo >= 0xdc00 && lo < 0xe000) {
                out += String.fromCharCode(u, lo)
                i += 6
                continue
              }
            }
            out += "\ufffd"
          } else if (u >= 0xdc00 && u < 0xe000) {
            out += "\ufffd"
          } else {
            out += String.fromCharCode(u)
          }
          continue
        }
        default:
          return fail("bad escape")
      }
      i += 2
    }
  }

  const readHex4 = (at: number): number => {
    if (at + 4 > n) return -1
    let v = 0
    for (let k = 0; k < 4; k++) {
      const h = hexVal(s.charCodeAt(at + k))
      if (h < 0) return -1
      v = (v << 4) | h
    }
    return v
  }

  // Stores a finished value into the innermost container (or as the result). Returns false at top level.
  const store = (v: unknown): void => {
    const top = stack[stack.length - 1]
    if (top === undefined) result = v
    else if (top.obj !== undefined) {
      top.obj.keys.push(pendingKey)
      top.obj.vals.push(v)
    } else top.arr!.push(v)
  }

  // After a value inside a container: expect `,` or the closing bracket. Returns an error or undefined.
  let expectValue = true
  for (;;) {
    skipWs()
    if (expectValue) {
      if (i >= n) return fail("unexpected end of input")
      const c = s.charCodeAt(i)
      let v: unknown
      if (c === 0x7b || c === 0x5b) {
        if (stack.length >= MAX_DEPTH) return fail("exceeded max depth")
        i++
        const frame: Frame =
          c === 0x7b ? { obj: new JObj([], []), arr: undefined } : { obj: undefined, arr: [] }
        store(frame.obj ?? frame.arr)
        stack.push(frame)
        skipWs()
        const close = c === 0x7b ? 0x7d : 0x5d
        if (s.charCodeAt(i) === close) {
          i++
          stack.pop()
          expectValue = false
          if (stack.length === 0) break
          continue
        }
        if (c === 0x7b) {
          if (s.charCodeAt(i) !== 0x22) return fail("expected object key")
          const k = readString()
          if (k instanceof JsonSyntaxError) return k
          skipWs()
          if (s.charCodeAt(i) !== 0x3a) return fail("expected ':'")
          i++
          pendingKey = k
        }
        continue
      }
      if (c === 0x22) {
        const str = readString()
        if (str instanceof JsonSyntaxError) return str
        v = str
      } else if (c === 0x74 && s.startsWith("true", i)) {
        i += 4
        v = true
      } else if (c === 0x66 && s.startsWith("false", i)) {
        i += 5
        v = false
      } else if (c === 0x6e && s.startsWith("null", i)) {
        i += 4
        v = null
      } else {
        NUMBER.lastIndex = i
        const m = NUMBER.exec(s)
        if (m === null) return fail("invalid character")
        i += m[0].length
        v = new JNum(m[0])
      }
      store(v)
      expectValue = false
      if (stack.length === 0) break
      continue
    }
    // after a value inside a container
    const top = stack[stack.length - 1]!
    const c = s.charCodeAt(i)
    if (c === 0x2c) {
      i++
      if (top.obj !== undefined) {
        skipWs()
        if (s.charCodeAt(i) !== 0x22) return fail("expected object key")
        const k = readString()
        if (k instanceof JsonSyntaxError) return k
        skipWs()
        if (s.charCodeAt(i) !== 0x3a) return fail("expected ':'")
        i++
        pendingKey = k
      }
      expectValue = true
      continue
    }
    if ((c === 0x7d && top.obj !== undefined) || (c === 0x5d && top.arr !== undefined)) {
      i++
      stack.pop()
      if (stack.length === 0) break
      continue
    }
    return fail(i >= n ? "unexpected end of input" : "expected ',' or closing bracket")
  }
  skipWs()
  if (i < n) return fail("invalid character after top-level value")
  return result
}

const SHORT_ESCAPE: Record<number, string> = {
  8: "\\b",
  9: "\\t",
  10: "\\n",
  12: "\\f",
  13: "\\r",
  34: '\\"',
  92: "\\\\",
  60: "\\u003c",
  62: "\\u003e",
  38: "\\u0026",
  8232: "\\u2028",
  8233: "\\u2029",
}
const HEX = "0123456789abcdef"
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/

/**
 * A JSON string literal exactly as Go's encoding/json writes it with HTML escaping on: `<`, `>`, `&`, U+2028
 * and U+2029 as `\uXXXX`, `\b \f \n \r \t` short escapes (Go 1.22+), other control characters as `\u00xx`, and
 * an unpaired surrogate as `\ufffd` (Go's treatment of a byte that is not UTF-8).
 */
export const goQuote = (s: string): string => {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"'
  let out = '"'
  let run = 0
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    let rep: string | undefined
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      rep = SHORT_ESCAPE[c] ?? "\\u00" + HEX[c >> 4] + HEX[c & 15]
    } else if (c === 0x2028 || c === 0x2029) {
      rep = SHORT_ESCAPE[c]
    } else if (c >= 0xd800 && c < 0xe000) {
      const d = s.charCodeAt(i + 1)
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        i++
        continue
      }
      rep = "\\ufffd"
    }
    if (rep !== undefined) {
      out += s.slice(run, i) + rep
      run = i + 1
    }
  }
  return out + s.slice(run) + '"'
}

const cpKey = (c: number): number => (c < 0xd800 ? c : c < 0xe000 ? c + 0x2000 : c - 0x800)

/** Orders strings by code point (the byte order of their UTF-8 forms), as Go sorts map keys. */
export const compareCodePoints = (a: string, b: string): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return cpKey(x) - cpKey(y)
  }
  return a.length - b.length
}

/**
 * UTF-8 decoding as Go's `utf8.DecodeRune` does it: every byte that does not start a valid sequence becomes one
 * U+FFFD (the WHATWG decoder behind `TextDecoder` folds a truncated sequence into a single U+FFFD instead).
 * Only used when the input is not valid UTF-8.
 */
export const decodeUtf8Go = (b: Uint8Array): string => {
  const n = b.length
  const parts: Array<string> = []
  const units: Array<number> = []
  const flush = () => {
    for (let k = 0; k < units.length; k += 8192) parts.push(String.fromCharCode(...units.slice(k, k + 8192)))
    units.length = 0
  }
  let i = 0
  while (i < n) {
    const c = b[i]!
    if (c < 0x80) {
      units.push(c)
      i++
    } else {
      let need = 0
      let lo = 0x80
      let hi = 0xbf
      let cp = 0
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1
        cp = c & 0x1f
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2
        cp = c & 0x0f
        if (c === 0xe0) lo = 0xa0
        else if (c === 0xed) hi = 0x9f
      } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3
        cp = c & 0x07
        if (c === 0xf0) lo = 0x90
        else if (c === 0xf4) hi = 0x8f
      }
      let ok = need > 0 && i + need < n
      if (ok) {
        for (let k = 1; k <= need; k++) {
          const d = b[i + k]!
          if (d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) {
            ok = false
            break
          }
          cp = (cp << 6) | (d & 0x3f)
        }
      }
      if (!ok) {
        units.push(0xfffd)
        i++
      } else {
        if (cp >= 0x10000) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff))
        else units.push(cp)
        i += need + 1
      }
    }
    if (units.length >= 65536) flush()
  }
  flush()
  return parts.join("")
}
