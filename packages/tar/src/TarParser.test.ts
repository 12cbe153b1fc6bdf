import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { TarHeader } from "./Header.ts"
import { formatPaxRecord } from "./internal/Pax.ts"
import type { TarError } from "./TarError.ts"
import { type TarEvent, TarParser, type TarParserOptions } from "./TarParser.ts"
import { END_OF_ARCHIVE, encodeHeader, paddingFor, type TarEntryInput, writeTar } from "./TarWriter.ts"

// ---------------------------------------------------------------------------------------------
// helpers

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  n = 0
  for (const p of parts) {
    out.set(p, n)
    n += p.length
  }
  return out
}

/** Feeds `input` in pieces whose sizes come from `sizes` (cycled), draining after every push. */
const run = (
  input: Uint8Array,
  sizes: ReadonlyArray<number> = [input.length || 1],
  options?: TarParserOptions,
) => {
  const p = new TarParser(options)
  const events: Array<TarEvent> = []
  let off = 0
  let i = 0
  while (off < input.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!)
    p.push(input.subarray(off, off + n))
    off += n
    for (let ev = p.next(); ev !== undefined; ev = p.next()) events.push(ev)
  }
  p.end()
  for (let ev = p.next(); ev !== undefined; ev = p.next()) events.push(ev)
  assert.strictEqual(p.next(), undefined)
  return events
}

/** Events with consecutive Data / Padding / Trailer pieces merged, so chunkings compare equal. */
const normalize = (events: ReadonlyArray<TarEvent>) => {
  const out: Array<{ tag: string; bytes?: Array<number>; rest?: unknown }> = []
  for (const ev of events) {
    if (ev._tag === "Data" || ev._tag === "Padding" || ev._tag === "Trailer") {
      const last = out[out.length - 1]
      if (last !== undefined && last.tag === ev._tag) last.bytes!.push(...ev.bytes)
      else
        out.push({ tag: ev._tag, bytes: [...ev.bytes], rest: ev._tag === "Trailer" ? ev.offset : undefined })
    } else if (ev._tag === "Entry") {
      out.push({
        tag: "Entry",
        bytes: [...ev.raw],
        rest: {
          ...ev.header,
          xattrs: [...ev.header.xattrs],
          pax: [...ev.header.pax],
          o: ev.offset,
          d: ev.dataOffset,
        },
      })
    } else if (ev._tag === "Error") {
      out.push({ tag: "Error", rest: { ...ev.error } })
    } else out.push({ tag: ev._tag, rest: { ...ev } })
  }
  return out
}

const entries = (events: ReadonlyArray<TarEvent>) => {
  const out: Array<{ header: TarHeader; data: Uint8Array; raw: Uint8Array; offset: number }> = []
  for (const ev of events) {
    if (ev._tag === "Entry")
      out.push({ header: ev.header, data: new Uint8Array(0), raw: ev.raw, offset: ev.offset })
    else if (ev._tag === "Data") {
      const last = out[out.length - 1]!
      last.data = concat(last.data, ev.bytes)
    }
  }
  return out
}

const errorOf = (events: ReadonlyArray<TarEvent>): TarError => {
  const last = events[events.length - 1]
  if (last === undefined || last._tag !== "Error") assert.fail(`expected an Error event, got ${last?._tag}`)
  return last.error
}

const endOf = (events: ReadonlyArray<TarEvent>) => {
  const last = events[events.length - 1]
  if (last === undefined || last._tag !== "End") assert.fail(`expected End, got ${JSON.stringify(last)}`)
  return last
}

/** Every byte the parser accounted for, in order: raw headers, data, padding, trailer. */
const accounted = (events: ReadonlyArray<TarEvent>): Uint8Array =>
  concat(
    ...events.flatMap((ev) =>
      ev._tag === "Entry"
        ? [ev.raw]
        : ev._tag === "Data" || ev._tag === "Padding" || ev._tag === "Trailer"
          ? [ev.bytes]
          : [],
    ),
  )

const put = (b: Uint8Array, off: number, v: string | Uint8Array | ReadonlyArray<number>): Uint8Array => {
  b.set(typeof v === "string" ? enc(v) : v, off)
  return b
}

/** Recomputes the (unsigned) checksum of the header block starting at `at`. */
const fixChecksum = (b: Uint8Array, at = 0): Uint8Array => {
  for (let i = 0; i < 8; i++) b[at + 148 + i] = 0x20
  let sum = 0
  for (let i = 0; i < 512; i++) sum += b[at + i]!
  put(b, at + 148, `${sum.toString(8).padStart(6, "0")}\0 `)
  return b
}

/** A header block from the writer, patched by `patch`, with its checksum fixed. */
const block = (entry: TarEntryInput, patch?: (b: Uint8Array) => void): Uint8Array => {
  const b = encodeHeader(entry, "ustar").slice()
  assert.strictEqual(b.length, 512)
  patch?.(b)
  return fixChecksum(b)
}

/** A PAX 'x' header with exactly these records. */
const paxHeader = (records: ReadonlyArray<readonly [string, string | Uint8Array]>): Uint8Array => {
  const payload = concat(...records.map(([k, v]) => formatPaxRecord(k, typeof v === "string" ? enc(v) : v)))
  return concat(
    block({ name: "PaxHeaders.0/x", typeflag: "x", size: payload.length }),
    payload,
    paddingFor(payload.length),
  )
}

const file = (name: string, content: string | Uint8Array, extra: Partial<TarEntryInput> = {}) => {
  const data = typeof content === "string" ? enc(content) : content
  return concat(
    block({ name, typeflag: "0", size: data.length, mode: 0o644, ...extra }),
    data,
    paddingFor(data.length),
  )
}

const text = (b: Uint8Array) => new TextDecoder().decode(b)

// ---------------------------------------------------------------------------------------------

describe("TarParser formats", () => {
  it("ustar: files, dirs, links, data, padding, end blocks", () => {
    const input = concat(
      block({ name: "etc/", typeflag: "5", mode: 0o755, mtime: 1700000000, uname: "root", gname: "wheel" }),
      file("etc/hostname", "box\n", { uid: 1000, gid: 1001, mtime: 1700000001, uname: "app", gname: "app" }),
      block({ name: "etc/link", typeflag: "2", linkname: "hostname" }),
      block({ name: "etc/hard", typeflag: "1", linkname: "etc/hostname" }),
      END_OF_ARCHIVE,
    )
    const events = run(input)
    const es = entries(events)
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.typeflag, e.header.size, e.header.linkname, e.header.format]),
      [
        ["etc/", "5", 0, "", "ustar"],
        ["etc/hostname", "0", 4, "", "ustar"],
        ["etc/link", "2", 0, "hostname", "ustar"],
        ["etc/hard", "1", 0, "etc/hostname", "ustar"],
      ],
    )
    const h = es[1]!.header
    assert.deepStrictEqual(
      [h.mode, h.uid, h.gid, h.mtime, h.uname, h.gname],
      [0o644, 1000, 1001, 1700000001, "app", "app"],
    )
    assert.strictEqual(text(es[1]!.data), "box\n")
    assert.strictEqual(es[0]!.header.uname, "root")
    assert.strictEqual(es[0]!.header.gname, "wheel")
    assert.strictEqual(es[1]!.offset, 512)
    const padding = events.filter((e) => e._tag === "Padding")
    assert.deepStrictEqual(
      padding.map((e) => (e._tag === "Padding" ? e.bytes.length : 0)),
      [508],
    )
    const trailer = events.filter((e) => e._tag === "Trailer")
    assert.deepStrictEqual(
      trailer.map((e) => (e._tag === "Trailer" ? [e.offset, e.bytes.length] : [])),
      [
        [2560, 512],
        [3072, 512],
      ],
    )
    assert.deepStrictEqual(endOf(events), { _tag: "End", offset: 3584, sawEndBlocks: true })
    assert.deepStrictEqual(accounted(events), input)
  })

  it("Entry offsets: offset is raw[0], dataOffset = offset + raw.length", () => {
    const input = concat(
      file("a", "x".repeat(600)),
      paxHeader([["path", "b".repeat(120)]]),
      block({ name: "b", typeflag: "0", size: 3 }),
      enc("abc"),
      paddingFor(3),
    )
    const es = events2entries(run(input))
    assert.deepStrictEqual(
      es.map((e) => [e.offset, e.dataOffset, e.raw.length]),
      [
        [0, 512, 512],
        [1536, 3072, 1536],
      ],
    )
    assert.deepStrictEqual(input.subarray(3072, 3075), enc("abc"))
  })

  it("v7: no magic, owner names and device fields ignored, no prefix", () => {
    const b = block(
      { name: "old/file", typeflag: "0", size: 2, mode: 0o600, uid: 7, gid: 8, mtime: 99 },
      (b) => {
        b.fill(0, 257, 265) // magic + version
        put(b, 265, "ignored-user")
        put(b, 329, "junk!!!") // devmajor would not parse as octal
        put(b, 345, "prefix")
      },
    )
    const es = entries(run(concat(b, enc("hi"), paddingFor(2))))
    const h = es[0]!.header
    assert.deepStrictEqual(
      [h.name, h.format, h.uname, h.devmajor, h.mode, h.uid, h.gid, h.mtime, h.size],
      ["old/file", "v7", "", 0, 0o600, 7, 8, 99, 2],
    )
    assert.strictEqual(text(es[0]!.data), "hi")
  })

  it("ustar prefix field is joined with '/'", () => {
    const long = `${"d".repeat(120)}/${"f".repeat(90)}`
    const raw = encodeHeader({ name: long, typeflag: "0" })
    assert.strictEqual(raw.length, 512, "splittable name stays ustar")
    assert.strictEqual(text(raw.subarray(345, 345 + 120)), "d".repeat(120))
    const h = entries(run(raw))[0]!.header
    assert.strictEqual(h.name, long)
    assert.strictEqual(h.format, "ustar")
    // a hand-made prefix on a name with no slash of its own
    const b = block({ name: "file", typeflag: "0" }, (b) => put(b, 345, "some/dir"))
    assert.strictEqual(entries(run(b))[0]!.header.name, "some/dir/file")
  })

  it("STAR headers use the 131-byte prefix", () => {
    const b = block({ name: "f", typeflag: "0" }, (b) => {
      put(b, 345, "p".repeat(131))
      put(b, 476, "00000000000") // atime, would otherwise extend the prefix
      put(b, 508, "tar\0")
    })
    assert.strictEqual(entries(run(b))[0]!.header.name, `${"p".repeat(131)}/f`)
  })

  it("typeflag NUL becomes '0', or '5' when the name ends with '/'", () => {
    const input = concat(
      block({ name: "dir/", typeflag: "\0" }, (b) => put(b, 124, "00000000001\0")),
      block({ name: "file", typeflag: "\0", size: 1 }),
      enc("z"),
      paddingFor(1),
    )
    const events = run(input)
    const es = entries(events)
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.typeflag, e.header.size]),
      [
        ["dir/", "5", 0],
        ["file", "0", 1],
      ],
    )
    assert.deepStrictEqual(accounted(events), input)
  })

  it("header-only types have no payload whatever their size field says (as Go)", () => {
    const input = concat(
      block({ name: "l", typeflag: "2", linkname: "t" }, (b) => put(b, 124, "00000001000\0")),
      file("after", "ok"),
    )
    const es = entries(run(input))
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.size]),
      [
        ["l", 0],
        ["after", 2],
      ],
    )
  })

  it("devices and FIFOs", () => {
    const input = concat(
      block({ name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 }),
      block({ name: "dev/sda", typeflag: "4", devmajor: 8, devminor: 0 }),
      block({ name: "run/fifo", typeflag: "6" }),
    )
    const es = entries(run(input))
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.typeflag, e.header.devmajor, e.header.devminor]),
      [
        ["dev/null", "3", 1, 3],
        ["dev/sda", "4", 8, 0],
        ["run/fifo", "6", 0, 0],
      ],
    )
  })

  it("base-256 numeric fields (GNU binary), including negative mtime", () => {
    const b = block({ name: "big", typeflag: "0" }, (b) => {
      put(b, 124, [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x13, 0x88]) // size 5000
      put(b, 108, [0x80, 0, 0, 0x01, 0, 0, 0, 0]) // uid 2^32
      put(b, 116, [0x80, 0, 0, 0, 0, 0, 0x12, 0x34]) // gid 0x1234
      put(b, 136, new Array(12).fill(0xff)) // mtime -1
      put(b, 329, [0x80, 0, 0, 0, 0, 0x01, 0, 0]) // devmajor 65536
    })
    const data = new Uint8Array(5000).fill(7)
    const events = run(concat(b, data, paddingFor(5000), END_OF_ARCHIVE))
    const h = entries(events)[0]!.header
    assert.deepStrictEqual([h.size, h.uid, h.gid, h.mtime, h.devmajor], [5000, 2 ** 32, 0x1234, -1, 65536])
    assert.strictEqual(endOf(events).sawEndBlocks, true)
  })

  it("octal fields tolerate spaces and NULs around the digits", () => {
    const b = block({ name: "f", typeflag: "0" }, (b) => {
      put(b, 100, " 755 \0\0\0")
      put(b, 108, "\0\0  12\0 ")
      put(b, 124, "           ")
    })
    const h = entries(run(b))[0]!.header
    assert.deepStrictEqual([h.mode, h.uid, h.size], [0o755, 0o12, 0])
  })

  it("PAX: long path and linkpath, owner names, uid/gid, fractional mtime", () => {
    const path = `${"p".repeat(200)}/${"é".repeat(80)}`
    const link = `${"l".repeat(150)}/target`
    const input = concat(
      paxHeader([
        ["path", path],
        ["linkpath", link],
        ["uname", "ünïcode"],
        ["gname", "g".repeat(40)],
        ["uid", "3000000"],
        ["gid", "+42"],
        ["mtime", "1700000000.123456789"],
        ["atime", "1700000001.5"],
        ["comment", "kept in pax"],
      ]),
      block({ name: "short", typeflag: "2", linkname: "short-link", uid: 1, gid: 2, mtime: 5 }),
    )
    const h = entries(run(input))[0]!.header
    assert.deepStrictEqual(
      [h.name, h.linkname, h.uname, h.gname, h.uid, h.gid, h.mtime, h.format],
      [path, link, "ünïcode", "g".repeat(40), 3000000, 42, Number("1700000000.123456789"), "pax"],
    )
    assert.strictEqual(text(h.pax.get("comment")!), "kept in pax")
    assert.strictEqual(h.pax.size, 9)
    assert.strictEqual(h.xattrs.size, 0)
  })

  it("PAX: binary xattr with hdrcharset=BINARY, empty xattr value, text xattr", () => {
    const cap = new Uint8Array([1, 0, 0, 2, 0xc0, 0xff, 0, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    const input = concat(
      paxHeader([
        ["hdrcharset", "BINARY"],
        ["SCHILY.xattr.security.capability", cap],
        ["SCHILY.xattr.user.empty", ""],
        ["SCHILY.xattr.user.mime_type", "text/plain"],
        ["LIBARCHIVE.xattr.user.other", "ignored"],
      ]),
      file("bin/tool", "#!"),
    )
    const es = entries(run(input))
    const h = es[0]!.header
    assert.deepStrictEqual([...h.xattrs.keys()].sort(), [
      "security.capability",
      "user.empty",
      "user.mime_type",
    ])
    assert.deepStrictEqual(h.xattrs.get("security.capability"), cap)
    assert.strictEqual(h.xattrs.get("user.empty")!.length, 0)
    assert.strictEqual(text(h.xattrs.get("user.mime_type")!), "text/plain")
    assert.strictEqual(text(h.pax.get("hdrcharset")!), "BINARY")
    assert.strictEqual(text(es[0]!.data), "#!")
  })

  it("PAX: size overrides the header field; empty values keep header fields", () => {
    const input = concat(
      paxHeader([
        ["size", "700"],
        ["path", ""],
        ["uid", ""],
      ]),
      block({ name: "kept-name", typeflag: "0", size: 3, uid: 9 }),
      new Uint8Array(700).fill(1),
      paddingFor(700),
      file("next", "n"),
    )
    const events = run(input)
    const es = entries(events)
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.size, e.data.length, e.header.uid]),
      [
        ["kept-name", 700, 700, 9],
        ["next", 1, 1, 0],
      ],
    )
    assert.deepStrictEqual(accounted(events), input)
  })

  it("a second PAX header replaces the first; GNU long name beats PAX path", () => {
    const longName = `gnu/${"n".repeat(150)}`
    const input = concat(
      paxHeader([["SCHILY.xattr.user.a", "1"]]),
      paxHeader([
        ["path", "from-pax"],
        ["SCHILY.xattr.user.b", "2"],
      ]),
      encodeHeader({ name: longName, typeflag: "0" }, "gnu").subarray(0, 1024),
      block({ name: "trunc", typeflag: "0" }),
    )
    const h = entries(run(input))[0]!.header
    assert.strictEqual(h.name, longName)
    assert.deepStrictEqual([...h.xattrs.keys()], ["user.b"])
    assert.strictEqual(h.format, "pax")
  })

  it("GNU long names and long links ('L'/'K' ././@LongLink)", () => {
    const name = `usr/share/${"x".repeat(180)}`
    const link = `../${"t".repeat(170)}`
    const raw = encodeHeader({ name, typeflag: "2", linkname: link }, "gnu")
    assert.strictEqual(raw.length, 512 * 5)
    assert.strictEqual(text(raw.subarray(0, 13)), "././@LongLink")
    const events = run(concat(raw, file("plain", "p"), END_OF_ARCHIVE))
    const es = entries(events)
    assert.deepStrictEqual(
      es.map((e) => [e.header.name, e.header.linkname, e.header.typeflag, e.header.format]),
      [
        [name, link, "2", "gnu"],
        ["plain", "", "0", "ustar"],
      ],
    )
    assert.deepStrictEqual(es[0]!.raw, raw)
    assert.strictEqual(es[0]!.header.pax.size, 0)
  })

  it("non-ASCII and invalid UTF-8 names decode with U+FFFD", () => {
    const b = block({ name: "x", typeflag: "0" }, (b) => put(b, 0, [0x61, 0xff, 0x62, 0xc3, 0xa9, 0]))
    assert.strictEqual(entries(run(b))[0]!.header.name, "a\ufffdbé")
  })

  it("a name filling all 100 bytes has no NUL terminator", () => {
    const name = "n".repeat(100)
    assert.strictEqual(entries(run(block({ name, typeflag: "0" })))[0]!.header.name, name)
  })

  it("Data events are views into the pushed chunk, not copies", () => {
    const input = concat(file("big", new Uint8Array(100_000).fill(3)), END_OF_ARCHIVE)
    const data = run(input).filter((e) => e._tag === "Data")
    assert.strictEqual(data.length, 1)
    const d = data[0]!
    if (d._tag !== "Data") return assert.fail()
    assert.strictEqual(d.bytes.buffer, input.buffer)
    assert.strictEqual(d.bytes.byteOffset, 512)
  })
})

const events2entries = (events: ReadonlyArray<TarEvent>) =>
  events.flatMap((e) =>
    e._tag === "Entry" ? [{ offset: e.offset, dataOffset: e.dataOffset, raw: e.raw }] : [],
  )

describe("TarParser end of archive", () => {
  it("EOF at a header boundary without end blocks is a clean End", () => {
    const input = file("a", "abc")
    const events = run(input)
    assert.deepStrictEqual(endOf(events), { _tag: "End", offset: 512 * 2, sawEndBlocks: false })
    assert.strictEqual(events.filter((e) => e._tag === "Trailer").length, 0)
  })

  it("an empty stream is a clean End", () => {
    assert.deepStrictEqual(run(new Uint8Array(0)), [{ _tag: "End", offset: 0, sawEndBlocks: false }])
  })

  it("one zero block then EOF is end-of-archive", () => {
    const input = concat(file("a", "abc"), new Uint8Array(512))
    const events = run(input)
    assert.deepStrictEqual(endOf(events), { _tag: "End", offset: 1536, sawEndBlocks: true })
    assert.deepStrictEqual(accounted(events), input)
  })

  it("everything after the end blocks is Trailer, byte for byte", () => {
    const garbage = enc("this is not tar at all, just trailing garbage")
    const input = concat(file("a", "abc"), END_OF_ARCHIVE, new Uint8Array(1000), garbage)
    for (const sizes of [[input.length], [1], [7], [511], [512], [100, 3000]]) {
      const events = run(input, sizes)
      const trailer = concat(...events.flatMap((e) => (e._tag === "Trailer" ? [e.bytes] : [])))
      assert.deepStrictEqual(trailer, input.subarray(1024))
      const first = events.find((e) => e._tag === "Trailer")
      assert.strictEqual(first?._tag === "Trailer" ? first.offset : -1, 1024)
      assert.deepStrictEqual(endOf(events), { _tag: "End", offset: input.length, sawEndBlocks: true })
      assert.deepStrictEqual(accounted(events), input)
    }
  })

  it("Trailer offsets track the stream position of each piece", () => {
    const input = concat(END_OF_ARCHIVE, new Uint8Array(100))
    const events = run(input, [300])
    let pos = 0
    for (const e of events) {
      if (e._tag !== "Trailer") continue
      assert.strictEqual(e.offset, pos)
      pos += e.bytes.length
    }
    assert.strictEqual(pos, input.length)
  })

  it("a lone zero block followed by a header is BadHeader", () => {
    const input = concat(new Uint8Array(512), file("a", "x"))
    const err = errorOf(run(input))
    assert.strictEqual(err.reason, "BadHeader")
    assert.strictEqual(err.offset, 512)
  })

  it("next() returns undefined while input is missing and after End", () => {
    const p = new TarParser()
    const input = file("a", "abc")
    p.push(input.subarray(0, 100))
    assert.strictEqual(p.next(), undefined)
    p.push(input.subarray(100))
    assert.strictEqual(p.next()?._tag, "Entry")
    assert.strictEqual(p.next()?._tag, "Data")
    assert.strictEqual(p.next()?._tag, "Padding")
    assert.strictEqual(p.next(), undefined)
    p.end()
    assert.strictEqual(p.next()?._tag, "End")
    assert.strictEqual(p.next(), undefined)
    p.push(file("b", "late"))
    assert.strictEqual(p.next(), undefined)
  })
})

describe("TarParser rejects", () => {
  const rejectType = (typeflag: string) => {
    const input = concat(file("ok", "1"), block({ name: "bad", typeflag, size: 0 }))
    const err = errorOf(run(input))
    assert.strictEqual(err.reason, "Unsupported", typeflag)
    assert.strictEqual(err.offset, 1024)
    return err
  }

  it("global PAX headers, GNU sparse, contiguous files and unknown typeflags", () => {
    for (const t of ["g", "S", "7", "D", "M", "V", "N", "A", "X", "8", "Z"]) rejectType(t)
    assert.strictEqual(rejectType("S").entry, "bad")
  })

  it("PAX GNU.sparse.* records (ERRATA 1)", () => {
    for (const key of [
      "GNU.sparse.major",
      "GNU.sparse.size",
      "GNU.sparse.map",
      "GNU.sparse.offset",
      "GNU.sparse.name",
    ]) {
      const input = concat(file("a", "a"), paxHeader([[key, "1"]]), block({ name: "sparse", typeflag: "0" }))
      const err = errorOf(run(input))
      assert.strictEqual(err.reason, "Unsupported", key)
      assert.strictEqual(err.offset, 1024)
    }
  })

  it("bad checksums; both unsigned and signed sums are accepted", () => {
    const good = block({ name: "f", typeflag: "0" })
    const bad = good.slice()
    bad[10] = 0x41
    const err = errorOf(run(concat(file("first", "1"), bad)))
    assert.strictEqual(err.reason, "BadChecksum")
    assert.strictEqual(err.offset, 1024)
    const notOctal = put(good.slice(), 148, "zzzzzz\0 ")
    assert.strictEqual(errorOf(run(notOctal)).reason, "BadChecksum")
    // signed checksum (bytes >= 0x80 counted as negative), as old tars wrote
    const hi = block({ name: "f", typeflag: "0" }, (b) => put(b, 0, [0xe9, 0xe9, 0xe9]))
    for (let i = 148; i < 156; i++) hi[i] = 0x20
    let signed = 0
    for (let i = 0; i < 512; i++) signed += hi[i]! < 128 ? hi[i]! : hi[i]! - 256
    put(hi, 148, `${signed.toString(8).padStart(6, "0")}\0 `)
    assert.strictEqual(entries(run(hi))[0]!.header.name, "\ufffd\ufffd\ufffd")
  })

  it("malformed numeric fields", () => {
    const badOctal = block({ name: "f", typeflag: "0" }, (b) => put(b, 124, "00000009000\0"))
    const e1 = errorOf(run(badOctal))
    assert.deepStrictEqual([e1.reason, e1.entry], ["BadHeader", "f"])
    const negative = block({ name: "f", typeflag: "0" }, (b) => put(b, 124, new Array(12).fill(0xff)))
    assert.strictEqual(errorOf(run(negative)).reason, "BadHeader")
    const huge = block({ name: "f", typeflag: "0" }, (b) =>
      put(b, 124, [0x80, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
    )
    assert.strictEqual(errorOf(run(huge)).reason, "TooLarge") // 2^64
    const hugeOctal = block({ name: "f", typeflag: "0" }, (b) => put(b, 124, "77777777777\0"))
    assert.strictEqual(entries(run(concat(hugeOctal))).length, 1) // 8 GiB fits (truncated later)
    const hugeUid = block({ name: "f", typeflag: "0" }, (b) =>
      put(b, 108, [0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    )
    assert.strictEqual(errorOf(run(hugeUid)).reason, "TooLarge")
  })

  it("malformed PAX records", () => {
    const raw = (payload: string) => {
      const p = enc(payload)
      return concat(
        block({ name: "x", typeflag: "x", size: p.length }),
        p,
        paddingFor(p.length),
        block({ name: "f", typeflag: "0" }),
      )
    }
    for (const bad of [
      "9 path=a", // no newline
      "8 path=a\n", // length too long
      "5 pa\n", // no '='
      "abc path=a\n",
      "3 a\n",
      "10 path=a\n ", // junk after the last record
      "7 =abc\n",
      "11 path=a\0b\n",
      "0 path=a\n",
    ]) {
      const err = errorOf(run(raw(bad)))
      assert.strictEqual(err.reason, "BadPax", JSON.stringify(bad))
      assert.strictEqual(err.offset, 0)
    }
    for (const [k, v] of [
      ["uid", "abc"],
      ["size", "1.5"],
      ["mtime", "x"],
      ["mtime", ".5"],
      ["atime", "1.2.3"],
    ] as const) {
      assert.strictEqual(
        errorOf(run(concat(paxHeader([[k, v]]), block({ name: "f", typeflag: "0" })))).reason,
        "BadPax",
        k,
      )
    }
    const huge = concat(paxHeader([["size", "99999999999999999999"]]), block({ name: "f", typeflag: "0" }))
    assert.strictEqual(errorOf(run(huge)).reason, "TooLarge")
    const neg = concat(paxHeader([["size", "-5"]]), block({ name: "f", typeflag: "0" }))
    assert.strictEqual(errorOf(run(neg)).reason, "BadHeader")
  })

  it("extension records above maxMetaBytes are TooLarge", () => {
    const input = concat(paxHeader([["path", "p".repeat(3000)]]), block({ name: "f", typeflag: "0" }))
    assert.strictEqual(entries(run(input)).length, 1)
    const err = errorOf(run(input, undefined, { maxMetaBytes: 2048 }))
    assert.deepStrictEqual([err.reason, err.offset], ["TooLarge", 0])
    // the limit is on the sum of an entry's records
    const two = concat(
      paxHeader([["comment", "c".repeat(1500)]]),
      paxHeader([["comment", "c".repeat(1500)]]),
      block({ name: "f", typeflag: "0" }),
    )
    assert.strictEqual(errorOf(run(two, undefined, { maxMetaBytes: 2048 })).reason, "TooLarge")
    const gnu = encodeHeader({ name: "n".repeat(5000), typeflag: "0" }, "gnu")
    assert.strictEqual(errorOf(run(gnu, undefined, { maxMetaBytes: 4096 })).reason, "TooLarge")
    assert.strictEqual(entries(run(gnu)).length, 1)
  })

  it("extension headers followed by end-of-archive", () => {
    const err = errorOf(run(concat(paxHeader([["path", "x"]]), END_OF_ARCHIVE)))
    assert.strictEqual(err.reason, "BadHeader")
  })
})

describe("TarParser truncation", () => {
  const archive = concat(
    file("first", "one"),
    paxHeader([
      ["path", "p".repeat(700)],
      ["SCHILY.xattr.user.k", "v"],
    ]),
    block({ name: "second", typeflag: "0", size: 1000 }),
    new Uint8Array(1000).fill(9),
    paddingFor(1000),
    END_OF_ARCHIVE,
  )
  // layout: 0 first hdr | 512 data+pad | 1024 x hdr | 1536..2560 records | 2560 hdr | 3072 data (1000) | 4072 pad | 4096 end

  const cases: ReadonlyArray<readonly [string, number, number, string]> = [
    ["inside the first header", 100, 0, ""],
    ["inside the first payload", 514, 0, "first"],
    ["inside the first padding", 600, 0, "first"],
    ["right after the PAX header block", 1536, 1024, ""],
    ["inside the PAX records", 2000, 1024, ""],
    ["inside the padding of the PAX records", 2500, 1024, ""],
    ["after the PAX records, before the entry header", 2560, 1024, ""],
    ["inside the entry header after PAX", 2600, 2560, ""],
    ["inside the payload", 3500, 1024, "p".repeat(700)],
    ["at the end of the payload", 4072, 1024, "p".repeat(700)],
    ["inside the padding", 4080, 1024, "p".repeat(700)],
    ["inside the second end block", 4096 + 600, 4608, ""],
  ]
  for (const [what, cut, offset, entry] of cases) {
    it(`ends ${what}`, () => {
      for (const sizes of [[cut], [1], [7], [512]]) {
        const events = run(archive.subarray(0, cut), sizes)
        const err = errorOf(events)
        assert.deepStrictEqual([err.reason, err.offset, err.entry], ["Truncated", offset, entry], what)
        assert.deepStrictEqual(accounted(events), archive.subarray(0, accounted(events).length))
      }
    })
  }

  it("is not truncated at block boundaries between entries", () => {
    for (const cut of [1024, 4096, 4608, 5120]) {
      const events = run(archive.subarray(0, cut))
      assert.strictEqual(endOf(events).offset, cut)
      assert.deepStrictEqual(accounted(events), archive.subarray(0, cut))
    }
  })
})

// ---------------------------------------------------------------------------------------------
// chunk boundaries and properties

const sampleArchives = (): Array<Uint8Array> => {
  const entriesIn: Array<{ entry: TarEntryInput; data?: Uint8Array }> = [
    { entry: { name: "./", typeflag: "5", mode: 0o755 } },
    { entry: { name: "./etc/hostname", typeflag: "0", mtime: 1700000000 }, data: enc("host\n") },
    { entry: { name: `./${"long/".repeat(40)}file`, typeflag: "0" }, data: new Uint8Array(1500).fill(5) },
    { entry: { name: "./bin/sh", typeflag: "2", linkname: `/${"t".repeat(140)}` } },
    { entry: { name: "./x", typeflag: "0", xattrs: { "user.a": new Uint8Array([0xff, 0]) }, mtime: 1.5 } },
    { entry: { name: "./exact", typeflag: "0" }, data: new Uint8Array(512).fill(1) },
    { entry: { name: "./dev/zero", typeflag: "3", devmajor: 1, devminor: 5 } },
  ]
  return [
    writeTar(entriesIn, { format: "ustar" }),
    writeTar(entriesIn, { format: "pax" }),
    writeTar(entriesIn, { format: "gnu" }),
    writeTar(entriesIn, { format: "gnu", endBlocks: false }),
    concat(writeTar(entriesIn), enc("garbage after the end")),
    writeTar(entriesIn).subarray(0, 3000), // truncated
    writeTar(entriesIn).subarray(0, 1700), // truncated inside PAX records
  ]
}

describe("TarParser chunk-boundary independence", () => {
  it("1, 7, 511, 512, 513 and random chunkings give identical events", () => {
    for (const input of sampleArchives()) {
      const reference = normalize(run(input))
      for (const sizes of [[1], [7], [511], [512], [513], [1, 1023, 2], [4096]]) {
        assert.deepStrictEqual(normalize(run(input, sizes)), reference, `chunks ${sizes}`)
      }
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 20 }), (sizes) => {
          assert.deepStrictEqual(normalize(run(input, sizes)), reference)
        }),
        { numRuns: 30 },
      )
    }
  })
})

describe("TarParser properties", () => {
  const chunkings = fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8 })

  it("never throws on arbitrary bytes and ends with End or Error; accounting is lossless", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), chunkings, (bytes, sizes) => {
        const events = run(bytes, sizes)
        const last = events[events.length - 1]!
        assert.oneOf(last._tag, ["End", "Error"])
        const acc = accounted(events)
        if (last._tag === "End") assert.deepStrictEqual(acc, bytes)
        else assert.deepStrictEqual(acc, bytes.subarray(0, acc.length))
      }),
      { numRuns: 300 },
    )
  })

  it("never throws on mutated archives (checksums repaired so headers get parsed)", () => {
    const bases = sampleArchives()
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bases.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.nat(),
        chunkings,
        (which, mutations, repair, cut, sizes) => {
          const input = bases[which]!.slice()
          for (const [at, v] of mutations) {
            const p = at % input.length
            input[p] = v
            const start = p - (p % 512)
            if (repair && start + 512 <= input.length) fixChecksum(input, start)
          }
          const truncated = cut % 3 === 0 ? input.subarray(0, cut % (input.length + 1)) : input
          const events = run(truncated, sizes)
          const last = events[events.length - 1]!
          assert.oneOf(last._tag, ["End", "Error"])
          const acc = accounted(events)
          if (last._tag === "End") assert.deepStrictEqual(acc, truncated)
          else assert.deepStrictEqual(acc, truncated.subarray(0, acc.length))
          assert.deepStrictEqual(normalize(run(truncated)), normalize(events))
        },
      ),
      { numRuns: 400 },
    )
  })

  it("raw headers + data + padding + trailer reproduce every valid archive", () => {
    for (const input of sampleArchives().slice(0, 5)) {
      const events = run(input, [333])
      endOf(events)
      assert.deepStrictEqual(accounted(events), input)
    }
  })
})
