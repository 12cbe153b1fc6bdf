import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { TarHeader } from "./Header.ts"
import { formatPaxRecord, parsePaxRecords } from "./internal/Pax.ts"
import { TarParser } from "./TarParser.ts"
import { END_OF_ARCHIVE, encodeHeader, paddingFor, type TarEntryInput, writeTar } from "./TarWriter.ts"

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const ascii = (b: Uint8Array, from: number, len: number) =>
  String.fromCharCode(...b.subarray(from, from + len))

const parseAll = (bytes: Uint8Array) => {
  const p = new TarParser()
  p.push(bytes)
  p.end()
  const out: Array<{ header: TarHeader; data: Array<Uint8Array>; raw: Uint8Array }> = []
  let end: unknown
  for (let ev = p.next(); ev !== undefined; ev = p.next()) {
    if (ev._tag === "Entry") out.push({ header: ev.header, data: [], raw: ev.raw })
    else if (ev._tag === "Data") out[out.length - 1]!.data.push(ev.bytes)
    else if (ev._tag === "Error") assert.fail(`${ev.error.reason}: ${ev.error.message}`)
    else if (ev._tag === "End") end = ev
  }
  assert.isDefined(end)
  return out.map((e) => ({ ...e, bytes: Uint8Array.from(e.data.flatMap((d) => [...d])) }))
}

/** Encodes one header and parses it back (the payload is not needed for the Entry event). */
const one = (entry: TarEntryInput, format?: "ustar" | "pax" | "gnu") => {
  const raw = encodeHeader(entry, format)
  const p = new TarParser()
  p.push(raw)
  const ev = p.next()
  if (ev?._tag !== "Entry") return assert.fail(JSON.stringify(ev))
  assert.deepStrictEqual(ev.raw, raw)
  return { raw, header: ev.header }
}

/** The PAX records of a header whose first block is an 'x' header. */
const paxRecordsOf = (raw: Uint8Array) => {
  assert.strictEqual(String.fromCharCode(raw[156]!), "x")
  const size = Number.parseInt(ascii(raw, 124, 11), 8)
  const recs = parsePaxRecords(raw.subarray(512, 512 + size))
  if (!(recs instanceof Map)) return assert.fail(recs.message)
  return recs
}

describe("encodeHeader format choice", () => {
  it("ustar when everything fits: one block, ustar magic, valid checksum", () => {
    const { raw, header } = one({
      name: "etc/passwd",
      typeflag: "0",
      size: 1234,
      mode: 0o100644,
      uid: 1000,
      gid: 100,
      mtime: 1700000000,
      uname: "app",
      gname: "users",
    })
    assert.strictEqual(raw.length, 512)
    assert.strictEqual(ascii(raw, 257, 8), "ustar\x0000")
    assert.strictEqual(ascii(raw, 100, 8), "0100644\0")
    assert.deepStrictEqual(
      [
        header.name,
        header.size,
        header.mode,
        header.uid,
        header.gid,
        header.mtime,
        header.uname,
        header.gname,
      ],
      ["etc/passwd", 1234, 0o100644, 1000, 100, 1700000000, "app", "users"],
    )
    assert.strictEqual(header.format, "ustar")
  })

  it("a long but splittable ASCII name uses the prefix field, not PAX", () => {
    const name = `${"a".repeat(150)}/${"b".repeat(100)}`
    const { raw, header } = one({ name, typeflag: "0" })
    assert.strictEqual(raw.length, 512)
    assert.strictEqual(header.name, name)
  })

  it("PAX for an unsplittable or non-ASCII name, long link, long or non-ASCII owner names", () => {
    for (const [entry, key] of [
      [{ name: "x".repeat(101), typeflag: "0" }, "path"],
      [{ name: "naïve.txt", typeflag: "0" }, "path"],
      [{ name: "l", typeflag: "2", linkname: "t".repeat(101) }, "linkpath"],
      [{ name: "o", typeflag: "0", uname: "u".repeat(33) }, "uname"],
      [{ name: "o", typeflag: "0", gname: "grüppe" }, "gname"],
    ] as const) {
      const { raw, header } = one(entry)
      const recs = paxRecordsOf(raw)
      assert.deepStrictEqual([...recs.keys()], [key])
      assert.strictEqual(header.format, "pax")
      assert.deepStrictEqual(
        [header.name, header.linkname, header.uname, header.gname],
        [
          entry.name,
          "linkname" in entry ? entry.linkname : "",
          "uname" in entry ? entry.uname : "",
          "gname" in entry ? entry.gname : "",
        ],
      )
      // the ustar block itself stays ASCII
      assert.isTrue(raw.subarray(raw.length - 512).every((c, i) => i === 155 || c < 0x80))
    }
  })

  it("PAX records for numbers that do not fit octal; the field holds 0", () => {
    const { raw, header } = one({
      name: "n",
      typeflag: "0",
      uid: 0o10000000,
      gid: 5,
      size: 2 ** 34,
      mtime: -10,
    })
    const recs = paxRecordsOf(raw)
    assert.deepStrictEqual([...recs.keys()], ["mtime", "size", "uid"])
    assert.strictEqual(text(recs.get("size")!), String(2 ** 34))
    assert.strictEqual(ascii(raw, 512 * 2 + 108, 8), "0000000\0")
    assert.deepStrictEqual([header.uid, header.gid, header.size, header.mtime], [0o10000000, 5, 2 ** 34, -10])
  })

  it("xattrs force PAX; binary values add hdrcharset=BINARY; empty values survive", () => {
    const cap = new Uint8Array([1, 0, 0, 2, 0xff, 0xfe, 0, 0x80])
    for (const format of [undefined, "ustar", "pax", "gnu"] as const) {
      const { raw, header } = one(
        {
          name: "bin/ping",
          typeflag: "0",
          xattrs: new Map([
            ["security.capability", cap],
            ["user.empty", new Uint8Array(0)],
          ]),
        },
        format,
      )
      const recs = paxRecordsOf(raw)
      assert.deepStrictEqual(
        [...recs.keys()],
        ["hdrcharset", "SCHILY.xattr.security.capability", "SCHILY.xattr.user.empty"],
      )
      assert.deepStrictEqual(header.xattrs.get("security.capability"), cap)
      assert.deepStrictEqual(header.xattrs.get("user.empty"), new Uint8Array(0))
    }
    const { raw } = one({ name: "t", typeflag: "0", xattrs: { "user.mime": enc("text/plain") } })
    assert.isFalse(paxRecordsOf(raw).has("hdrcharset"))
  })

  it("fractional mtime forces PAX, also for gnu", () => {
    for (const mtime of [1700000000.5, 0.25, -1.5, 1e-7]) {
      for (const format of [undefined, "gnu"] as const) {
        const { raw, header } = one({ name: "f", typeflag: "0", mtime }, format)
        assert.isTrue(paxRecordsOf(raw).has("mtime"))
        assert.strictEqual(header.mtime, mtime)
      }
    }
  })

  it("gnu: ././@LongLink for names/links over 100 bytes, base-256 for big numbers, raw UTF-8 names", () => {
    const name = "é".repeat(60) // 120 bytes
    const { raw, header } = one(
      { name, typeflag: "1", linkname: "k".repeat(300), uid: 2 ** 40, mtime: -5, devmajor: 2 ** 30 },
      "gnu",
    )
    assert.strictEqual(raw.length, 512 * 5)
    assert.deepStrictEqual([raw[156], raw[512 * 2 + 156]], [0x4b, 0x4c]) // 'K' then 'L'
    const main = raw.subarray(512 * 4)
    assert.strictEqual(ascii(main, 257, 8), "ustar  \0")
    assert.strictEqual(main[108]! & 0x80, 0x80)
    assert.strictEqual(main[136], 0xff)
    assert.deepStrictEqual(
      [header.name, header.linkname, header.uid, header.mtime, header.devmajor, header.format],
      [name, "k".repeat(300), 2 ** 40, -5, 2 ** 30, "gnu"],
    )
    const short = one({ name: "ünï", typeflag: "0" }, "gnu")
    assert.strictEqual(short.raw.length, 512)
    assert.strictEqual(short.header.name, "ünï")
  })

  it("gnu falls back to PAX for owner names over 32 bytes", () => {
    const { raw, header } = one({ name: "f", typeflag: "0", uname: "u".repeat(40) }, "gnu")
    assert.isTrue(paxRecordsOf(raw).has("uname"))
    assert.strictEqual(header.uname, "u".repeat(40))
  })

  it("header-only types get size 0; numbers are truncated to integers", () => {
    const { raw, header } = one({ name: "d/", typeflag: "5", size: 99, mode: 493.9, uid: Number.NaN })
    assert.strictEqual(ascii(raw, 124, 12), "00000000000\0")
    assert.deepStrictEqual([header.size, header.mode, header.uid], [0, 0o755, 0])
  })

  it("an empty typeflag writes '0'", () => {
    assert.strictEqual(one({ name: "f", typeflag: "" }).header.typeflag, "0")
  })
})

describe("padding, end blocks, writeTar", () => {
  it("paddingFor pads to the next 512 boundary", () => {
    assert.deepStrictEqual(
      [0, 1, 511, 512, 513, 5000].map((n) => paddingFor(n).length),
      [0, 511, 1, 0, 511, 120],
    )
    assert.isTrue(paddingFor(3).every((b) => b === 0))
  })

  it("END_OF_ARCHIVE is two zero blocks", () => {
    assert.strictEqual(END_OF_ARCHIVE.length, 1024)
    assert.isTrue(END_OF_ARCHIVE.every((b) => b === 0))
  })

  it("writeTar lays out headers, data, padding and end blocks", () => {
    const tar = writeTar([
      { entry: { name: "a", typeflag: "0", size: 999 }, data: enc("hello") },
      { entry: { name: "l", typeflag: "2", linkname: "a" }, data: enc("ignored") },
      { entry: { name: "z", typeflag: "0", size: 3 } },
    ])
    assert.strictEqual(tar.length, 512 * 2 + 512 + 512 * 2 + 1024)
    assert.strictEqual(text(tar.subarray(512, 517)), "hello")
    const es = parseAll(tar)
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.size, text(e.bytes)]),
      [
        ["a", 5, "hello"],
        ["l", 0, ""],
        ["z", 3, "\0\0\0"],
      ],
    )
    const noEnd = writeTar([{ entry: { name: "a", typeflag: "0" } }], { endBlocks: false })
    assert.strictEqual(noEnd.length, 512)
  })
})

describe("PAX records", () => {
  it("length prefixes are exact across digit-count boundaries", () => {
    for (let n = 0; n < 1100; n++) {
      const rec = formatPaxRecord("k", new Uint8Array(n).fill(0x61))
      const len = Number.parseInt(ascii(rec, 0, rec.indexOf(0x20)), 10)
      assert.strictEqual(len, rec.length)
      const parsed = parsePaxRecords(rec)
      if (!(parsed instanceof Map)) return assert.fail(parsed.message)
      assert.strictEqual(parsed.get("k")!.length, n)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// round trip property

const TYPES = ["0", "1", "2", "3", "4", "5", "6"] as const
const noNul = (s: string) => !s.includes("\0")
const pathArb = fc
  .oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
    fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 300 }),
    fc
      .array(fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 12 })
      .map((p) => p.join("/")),
  )
  .filter(noNul)
const ownerArb = fc.oneof(fc.constant(""), fc.string({ unit: "binary", maxLength: 40 })).filter(noNul)
const entryArb = fc.record({
  name: pathArb,
  typeflag: fc.constantFrom(...TYPES),
  size: fc.integer({ min: 0, max: 5000 }),
  mode: fc.integer({ min: 0, max: 0o177777 }),
  uid: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 40 })),
  gid: fc.integer({ min: 0, max: 2 ** 31 }),
  mtime: fc.oneof(
    fc.integer({ min: 0, max: 2 ** 34 }),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.integer({ min: 0, max: 2 ** 31 * 1000 }).map((ms) => ms / 1000),
  ),
  linkname: fc.oneof(fc.constant(""), pathArb),
  uname: ownerArb,
  gname: ownerArb,
  devmajor: fc.integer({ min: 0, max: 2 ** 24 }),
  devminor: fc.integer({ min: 0, max: 2 ** 24 }),
  xattrs: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/), fc.uint8Array({ maxLength: 64 }), {
    maxKeys: 3,
  }),
  seed: fc.integer({ min: 0, max: 255 }),
})

describe("round trip", () => {
  it("random entries -> writeTar (each format) -> parse gives the same facts and data", () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { maxLength: 6 }),
        fc.constantFrom(undefined, "ustar", "pax", "gnu"),
        (list, format) => {
          const input = list.map(({ seed, ...entry }) => {
            const headerOnly = entry.typeflag !== "0"
            const data = headerOnly
              ? undefined
              : new Uint8Array(entry.size).map((_, i) => (i * 31 + seed) & 0xff)
            return { entry, data }
          })
          const parsed = parseAll(writeTar(input, format === undefined ? {} : { format }))
          assert.strictEqual(parsed.length, input.length)
          parsed.forEach((got, i) => {
            const { entry, data } = input[i]!
            const h = got.header
            const isReg = entry.typeflag === "0"
            assert.deepStrictEqual(
              {
                name: h.name,
                typeflag: h.typeflag,
                size: h.size,
                mode: h.mode,
                uid: h.uid,
                gid: h.gid,
                mtime: h.mtime,
                linkname: h.linkname,
                uname: h.uname,
                gname: h.gname,
                devmajor: h.devmajor,
                devminor: h.devminor,
                xattrs: Object.fromEntries([...h.xattrs].map(([k, v]) => [k, [...v]])),
              },
              {
                name: entry.name,
                typeflag: entry.typeflag,
                size: isReg ? entry.size : 0,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime,
                linkname: entry.linkname,
                uname: entry.uname,
                gname: entry.gname,
                devmajor: entry.devmajor,
                devminor: entry.devminor,
                xattrs: Object.fromEntries(Object.entries(entry.xattrs).map(([k, v]) => [k, [...v]])),
              },
            )
            assert.deepStrictEqual(got.bytes, data ?? new Uint8Array(0))
          })
        },
      ),
      { numRuns: 300 },
    )
  })
})
