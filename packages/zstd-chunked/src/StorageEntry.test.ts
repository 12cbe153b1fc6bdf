import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { TarParser, type TarHeader, writeTar } from "@lazypull/tar"
import {
  formatGoTime,
  goCleanPath,
  isUnsetTime,
  parseGoTime,
  parsePaxTime,
  rawEntryName,
  storageTocEntry,
} from "./StorageEntry.ts"

/** The first entry of a tar: header and raw header bytes. */
const firstEntry = (tar: Uint8Array): { header: TarHeader; raw: Uint8Array } => {
  const p = new TarParser()
  p.push(tar)
  p.end()
  for (let ev = p.next(); ev !== undefined; ev = p.next()) {
    if (ev._tag === "Entry") return { header: ev.header, raw: ev.raw.slice() }
    if (ev._tag === "Error") throw new Error(ev.error.message)
  }
  throw new Error("no entry")
}

/** Sets a header field and fixes the checksum (the block is at `at` in `tar`). */
const patch = (tar: Uint8Array, at: number, field: number, bytes: ArrayLike<number>) => {
  const b = tar.subarray(at, at + 512)
  b.set(bytes, field)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const x of b) sum += x
  b.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148)
}

describe("Go times", () => {
  it("formats as time.Time.MarshalJSON in UTC (trailing zeros of the fraction trimmed)", () => {
    expect(formatGoTime({ sec: 1704164645, nsec: 0 })).toBe("2024-01-02T03:04:05Z")
    expect(formatGoTime({ sec: 1704164645, nsec: 600_000_000 })).toBe("2024-01-02T03:04:05.6Z")
    expect(formatGoTime({ sec: 1704164645, nsec: 1 })).toBe("2024-01-02T03:04:05.000000001Z")
    expect(formatGoTime({ sec: -2, nsec: 500_000_000 })).toBe("1969-12-31T23:59:58.5Z")
    expect(formatGoTime({ sec: 0, nsec: 0 })).toBe("1970-01-01T00:00:00Z")
    expect(formatGoTime({ sec: -62167219200, nsec: 0 })).toBe("0000-01-01T00:00:00Z")
    expect(formatGoTime({ sec: 253402300799, nsec: 0 })).toBe("9999-12-31T23:59:59Z")
    // Go refuses to encode years outside 0..9999
    expect(formatGoTime({ sec: 253402300800, nsec: 0 })).toBeUndefined()
    expect(formatGoTime({ sec: -62167219201, nsec: 0 })).toBeUndefined()
  })

  it("parses RFC 3339 exactly (offsets, nanoseconds) and rejects what time.Parse rejects", () => {
    expect(parseGoTime("2024-01-02T04:04:05.25+01:00")).toEqual({ sec: 1704164645, nsec: 250_000_000 })
    expect(parseGoTime("2024-01-02T03:04:05.123456789Z")).toEqual({ sec: 1704164645, nsec: 123456789 })
    for (const bad of [
      "2024-01-02 03:04:05Z",
      "2024-13-02T03:04:05Z",
      "2023-02-29T00:00:00Z",
      "2024-01-02T03:04:05",
      "x",
    ])
      expect(parseGoTime(bad)).toBeUndefined()
    expect(isUnsetTime(parseGoTime("0001-01-01T00:00:00Z"))).toBe(true)
    expect(isUnsetTime(parseGoTime("1970-01-01T00:00:00Z"))).toBe(true)
    expect(isUnsetTime(parseGoTime("1970-01-01T00:00:00.5Z"))).toBe(false)
  })

  it("property: parse(format(t)) is t", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -62167219200, max: 253402300799 }),
        fc.integer({ min: 0, max: 999_999_999 }),
        (sec, nsec) => {
          expect(parseGoTime(formatGoTime({ sec, nsec })!)).toEqual({ sec, nsec })
        },
      ),
    )
  })

  it("reads PAX times as Go's parsePAXTime (fraction truncated to ns, negative times)", () => {
    expect(parsePaxTime("1704164645")).toEqual({ sec: 1704164645, nsec: 0 })
    expect(parsePaxTime("1704164645.123456789123")).toEqual({ sec: 1704164645, nsec: 123456789 })
    expect(parsePaxTime("-1.5")).toEqual({ sec: -2, nsec: 500_000_000 })
    expect(parsePaxTime("+5")).toEqual({ sec: 5, nsec: 0 })
    expect(parsePaxTime("7.")).toEqual({ sec: 7, nsec: 0 })
    for (const bad of [".5", "1e5", "1.5.5", "", " 1"]) expect(parsePaxTime(bad)).toBeUndefined()
  })
})

describe("containers/storage TOC entries", () => {
  it("copies the header: raw name, mode, ids, devices, xattrs, times with fractions; no owner names", () => {
    const tar = writeTar(
      [
        {
          entry: {
            name: "./dir/dev",
            typeflag: "3",
            mode: 0o620,
            uid: 7,
            gid: 8,
            devmajor: 4,
            devminor: 5,
            mtime: 1704164645.25,
            uname: "u",
            gname: "g",
            xattrs: { "user.a": new Uint8Array([0xff, 0]) },
          },
        },
      ],
      { format: "pax" },
    )
    const { header, raw } = firstEntry(tar)
    expect(storageTocEntry(header, raw)).toEqual({
      type: "char",
      name: "./dir/dev",
      mode: 0o620,
      uid: 7,
      gid: 8,
      modtime: "2024-01-02T03:04:05.25Z",
      devMajor: 4,
      devMinor: 5,
      xattrs: { "user.a": "/wA=" },
    })
  })

  it("keeps an mtime of 0 (Go's time.Unix(0, 0) is not zero) and omits absent atime/ctime", () => {
    const { header, raw } = firstEntry(
      writeTar([{ entry: { name: "f", typeflag: "0", mtime: 0 }, data: new Uint8Array(1) }]),
    )
    const e = storageTocEntry(header, raw)
    expect(e).toMatchObject({ type: "reg", name: "f", size: 1, modtime: "1970-01-01T00:00:00Z" })
    expect(e).not.toHaveProperty("accesstime")
  })

  it("takes atime and ctime from GNU headers (when set) and refuses unsupported types", () => {
    const tar = writeTar([{ entry: { name: "g", typeflag: "0", mtime: 100 } }], { format: "gnu" })
    patch(tar, 0, 345, new TextEncoder().encode("00000000144\0")) // atime 100
    patch(tar, 0, 357, new TextEncoder().encode("00000000310\0")) // ctime 200
    const { header, raw } = firstEntry(tar)
    expect(storageTocEntry(header, raw)).toMatchObject({
      accesstime: "1970-01-01T00:01:40Z",
      changetime: "1970-01-01T00:03:20Z",
    })
    expect(storageTocEntry({ ...header, typeflag: "7" }, raw)).toMatch(/unsupported/)
  })

  it("recovers raw name bytes that are not UTF-8 (ustar prefix, GNU long name)", () => {
    // 60 + 1 + 50 bytes: too long for the name field, so the writer uses the ustar prefix
    const ustar = writeTar(
      [{ entry: { name: `${"p".repeat(60)}/${"x".repeat(50)}`, typeflag: "0", mtime: 1 } }],
      {
        format: "ustar",
      },
    )
    patch(ustar, 0, 0, [0xff, 0xfe]) // the name field starts "xx": make it invalid UTF-8
    const a = firstEntry(ustar)
    expect(a.header.name).toContain("\ufffd")
    expect(Buffer.from(rawEntryName(a.header, a.raw)).toString("latin1")).toBe(
      `${"p".repeat(60)}/\u00ff\u00fe${"x".repeat(48)}`,
    )

    const long = `${"d".repeat(120)}/x`
    const gnu = writeTar([{ entry: { name: long, typeflag: "0", mtime: 1 } }], { format: "gnu" })
    // the 'L' record's payload starts at 512
    gnu.set([0xc3], 512 + 3)
    const b = firstEntry(gnu)
    const rawName = rawEntryName(b.header, b.raw)
    expect(rawName.length).toBe(long.length)
    expect(rawName[3]).toBe(0xc3)
    expect(Buffer.from(rawName).toString("latin1")).toBe(`ddd\u00c3${"d".repeat(116)}/x`)

    const plain = firstEntry(writeTar([{ entry: { name: "ok/é", typeflag: "0" } }], { format: "pax" }))
    expect(new TextDecoder().decode(rawEntryName(plain.header, plain.raw))).toBe("ok/é")
  })

  it("cleans paths as Go's path.Clean", () => {
    const cases: Array<[string, string]> = [
      ["", "."],
      [".", "."],
      ["./", "."],
      ["a/", "a"],
      ["./a//b/", "a/b"],
      ["a/../..", ".."],
      ["../../x", "../../x"],
      ["/../a", "/a"],
      ["/", "/"],
      ["//a/./b/../c", "/a/c"],
    ]
    for (const [p, want] of cases) expect(goCleanPath(p)).toBe(want)
  })
})
