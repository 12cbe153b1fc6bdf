import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  base64Decode,
  base64Encode,
  goJsonString,
  LineSplitter,
  parseTarSplitLine,
  TAR_SPLIT_FILE,
  TAR_SPLIT_SEGMENT,
  TarSplitWriter,
} from "./TarSplit.ts"

const enc = new TextEncoder()
const dec = new TextDecoder()
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64")

describe("Go JSON strings", () => {
  it("escapes as encoding/json with HTML escaping (what c/storage's writers produce)", () => {
    expect(goJsonString("plain/name.txt")).toBe('"plain/name.txt"')
    expect(goJsonString("a<b>&c")).toBe('"a\\u003cb\\u003e\\u0026c"')
    expect(goJsonString('q"b\\s')).toBe('"q\\"b\\\\s"')
    expect(goJsonString("\n\r\t\b\f\u0001\u001f")).toBe('"\\n\\r\\t\\b\\f\\u0001\\u001f"')
    expect(goJsonString("\u2028\u2029é😀")).toBe('"\\u2028\\u2029é😀"')
  })

  it("property: JSON.parse reads back the same string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (s) => {
        expect(JSON.parse(goJsonString(s))).toBe(s)
      }),
    )
  })
})

describe("base64", () => {
  it("property: encodes as the standard alphabet with padding, and decodes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(base64Encode(b)).toBe(b64(b))
        expect(Buffer.from(base64Decode(b64(b))!).equals(Buffer.from(b))).toBe(true)
      }),
    )
  })

  it("decodes what Go's StdEncoding accepts and rejects the rest", () => {
    expect(base64Decode("")).toEqual(new Uint8Array(0))
    expect(base64Decode("AB==")).toEqual(new Uint8Array([0])) // unused bits set: Go's non-strict decoder accepts
    expect(base64Decode("aGVs\nbG8=")).toEqual(enc.encode("hello")) // CR/LF ignored
    for (const bad of ["a", "abc", "A===", "ab=c", "AB==AAAA", "ab!d", "éàèç"])
      expect(base64Decode(bad)).toBeUndefined()
  })
})

describe("tar-split NDJSON", () => {
  it("writes storage.Entry lines as json.Encoder does: key order, omitempty, null payloads, positions", () => {
    const w = new TarSplitWriter()
    const header = new Uint8Array(512).fill(7)
    const pad = new Uint8Array(100)
    w.segment([pad, header])
    w.file(enc.encode("etc/hostname"), 5, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))
    w.segment([])
    w.file(enc.encode("dir/"), 0, null)
    w.file(new Uint8Array([0x66, 0xff, 0xfe]), 3, new Uint8Array(8))
    w.file(new Uint8Array(0), 0, null)
    w.file(enc.encode("<&>"), 0, null)
    const want = [
      `{"type":2,"payload":"${b64(Buffer.concat([pad, header]))}","position":0}`,
      `{"type":1,"name":"etc/hostname","size":5,"payload":"AQIDBAUGBwg=","position":1}`,
      `{"type":1,"name":"dir/","payload":null,"position":2}`,
      `{"type":1,"name_raw":"Zv/+","size":3,"payload":"AAAAAAAAAAA=","position":3}`,
      `{"type":1,"payload":null,"position":4}`,
      `{"type":1,"name":"\\u003c\\u0026\\u003e","payload":null,"position":5}`,
    ]
    expect(dec.decode(w.take())).toBe(want.map((l) => `${l}\n`).join(""))
    expect(w.entries).toBe(6)
  })

  it("reads its own lines back, and rejects malformed ones", () => {
    const w = new TarSplitWriter()
    w.segment([enc.encode("raw bytes")])
    w.file(new Uint8Array([0x61, 0xff]), 9, new Uint8Array(8).fill(1))
    w.file(enc.encode("empty"), 0, null)
    const lines = dec
      .decode(w.take())
      .trimEnd()
      .split("\n")
      .map((l) => enc.encode(l))
    expect(parseTarSplitLine(lines[0]!, 0)).toEqual({
      type: TAR_SPLIT_SEGMENT,
      payload: enc.encode("raw bytes"),
      position: 0,
    })
    expect(parseTarSplitLine(lines[1]!, 1)).toEqual({
      type: TAR_SPLIT_FILE,
      name: "a\ufffd",
      nameRaw: new Uint8Array([0x61, 0xff]),
      size: 9,
      payload: new Uint8Array(8).fill(1),
      position: 1,
    })
    expect(parseTarSplitLine(lines[2]!, 2)).toMatchObject({
      type: TAR_SPLIT_FILE,
      name: "empty",
      size: 0,
      payload: null,
    })
    const problems = [
      [lines[0]!, 1, /position/],
      [enc.encode("{not json"), 0, /JSON/],
      [enc.encode("[1,2]"), 0, /object/],
      [enc.encode('{"type":3,"position":0}'), 0, /type/],
      [enc.encode('{"type":2,"position":0}'), 0, /payload/],
      [enc.encode('{"type":2,"payload":"!!","position":0}'), 0, /base64/],
      [enc.encode('{"type":1,"name":"a","size":-1,"payload":null,"position":0}'), 0, /size/],
      [enc.encode('{"type":1,"name":"a","size":1.5,"payload":null,"position":0}'), 0, /size/],
      [enc.encode('{"type":1,"name_raw":"%%%%","payload":null,"position":0}'), 0, /name_raw/],
      [new Uint8Array([0x7b, 0xff, 0x7d]), 0, /UTF-8/],
    ] as const
    for (const [line, pos, re] of problems) {
      const r = parseTarSplitLine(line, pos)
      expect("problem" in r && r.problem).toMatch(re)
    }
  })

  it("property: lines split at any points come out whole", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ maxLength: 30 }).map((s) => s.replace(/\n/g, "")),
          { maxLength: 8 },
        ),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        (lines, cuts, finalNewline) => {
          const text = enc.encode(lines.join("\n") + (finalNewline && lines.length > 0 ? "\n" : ""))
          const points = [0, ...cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b), text.length]
          const ls = new LineSplitter(1 << 20)
          const got: Array<string> = []
          for (let i = 1; i < points.length; i++)
            for (const l of ls.push(text.slice(points[i - 1], points[i]))) got.push(dec.decode(l))
          for (const l of ls.end()) got.push(dec.decode(l))
          const want = lines.length === 0 ? [] : [...lines]
          if (!finalNewline && want.length > 0 && want[want.length - 1] === "") want.pop()
          expect(got).toEqual(want)
          expect(ls.overflow).toBe(false)
        },
      ),
    )
  })

  it("flags a line longer than the limit", () => {
    const ls = new LineSplitter(10)
    ls.push(enc.encode("0123456789abc"))
    expect(ls.overflow).toBe(true)
    const ls2 = new LineSplitter(10)
    ls2.push(enc.encode("0123456789\nab"))
    expect(ls2.overflow).toBe(false)
  })
})
