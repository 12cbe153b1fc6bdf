import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  cleanEntryName,
  formatModtime,
  parseModtime,
  parseToc,
  parseTocSync,
  serializeToc,
  type Toc,
  type TocEntry,
} from "./Toc.ts"
import { TocError, type TocErrorReason } from "./TocError.ts"
import { D, STORAGE_TOC, WORKED_EXAMPLE } from "./testdata/samples.ts"

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

/** Parses through both the fast path and the exact parser; they must agree. */
const parseBoth = (text: string | Uint8Array): Toc | TocError => {
  const bytes = typeof text === "string" ? enc(text) : text
  const fast = parseTocSync(bytes)
  const exact = parseTocSync(bytes, undefined, true)
  if (fast instanceof TocError || exact instanceof TocError) {
    expect(exact instanceof TocError ? exact.reason : "ok").toBe(
      fast instanceof TocError ? fast.reason : "ok",
    )
  } else {
    expect(exact).toEqual(fast)
  }
  return fast
}
const ok = (text: string | Uint8Array): Toc => {
  const r = parseBoth(text)
  if (r instanceof TocError) throw new Error(`unexpected ${r.reason}: ${r.message}`)
  return r
}
const rejects = (text: string | Uint8Array, reason: TocErrorReason): TocError => {
  const r = parseBoth(text)
  if (!(r instanceof TocError))
    throw new Error(`accepted: ${typeof text === "string" ? text.slice(0, 200) : "<bytes>"}`)
  expect(r.reason).toBe(reason)
  return r
}
const one = (entry: string, extra = "") => `{"version":1,"entries":[${entry}]${extra}}`

describe("parseToc + serializeToc: reference bytes", () => {
  it.effect("the §2.8 worked example parses and re-serialises byte for byte", () =>
    Effect.gen(function* () {
      const bytes = enc(WORKED_EXAMPLE)
      assert.strictEqual(bytes.length, 1278)
      const toc = yield* parseToc(bytes)
      assert.strictEqual(toc.version, 1)
      assert.strictEqual(toc.entries.length, 6)
      assert.deepStrictEqual(toc.entries[4], {
        name: "etc/hello.txt",
        type: "chunk",
        offset: 286,
        chunkOffset: 8,
        chunkDigest: "sha256:cd70bea023f752a0564abb6ed08d42c1440f2e33e29914e55e0be1595e24f45a",
      })
      assert.deepStrictEqual(toc.entries[5], {
        name: "etc/link",
        type: "symlink",
        modtime: "2021-01-02T03:04:05Z",
        linkName: "hello.txt",
        mode: 511,
      })
      const out = serializeToc(toc, "estargz")
      assert.strictEqual(dec(out), WORKED_EXAMPLE)
      assert.strictEqual(sha256(out), sha256(bytes))
    }),
  )

  it.effect("a real ctr-remote TOC (testdata, see its README) re-serialises to the same sha256", () =>
    Effect.gen(function* () {
      const bytes = new Uint8Array(
        readFileSync(new URL("./testdata/estargz-layer-2.toc.json", import.meta.url)),
      )
      const toc = yield* parseToc(bytes)
      assert.strictEqual(toc.entries.length, 10)
      const out = serializeToc(toc, "estargz")
      assert.strictEqual(sha256(out), "a73e3c3d1001beb050aea158f6009a6155c11d6297f1b6793aa5468c6b206727")
      assert.strictEqual(sha256(out), sha256(bytes))
    }),
  )

  it.effect("a containers/storage compact TOC (§8.2 dialect) round-trips byte for byte", () =>
    Effect.gen(function* () {
      const toc = yield* parseToc(enc(STORAGE_TOC))
      assert.strictEqual(toc.tarSplitDigest, D("d"))
      const hello = toc.entries[1]!
      assert.strictEqual(hello.endOffset, 230)
      assert.strictEqual(hello.modtime, "2021-01-02T03:04:05.123456789+02:00")
      assert.strictEqual(hello.accesstime, "2021-01-02T03:04:06Z")
      assert.strictEqual(hello.changetime, "2021-01-02T03:04:07.5Z")
      assert.deepStrictEqual(hello.xattrs, { "user.foo": "YmFy" })
      assert.isUndefined(toc.entries[2]!.digest) // empty file: c/storage writes no digest
      assert.strictEqual(toc.entries[5]!.chunkType, "zeros")
      assert.strictEqual(toc.entries[8]!.devMajor, 1)
      assert.strictEqual(dec(serializeToc(toc, "compact")), STORAGE_TOC)
      // and through the other style and back
      const again = yield* parseToc(serializeToc(toc, "estargz"))
      assert.deepStrictEqual(again, toc)
    }),
  )

  it("writes the estargz key order and omits zero values", () => {
    const e: TocEntry = {
      chunkDigest: D("c"),
      chunkSize: 3,
      chunkOffset: 0,
      digest: D("b"),
      xattrs: { "user.b": "", "user.a": "AA==" },
      devMinor: 0,
      devMajor: 0,
      innerOffset: 5,
      offset: 7,
      groupName: "g",
      userName: "",
      gid: 2,
      uid: 0,
      mode: 420,
      linkName: "",
      modtime: "2021-01-02T03:04:05Z",
      size: 9,
      type: "reg",
      name: "f",
    }
    expect(dec(serializeToc({ version: 1, entries: [e] }, "estargz"))).toBe(
      '{\n\t"version": 1,\n\t"entries": [\n\t\t{\n\t\t\t"name": "f",\n\t\t\t"type": "reg",\n\t\t\t"size": 9,\n' +
        '\t\t\t"modtime": "2021-01-02T03:04:05Z",\n\t\t\t"mode": 420,\n\t\t\t"gid": 2,\n\t\t\t"groupName": "g",\n' +
        '\t\t\t"offset": 7,\n\t\t\t"innerOffset": 5,\n\t\t\t"xattrs": {\n\t\t\t\t"user.a": "AA==",\n' +
        `\t\t\t\t"user.b": ""\n\t\t\t},\n\t\t\t"digest": "${D("b")}",\n\t\t\t"chunkSize": 3,\n` +
        `\t\t\t"chunkDigest": "${D("c")}"\n\t\t}\n\t]\n}`,
    )
    expect(dec(serializeToc({ version: 1, entries: [] }, "estargz"))).toBe(
      '{\n\t"version": 1,\n\t"entries": []\n}',
    )
    expect(dec(serializeToc({ version: 1, entries: [] }, "compact"))).toBe('{"version":1,"entries":[]}')
  })

  it("escapes strings as Go does", () => {
    const name = 'a<b>&c"d\\e\u2028f\u2029g\n\t\r\b\f\u0001\u001f\u007fé😀'
    const out = dec(serializeToc({ version: 1, entries: [{ name, type: "dir" }] }, "compact"))
    expect(out).toBe(
      '{"version":1,"entries":[{"type":"dir","name":"a\\u003cb\\u003e\\u0026c\\"d\\\\e\\u2028f\\u2029g\\n\\t\\r\\b\\f\\u0001\\u001f\u007fé😀"}]}',
    )
    const lone = dec(
      serializeToc({ version: 1, entries: [{ name: "x\ud800y\udc00", type: "dir" }] }, "compact"),
    )
    expect(lone).toBe('{"version":1,"entries":[{"type":"dir","name":"x\\ufffdy\\ufffd"}]}')
    // and the parse side decodes them back
    expect(ok(out).entries[0]!.name).toBe(name)
  })

  it("sorts xattr keys by code point (UTF-8 byte order), as Go sorts map keys", () => {
    const xattrs = { "\uffff": "AA==", "😀": "AA==", b: "AA==", a: "AA==", B: "AA==" }
    const out = dec(serializeToc({ version: 1, entries: [{ name: "f", type: "dir", xattrs }] }, "compact"))
    expect(out).toBe(
      '{"version":1,"entries":[{"type":"dir","name":"f","xattrs":{"B":"AA==","a":"AA==","b":"AA==","\uffff":"AA==","😀":"AA=="}}]}',
    )
  })
})

describe("parseToc: Go's tolerance and strictness", () => {
  it("matches keys case-insensitively, with Go's folding of ſ and K", () => {
    const toc = ok(
      one('{"NAME":"a","Type":"reg","SiZe":3,"\u017fize":4,"LIN\u212aNAME":"x","chunkdigest":"d"}'),
    )
    expect(toc.entries[0]).toEqual({ name: "a", type: "reg", size: 4, linkName: "x", chunkDigest: "d" })
    expect(ok('{"VERSION":1,"Entries":[],"TARSPLITDIGEST":"t"}')).toEqual({
      version: 1,
      entries: [],
      tarSplitDigest: "t",
    })
  })

  it("lets the later of two spellings of a key win, as Go does", () => {
    expect(ok(one('{"name":"a","Name":"b","type":"dir"}')).entries[0]!.name).toBe("b")
    expect(ok(one('{"Name":"b","name":"a","type":"dir"}')).entries[0]!.name).toBe("a")
    expect(ok(one('{"name":"a","Name":"b","name":"c","type":"dir"}')).entries[0]!.name).toBe("c")
  })

  it("type-checks the earlier of two identical keys even though the later one wins, as Go does", () => {
    // JSON.parse keeps only the last "mode"; Go still reports the string it met first (CI counterexample)
    expect(rejects(one('{"name":"a","type":"dir","mode":"x","mode":420}'), "Schema").message).toMatch(/mode/)
    expect(rejects(one('{"name":"a","type":"dir","xattrs":{"k":1,"k":"AA=="}}'), "Schema").message).toMatch(
      /xattrs/,
    )
    expect(rejects('{"version":"1","version":1,"entries":[]}', "Schema").message).toMatch(/version/)
    expect(ok(one('{"name":"a","type":"dir","mode":1,"mode":420}')).entries[0]!.mode).toBe(420)
    expect(ok(one('{"name":"a","type":"dir","xattrs":{"k":"AQ==","k":"AA=="}}')).entries[0]!.xattrs).toEqual({
      k: "AA==",
    })
  })

  it("ignores unknown keys of any shape, NumLink included", () => {
    const toc = ok(
      one(
        '{"name":"a","type":"dir","NumLink":3,"annotations":{"x":[1.5,true,null,{"y":-2e10}]},"__proto__":{"z":1}}',
        ',"extra":[[[[{}]]]]',
      ),
    )
    expect(toc.entries[0]).toEqual({ name: "a", type: "dir" })
    expect(Object.keys(toc.entries[0]!)).toEqual(["name", "type"])
  })

  it("treats null as 'leave unset' and a null entries list as empty", () => {
    expect(ok(one('{"name":"a","type":"reg","size":null,"offset":5,"xattrs":null}')).entries[0]).toEqual({
      name: "a",
      type: "reg",
      offset: 5,
    })
    // a null after a value leaves the earlier value in place
    expect(ok(one('{"name":"a","type":"reg","size":5,"size":null}')).entries[0]!.size).toBe(5)
    // but null clears a map or a slice, as Go sets them to nil
    expect(
      ok(one('{"name":"a","type":"dir","xattrs":{"k":"YQ=="},"xattrs":null}')).entries[0]!.xattrs,
    ).toBeUndefined()
    expect(ok('{"version":1,"entries":[{"name":"a","type":"dir"}],"entries":null}').entries).toEqual([])
    expect(ok('{"version":1,"entries":null}').entries).toEqual([])
    expect(ok(one('{"name":"a","type":"dir","xattrs":{"user.x":null}}')).entries[0]!.xattrs).toEqual({
      "user.x": "",
    })
  })

  it("drops zero numbers, empty strings and empty xattrs so that the entry re-serialises like Go's", () => {
    const e = ok(
      one(
        '{"name":"a","type":"reg","size":0,"mode":-0,"uid":0,"userName":"","xattrs":{},"digest":"","offset":0}',
      ),
    ).entries[0]
    expect(e).toEqual({ name: "a", type: "reg" })
    expect(ok(one('{"type":"chunk"}')).entries[0]).toEqual({ name: "", type: "chunk" })
  })

  it("rejects fractions and exponents in integer fields", () => {
    for (const v of ["1.5", "1.0", "1e2", "1E0", "-0.0", "0.1e1"]) {
      const e = rejects(one(`{"name":"a","type":"reg","size":${v}}`), "Schema")
      expect(e.message).toContain("size")
      expect(e.message).toContain("entry #0 (a)")
      expect(e.entry).toBe("a")
    }
    rejects('{"version":1.0,"entries":[]}', "Schema")
  })

  it("rejects negative values: BadOffset for offsets, Schema for the rest", () => {
    for (const k of ["offset", "innerOffset", "chunkOffset", "endOffset"]) {
      rejects(one(`{"name":"a","type":"reg","${k}":-1}`), "BadOffset")
    }
    for (const k of ["size", "mode", "uid", "gid", "devMajor", "devMinor", "chunkSize"]) {
      rejects(one(`{"name":"a","type":"reg","${k}":-1}`), "Schema")
    }
  })

  it("rejects integers outside the safe range", () => {
    rejects(one('{"name":"a","type":"reg","offset":9007199254740992}'), "Schema")
    rejects(one('{"name":"a","type":"reg","offset":123456789012345678901234567890}'), "Schema")
    expect(ok(one('{"name":"a","type":"reg","offset":9007199254740991}')).entries[0]!.offset).toBe(
      Number.MAX_SAFE_INTEGER,
    )
  })

  it("rejects values of the wrong JSON type", () => {
    rejects(one('{"name":"a","type":"reg","size":"10"}'), "Schema")
    rejects(one('{"name":"a","type":"reg","size":true}'), "Schema")
    rejects(one('{"name":"a","type":"reg","size":[1]}'), "Schema")
    rejects(one('{"name":1,"type":"reg"}'), "Schema")
    rejects(one('{"name":"a","type":"reg","digest":{}}'), "Schema")
    rejects(one('{"name":"a","type":"reg","xattrs":[]}'), "Schema")
    rejects(one('{"name":"a","type":"reg","xattrs":{"k":1}}'), "Schema")
    rejects('{"version":1,"entries":[],"tarSplitDigest":5}', "Schema")
  })

  it("checks xattr values are base64 and writes them back canonically, as Go's []byte does", () => {
    rejects(one('{"name":"a","type":"dir","xattrs":{"k":"not base64!"}}'), "Schema")
    rejects(one('{"name":"a","type":"dir","xattrs":{"k":"YQ"}}'), "Schema")
    const x = ok(one('{"name":"a","type":"dir","xattrs":{"k":"YR==","l":"Y\\r\\nQ==","m":"YWI=","n":""}}'))
      .entries[0]!.xattrs
    expect(x).toEqual({ k: "YQ==", l: "YQ==", m: "YWI=", n: "" })
  })

  it("requires known entry types", () => {
    const e = rejects(one('{"name":"a","type":"socket"}'), "BadEntry")
    expect(e.message).toContain("entry #0 (a)")
    rejects(one('{"name":"a"}'), "BadEntry")
    rejects(one('{"name":"a","type":null}'), "BadEntry")
  })

  it("requires version 1", () => {
    rejects('{"version":2,"entries":[]}', "BadVersion")
    rejects('{"version":0,"entries":[]}', "BadVersion")
    rejects('{"entries":[]}', "BadVersion")
    rejects('{"version":null,"entries":[]}', "BadVersion")
    rejects('{"version":"1","entries":[]}', "Schema")
  })

  it("requires an object with an entries array of objects", () => {
    rejects("[]", "Schema")
    rejects('"toc"', "Schema")
    rejects("1", "Schema")
    rejects("null", "Schema")
    rejects('{"version":1}', "Schema")
    rejects('{"version":1,"entries":{}}', "Schema")
    rejects('{"version":1,"entries":"x"}', "Schema")
    for (const bad of ["null", "1", '"x"', "[]", "true"]) {
      const e = rejects(`{"version":1,"entries":[{"name":"a","type":"dir"},${bad}]}`, "Schema")
      expect(e.message).toContain("entry #1")
    }
  })

  it("accepts trailing JSON whitespace and rejects anything else after the object (FORMATS §12 #6)", () => {
    for (const ws of [" ", "\n", "\r\n\t  ", "\n\n\n"]) ok(`{"version":1,"entries":[]}${ws}`)
    for (const junk of ["aaaa", ",", "{}", "[]", '"x"', "1", "\u0000", " }", "\u00a0"]) {
      rejects(`{"version":1,"entries":[]}${junk}`, "InvalidJson")
    }
  })

  it("rejects malformed JSON, a BOM, and leading garbage", () => {
    for (const bad of [
      "",
      "{",
      '{"version":1,"entries":[}',
      "{'version':1}",
      '{"version":01,"entries":[]}',
      '{"version":1,"entries":[],}',
      '{"version":+1,"entries":[]}',
      '{"a":"\\x"}',
      '{"a":"\u0001"}',
      "\ufeff{}",
    ]) {
      rejects(bad, "InvalidJson")
    }
  })

  it("replaces bytes that are not UTF-8 one by one, as Go's decoder does", () => {
    // E2 82 is a truncated 3-byte sequence: Go makes two U+FFFD of it (TextDecoder would make one)
    const bytes = new Uint8Array([
      ...enc('{"version":1,"entries":[{"name":"a'),
      0xe2,
      0x82,
      ...enc('b","type":"dir"}]}'),
    ])
    expect(ok(bytes).entries[0]!.name).toBe("a\ufffd\ufffdb")
    expect(ok(one('{"name":"\\ud800\\u0041\\ud83d\\ude00","type":"dir"}')).entries[0]!.name).toBe("\ufffdA😀")
  })

  it("refuses input above maxBytes before looking at it", () => {
    const big = parseTocSync(new Uint8Array(1000).fill(0x7b), { maxBytes: 999 })
    expect(big instanceof TocError && big.reason).toBe("TooLarge")
    expect(parseTocSync(enc(WORKED_EXAMPLE), { maxBytes: 1278 })).not.toBeInstanceOf(TocError)
    const few = parseTocSync(enc(WORKED_EXAMPLE), { maxEntries: 5 })
    expect(few instanceof TocError && few.reason).toBe("TooLarge")
  })

  it("limits nesting to Go's 10000 levels, inside unknown keys too", () => {
    const nest = (d: number) => `{"version":1,"entries":[],"x":${"[".repeat(d)}${"]".repeat(d)}}`
    ok(nest(9999)) // 10000 levels with the top-level object
    rejects(nest(10000), "InvalidJson")
    rejects(nest(200000), "InvalidJson")
    // with a literal inside, the exact parser handles it and applies the same limit
    ok(`{"version":1,"entries":[],"x":${"[".repeat(9999)}null${"]".repeat(9999)}}`)
    rejects(`{"version":1,"entries":[],"x":${"[".repeat(10000)}null${"]".repeat(10000)}}`, "InvalidJson")
  })

  it("fails through the Effect error channel, never by throwing", () =>
    Effect.gen(function* () {
      const e = yield* Effect.flip(parseToc(enc("{")))
      assert.strictEqual(e._tag, "TocError")
      assert.strictEqual(e.reason, "InvalidJson")
    }).pipe(Effect.runSync))
})

describe("formatModtime / parseModtime", () => {
  it("formats like Go's formatModtime", () => {
    expect(formatModtime(1609556645)).toBe("2021-01-02T03:04:05Z")
    expect(formatModtime(1609556645.4)).toBe("2021-01-02T03:04:05Z")
    expect(formatModtime(1609556645.5)).toBe("2021-01-02T03:04:06Z") // …05.6 rounds up (ERRATA), so does .5
    expect(formatModtime(0)).toBeUndefined()
    expect(formatModtime(0.7)).toBeUndefined() // Unix() == 0
    expect(formatModtime(-62135596800)).toBeUndefined() // Go's zero time
    expect(formatModtime(-0.5)).toBe("1970-01-01T00:00:00Z") // Go Round: a half goes to the later second
    expect(formatModtime(-1.5)).toBe("1969-12-31T23:59:59Z")
    expect(formatModtime(-1)).toBe("1969-12-31T23:59:59Z")
    expect(formatModtime(951782400)).toBe("2000-02-29T00:00:00Z")
    expect(formatModtime(253402300799)).toBe("9999-12-31T23:59:59Z")
    expect(formatModtime(253402300800)).toBe("10000-01-01T00:00:00Z")
    expect(formatModtime(-62167219200)).toBe("0000-01-01T00:00:00Z")
    expect(formatModtime(-62167219201)).toBe("-0001-12-31T23:59:59Z")
    expect(formatModtime(-62135596799)).toBe("0001-01-01T00:00:01Z")
    expect(formatModtime(Number.MAX_SAFE_INTEGER)).toBe("285428751-11-12T07:36:31Z")
    expect(formatModtime(-Number.MAX_SAFE_INTEGER)).toBe("-285424812-02-20T16:23:29Z")
    expect(formatModtime(Number.NaN)).toBeUndefined()
    expect(formatModtime(Number.POSITIVE_INFINITY)).toBeUndefined()
    expect(formatModtime(1e300)).toBeUndefined()
  })

  it("parses RFC 3339 with fractions and offsets", () => {
    expect(parseModtime("2021-01-02T03:04:05Z")).toBe(1609556645)
    expect(parseModtime("2021-01-02T04:04:05+01:00")).toBe(1609556645)
    expect(parseModtime("2021-01-01T22:34:05-04:30")).toBe(1609556645)
    expect(parseModtime("2021-01-02T03:04:05.25Z")).toBe(1609556645.25)
    expect(parseModtime("2021-01-02T03:04:05,5Z")).toBe(1609556645.5)
    // nanosecond precision: digits past the ninth are dropped, as Go does
    expect(parseModtime("2021-01-02T03:04:05.1234567891234Z")).toBe(
      parseModtime("2021-01-02T03:04:05.123456789Z"),
    )
    expect(parseModtime("2021-01-02T03:04:05.123456789Z")).toBeCloseTo(1609556645.123457, 5)
    expect(parseModtime("1969-12-31T23:59:59Z")).toBe(-1)
    expect(parseModtime("2000-02-29T00:00:00Z")).toBe(951782400)
    expect(parseModtime("9999-12-31T23:59:59Z")).toBe(253402300799)
    expect(parseModtime("0000-01-01T00:00:00Z")).toBe(-62167219200)
  })

  it("treats year 1 and Unix 0 as unset, and bad input as unknown", () => {
    expect(parseModtime("0001-01-01T00:00:00Z")).toBeUndefined()
    expect(parseModtime("0001-06-01T00:00:00+01:00")).toBeUndefined()
    expect(parseModtime("1970-01-01T00:00:00Z")).toBeUndefined()
    expect(parseModtime("1970-01-01T01:00:00+01:00")).toBeUndefined()
    for (const bad of [
      "",
      "2021-01-02",
      "2021-01-02 03:04:05Z",
      "2021-01-02t03:04:05Z",
      "2021-01-02T03:04:05z",
      "2021-01-02T03:04:05",
      "2021-13-02T03:04:05Z",
      "2021-02-29T03:04:05Z",
      "2021-01-32T03:04:05Z",
      "2021-01-02T24:04:05Z",
      "2021-01-02T03:60:05Z",
      "2021-01-02T03:04:60Z",
      "2021-01-02T03:04:05+25:00",
      "2021-01-02T03:04:05+01:60",
      "2021-01-02T03:04:05.Z",
      "21-01-02T03:04:05Z",
      "+2021-01-02T03:04:05Z",
    ]) {
      expect(parseModtime(bad), bad).toBeUndefined()
    }
  })

  it("round-trips through formatModtime", () => {
    for (const t of [1, 59, 1609556645, 4102444800, -86400 * 365 * 100, 253402300799]) {
      expect(parseModtime(formatModtime(t)!)).toBe(t)
    }
  })
})

describe("cleanEntryName", () => {
  it("is path.Clean('/'+name) without the leading slash", () => {
    const cases: Array<[string, string]> = [
      ["./etc/", "etc"],
      ["/a/../b", "b"],
      ["../foo", "foo"],
      ["./", ""],
      ["/", ""],
      ["", ""],
      [".", ""],
      ["..", ""],
      ["a//b///c/", "a/b/c"],
      ["a/./b/.", "a/b"],
      ["a/b/../../..", ""],
      ["a/../.././/.//../foo/./../bar/..", ""],
      [".hidden", ".hidden"],
      ["..foo/bar..", "..foo/bar.."],
      ["etc/hello.txt", "etc/hello.txt"],
    ]
    for (const [input, want] of cases) expect(cleanEntryName(input), input).toBe(want)
  })
})
