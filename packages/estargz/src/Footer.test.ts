import { gunzipSync } from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  EXTERNAL_FOOTER_SIZE,
  FOOTER_SIZE,
  LEGACY_FOOTER_SIZE,
  makeExternalFooter,
  makeFooter,
  type ParsedFooter,
  parseEstargzFooter,
  parseExternalFooter,
  parseGzipFooter,
  parseLegacyFooter,
} from "./Footer.ts"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const fromHex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"))
const ascii = (s: string) => new TextEncoder().encode(s)

/** FORMATS §2.6, example for tocOffset 391. */
const FOOTER_391 =
  "1f8b0804 00000000 00ff 1a00 5347 1600 30303030303030303030303030313837 53544152475a 010000ffff 00000000 00000000"
/** FORMATS §2.6, the external-TOC footer. */
const EXTERNAL_HEX =
  "1f8b08040000000000ff15005347110053544152475a45585445524e414c544f43010000ffff0000000000000000"

/** A 51-byte footer whose 16 offset characters are `digits` (any ASCII, to test the parser's hex rule). */
const footerWithDigits = (digits: string): Uint8Array => {
  const f = makeFooter(0)
  f.set(ascii(digits), 16)
  return f
}

/** The legacy CRFS footer (FORMATS §2.6): XLEN 22, no subfield wrapper. */
const legacyFooter = (digits: string): Uint8Array => {
  const f = new Uint8Array(LEGACY_FOOTER_SIZE)
  f.set([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0], 0)
  f.set(ascii(digits), 12)
  f.set(ascii("STARGZ"), 28)
  f.set([0x01, 0x00, 0x00, 0xff, 0xff], 34)
  return f
}
const hex16 = (n: number) => n.toString(16).padStart(16, "0")

const offsetOf = (r: ParsedFooter | string): number => {
  if (typeof r === "string") throw new Error(`footer rejected: ${r}`)
  return r.tocOffset
}
const problem = (r: ParsedFooter | string): string => {
  if (typeof r !== "string") throw new Error(`footer accepted: ${JSON.stringify(r)}`)
  return r
}
const problems = (r: ParsedFooter | ReadonlyArray<string>): ReadonlyArray<string> => {
  if (!Array.isArray(r)) throw new Error(`footer accepted: ${JSON.stringify(r)}`)
  return r as ReadonlyArray<string>
}

describe("footer bytes", () => {
  it("the 51-byte footer for offset 391 is the FORMATS §2.6 hex byte for byte", () => {
    const f = makeFooter(391)
    expect(f.length).toBe(FOOTER_SIZE)
    expect(hex(f)).toBe(FOOTER_391.replace(/ /g, ""))
    expect(parseEstargzFooter(fromHex(FOOTER_391))).toEqual({ kind: "estargz", tocOffset: 391, size: 51 })
  })

  it("the external footer is the FORMATS §2.6 hex and parses as external", () => {
    const f = makeExternalFooter()
    expect(f.length).toBe(EXTERNAL_FOOTER_SIZE)
    expect(hex(f)).toBe(EXTERNAL_HEX)
    expect(parseExternalFooter(f)).toEqual({ kind: "external", tocOffset: -1, size: 46 })
    expect(parseGzipFooter(f)).toEqual({ kind: "external", tocOffset: -1, size: 46 })
  })

  it("every footer is an empty gzip member", () => {
    expect(gunzipSync(makeFooter(391)).length).toBe(0)
    expect(gunzipSync(makeFooter(2 ** 40 + 5)).length).toBe(0)
    expect(gunzipSync(makeExternalFooter()).length).toBe(0)
    expect(gunzipSync(legacyFooter(hex16(391))).length).toBe(0)
  })

  it("round-trips offsets 0..200000 (step 1023) through the 51- and 47-byte footers", () => {
    for (let off = 0; off <= 200000; off += 1023) {
      const f = makeFooter(off)
      expect(f.length).toBe(51)
      expect(offsetOf(parseEstargzFooter(f))).toBe(off)
      expect(parseGzipFooter(f)).toEqual({ kind: "estargz", tocOffset: off, size: 51 })
      const l = legacyFooter(hex16(off))
      expect(l.length).toBe(47)
      expect(offsetOf(parseLegacyFooter(l))).toBe(off)
      expect(parseGzipFooter(l)).toEqual({ kind: "legacy", tocOffset: off, size: 47 })
    }
  })

  it("round-trips offsets above 2^32 and up to Number.MAX_SAFE_INTEGER", () => {
    for (const off of [2 ** 32, 2 ** 32 + 1, 0x1_2345_6789, 2 ** 45 + 3, Number.MAX_SAFE_INTEGER]) {
      expect(offsetOf(parseEstargzFooter(makeFooter(off)))).toBe(off)
      expect(offsetOf(parseLegacyFooter(legacyFooter(hex16(off))))).toBe(off)
    }
    expect(ascii(hex16(0x1_2345_6789))).toEqual(makeFooter(0x1_2345_6789).subarray(16, 32))
  })

  it("accepts upper-case hex (as Go's ParseInt does)", () => {
    expect(offsetOf(parseEstargzFooter(footerWithDigits("00000000000001AF")))).toBe(0x1af)
    expect(offsetOf(parseEstargzFooter(footerWithDigits("00000000DeadBeef")))).toBe(0xdeadbeef)
    expect(offsetOf(parseLegacyFooter(legacyFooter("00000000000001AF")))).toBe(0x1af)
  })
})

describe("footer rejections (ERRATA 6: exactly [0-9a-fA-F]{16}, no sign, no negative)", () => {
  it.each([
    ["+000000000000187", "sign +"],
    ["-000000000000001", "sign -"],
    [" 000000000000187", "leading space"],
    ["000000000000187 ", "trailing space"],
    ["0x00000000000187", "0x prefix"],
    ["000000000000018g", "non-hex digit"],
    ["00000000000\u000187", "control byte"],
  ])("rejects %j (%s) in the 51- and 47-byte footers", (digits) => {
    expect(problem(parseEstargzFooter(footerWithDigits(digits)))).toMatch(/not 16 hex digits/)
    expect(problem(parseLegacyFooter(legacyFooter(digits)))).toMatch(/not 16 hex digits/)
    // and no other footer claims the blob
    expect(problems(parseGzipFooter(footerWithDigits(digits)))).toHaveLength(3)
  })

  it("rejects an offset above Number.MAX_SAFE_INTEGER (and Go's negative int64 range)", () => {
    for (const digits of ["0020000000000000", "7fffffffffffffff", "8000000000000000", "ffffffffffffffff"]) {
      expect(problem(parseEstargzFooter(footerWithDigits(digits)))).toMatch(/too large/)
      expect(problem(parseLegacyFooter(legacyFooter(digits)))).toMatch(/too large/)
    }
  })

  it("rejects a wrong subfield ID (SZ instead of SG)", () => {
    const f = makeFooter(391)
    f[13] = 0x5a
    expect(problem(parseEstargzFooter(f))).toMatch(/not SG/)
    const e = makeExternalFooter()
    e[13] = 0x5a
    expect(problem(parseExternalFooter(e))).toMatch(/not SG/)
  })

  it("rejects a wrong subfield LEN", () => {
    for (const len of [0, 16, 21, 23, 0x116]) {
      const f = makeFooter(391)
      f[14] = len & 0xff
      f[15] = len >> 8
      expect(problem(parseEstargzFooter(f))).toMatch(/subfield length/)
    }
    const e = makeExternalFooter()
    e[14] = 16
    expect(problem(parseExternalFooter(e))).toMatch(/STARGZEXTERNALTOC/)
  })

  it("rejects a missing STARGZ magic", () => {
    const f = makeFooter(391)
    f[37] = 0x59
    expect(problem(parseEstargzFooter(f))).toMatch(/STARGZ/)
    const l = legacyFooter(hex16(391))
    l[28] = 0x73
    expect(problem(parseLegacyFooter(l))).toMatch(/STARGZ/)
  })

  it("rejects an extra field whose XLEN is not exactly the subfield (Go compares extra[4+16:] with STARGZ)", () => {
    for (const xlen of [27, 30, 39]) {
      const f = makeFooter(391)
      f[10] = xlen
      expect(problem(parseEstargzFooter(f))).toMatch(/extra field/)
    }
    for (const xlen of [23, 30]) {
      const l = legacyFooter(hex16(391))
      l[10] = xlen
      expect(problem(parseLegacyFooter(l))).toMatch(/not 22 bytes/)
    }
    const e = makeExternalFooter()
    e[10] = 22
    expect(problem(parseExternalFooter(e))).toMatch(/extra field/)
  })

  it("rejects a short, empty or 2-byte extra field without throwing", () => {
    for (const xlen of [0, 1, 2, 3]) {
      for (const [make, parse] of [
        [() => makeFooter(391), parseEstargzFooter],
        [() => legacyFooter(hex16(391)), parseLegacyFooter],
        [makeExternalFooter, parseExternalFooter],
      ] as const) {
        const f = make()
        f[10] = xlen
        f[11] = 0
        expect(typeof parse(f)).toBe("string")
      }
    }
    // XLEN past the end of the footer
    const f = makeFooter(391)
    f[10] = 0xff
    f[11] = 0xff
    expect(problem(parseEstargzFooter(f))).toMatch(/runs past/)
  })

  it("rejects a member without FEXTRA, a non-gzip magic, a wrong CM and reserved flags", () => {
    const cases: ReadonlyArray<[number, number, RegExp]> = [
      [0, 0x1e, /not a gzip member/],
      [1, 0x8c, /not a gzip member/],
      [2, 0x07, /not deflate/],
      [3, 0x00, /no extra field/],
      [3, 0x24, /reserved flags/],
      [3, 0x84, /reserved flags/],
    ]
    for (const [at, value, message] of cases) {
      const f = makeFooter(391)
      f[at] = value
      expect(problem(parseEstargzFooter(f))).toMatch(message)
      const l = legacyFooter(hex16(391))
      l[at] = value
      expect(problem(parseLegacyFooter(l))).toMatch(message)
      const e = makeExternalFooter()
      e[at] = value
      expect(problem(parseExternalFooter(e))).toMatch(message)
    }
  })

  it("rejects inputs of the wrong length", () => {
    expect(problem(parseEstargzFooter(makeFooter(1).subarray(1)))).toMatch(/51 bytes/)
    expect(problem(parseLegacyFooter(makeFooter(1)))).toMatch(/47 bytes/)
    expect(problem(parseExternalFooter(makeFooter(1)))).toMatch(/46 bytes/)
    expect(problems(parseGzipFooter(new Uint8Array(0)))).toEqual([
      "estargz: blob shorter than 51 bytes",
      "legacy: blob shorter than 47 bytes",
      "external: blob shorter than 46 bytes",
    ])
  })
})

describe("fields nobody checks (ERRATA 6)", () => {
  it("MTIME, XFL, OS, CRC32 and ISIZE do not matter", () => {
    const edits: ReadonlyArray<[number, ReadonlyArray<number>]> = [
      [4, [0x78, 0x56, 0x34, 0x12]], // MTIME
      [8, [2]], // XFL
      [8, [4]],
      [9, [3]], // OS
    ]
    const trailer = (size: number): ReadonlyArray<[number, ReadonlyArray<number>]> => [
      [size - 8, [0xde, 0xad, 0xbe, 0xef]], // CRC32
      [size - 4, [1, 0, 0, 0]], // ISIZE
    ]
    for (const [at, bytes] of [...edits, ...trailer(51)]) {
      const f = makeFooter(391)
      f.set(bytes, at)
      expect(offsetOf(parseEstargzFooter(f))).toBe(391)
    }
    for (const [at, bytes] of [...edits, ...trailer(47)]) {
      const l = legacyFooter(hex16(391))
      l.set(bytes, at)
      expect(offsetOf(parseLegacyFooter(l))).toBe(391)
    }
    for (const [at, bytes] of [...edits, ...trailer(46)]) {
      const e = makeExternalFooter()
      e.set(bytes, at)
      expect(parseExternalFooter(e)).toEqual({ kind: "external", tocOffset: -1, size: 46 })
    }
  })

  it("parseGzipFooter picks the footer at the end of a longer tail", () => {
    const tail = new Uint8Array(200).fill(7)
    tail.set(makeFooter(123), 200 - 51)
    expect(parseGzipFooter(tail)).toEqual({ kind: "estargz", tocOffset: 123, size: 51 })
    tail.fill(7)
    tail.set(legacyFooter(hex16(77)), 200 - 47)
    expect(parseGzipFooter(tail)).toEqual({ kind: "legacy", tocOffset: 77, size: 47 })
    tail.fill(7)
    tail.set(makeExternalFooter(), 200 - 46)
    expect(parseGzipFooter(tail)).toEqual({ kind: "external", tocOffset: -1, size: 46 })
  })
})

describe("footer parsers never throw", () => {
  const parsers = [parseEstargzFooter, parseLegacyFooter, parseExternalFooter]
  const check = (b: Uint8Array) => {
    for (const p of parsers) {
      const r = p(b)
      if (typeof r !== "string") {
        expect(Number.isSafeInteger(r.tocOffset)).toBe(true)
        expect(r.tocOffset >= -1).toBe(true)
        expect(r.size).toBe(b.length)
      }
    }
    const all = parseGzipFooter(b)
    if (!Array.isArray(all)) {
      const f = all as ParsedFooter
      expect(Number.isSafeInteger(f.tocOffset)).toBe(true)
    }
  }

  it("on arbitrary 51-, 47- and 46-byte arrays and arbitrary tails", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 51, maxLength: 51 }),
          fc.uint8Array({ minLength: 47, maxLength: 47 }),
          fc.uint8Array({ minLength: 46, maxLength: 46 }),
          fc.uint8Array({ maxLength: 120 }),
        ),
        (b) => check(b),
      ),
      { numRuns: 2000 },
    )
  })

  it("on valid footers with a few bytes changed", () => {
    const base = fc.oneof(
      fc.nat({ max: Number.MAX_SAFE_INTEGER }).map(makeFooter),
      fc.nat({ max: Number.MAX_SAFE_INTEGER }).map((n) => legacyFooter(hex16(n))),
      fc.constant(0).map(makeExternalFooter),
    )
    fc.assert(
      fc.property(
        base,
        fc.array(fc.tuple(fc.nat({ max: 50 }), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        (footer, edits) => {
          for (const [at, v] of edits) if (at < footer.length) footer[at] = v
          check(footer)
        },
      ),
      { numRuns: 3000 },
    )
  })
})
