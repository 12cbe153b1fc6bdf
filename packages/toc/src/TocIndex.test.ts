import { assert, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { D, STORAGE_TOC, WORKED_EXAMPLE } from "./testdata/samples.ts"
import { parseToc, type Toc, type TocEntry } from "./Toc.ts"
import type { TocErrorReason } from "./TocError.ts"
import {
  EMPTY_DIGEST,
  LANDMARK_DIGEST,
  LANDMARK_NO_PREFETCH,
  LANDMARK_PREFETCH,
  TOC_FILE_NAME,
  TocIndex,
  type TocNode,
} from "./TocIndex.ts"

const toc = (...entries: Array<TocEntry>): Toc => ({ version: 1, entries })
const build = (t: Toc, dataEnd = 1_000_000) => Effect.runSync(TocIndex.build(t, { dataEnd }))
const fails = (t: Toc, reason: TocErrorReason, dataEnd = 1_000_000) => {
  const e = Effect.runSync(Effect.flip(TocIndex.build(t, { dataEnd })))
  expect(e._tag).toBe("TocError")
  expect(e.reason, e.message).toBe(reason)
  return e
}
const dir = (name: string, extra: Partial<TocEntry> = {}): TocEntry => ({
  name,
  type: "dir",
  mode: 493,
  ...extra,
})
const reg = (name: string, size: number, offset: number, extra: Partial<TocEntry> = {}): TocEntry => ({
  name,
  type: "reg",
  size,
  offset,
  ...extra,
})
const chunk = (
  name: string,
  offset: number,
  chunkOffset: number,
  extra: Partial<TocEntry> = {},
): TocEntry => ({
  name,
  type: "chunk",
  offset,
  chunkOffset,
  ...extra,
})
const names = (ns: ReadonlyArray<TocNode> | undefined) => ns?.map((n) => n.name)
const spans = (n: TocNode | undefined) =>
  n?.chunks.map((c) => [c.chunkOffset, c.chunkSize, c.offset, c.innerOffset, c.compressedEnd])

describe("TocIndex on reference TOCs", () => {
  it.effect("the §2.8 worked example", () =>
    Effect.gen(function* () {
      const index = yield* TocIndex.build(yield* parseToc(new TextEncoder().encode(WORKED_EXAMPLE)), {
        dataEnd: 391,
      })
      assert.strictEqual(index.landmark, "no-prefetch")
      assert.isUndefined(index.prefetchEnd)
      assert.isTrue(index.root.implicit)
      assert.strictEqual(index.root.linkCount, 3)
      assert.deepStrictEqual(names(index.children("")), [".no.prefetch.landmark", "etc"])
      assert.deepStrictEqual(names(index.children("etc")), ["etc/hello.txt", "etc/link"])
      const hello = index.lookup("./etc/hello.txt")!
      // last chunk: no chunkSize in the TOC, normalised to size - chunkOffset; ranges end at the next member
      assert.deepStrictEqual(spans(hello), [
        [0, 4, 220, 0, 253],
        [4, 4, 253, 0, 286],
        [8, 2, 286, 0, 391],
      ])
      assert.deepStrictEqual(
        hello.chunks.map((c) => c.entryIndex),
        [2, 3, 4],
      )
      assert.strictEqual(
        hello.chunks[2]!.chunkDigest,
        "sha256:cd70bea023f752a0564abb6ed08d42c1440f2e33e29914e55e0be1595e24f45a",
      )
      assert.deepStrictEqual(spans(index.lookup(LANDMARK_NO_PREFETCH)), [[0, 1, 90, 0, 220]])
      assert.strictEqual(index.lookup(LANDMARK_NO_PREFETCH)!.entry.digest, LANDMARK_DIGEST)
      assert.strictEqual(index.lookup("etc/link")!.entry.linkName, "hello.txt")
      assert.deepStrictEqual(
        [...index.nodes()].map((n) => n.name),
        [".no.prefetch.landmark", "etc", "etc/hello.txt", "etc/link"],
      )
    }),
  )

  it.effect("a containers/storage TOC: endOffset bounds the last chunk, holes keep chunkType", () =>
    Effect.gen(function* () {
      const t = yield* parseToc(new TextEncoder().encode(STORAGE_TOC))
      const index = yield* TocIndex.build(t, { dataEnd: 200547 })
      assert.isUndefined(index.landmark)
      assert.deepStrictEqual(spans(index.lookup("etc/hello.txt")), [[0, 10, 207, 0, 230]])
      assert.isUndefined(index.lookup("etc/hello.txt")!.chunks[0]!.chunkDigest)
      assert.deepStrictEqual(spans(index.lookup("big")), [
        [0, 51083, 347, 0, 51444],
        [51083, 48917, 51444, 0, 100375],
        [100000, 100000, 100375, 0, 100401],
        [200000, 69422, 100401, 0, 169823],
        [269422, 30578, 169823, 0, 200445],
      ])
      assert.deepStrictEqual(
        index.lookup("big")!.chunks.map((c) => c.chunkType),
        [undefined, undefined, "zeros", undefined, undefined],
      )
      assert.deepStrictEqual(index.lookup("etc/empty")!.chunks, [])
      assert.strictEqual(index.lookup("dev/null")!.type, "char")
      assert.isTrue(index.lookup("dev")!.implicit)
    }),
  )

  it("a TOC with no entries has a synthesised root", () => {
    const index = build(toc())
    expect(index.root).toMatchObject({ name: "", type: "dir", implicit: true, linkCount: 2 })
    expect(index.root.entry).toEqual({ name: "", type: "dir", mode: 493 })
    expect(index.children("")).toEqual([])
    expect([...index.nodes()]).toEqual([])
    expect(index.landmark).toBeUndefined()
  })
})

describe("TocIndex tree", () => {
  it("creates implicit parents (mode 0755, no owner) and cleans names", () => {
    const index = build(toc(reg("./a/b/c.txt", 1, 10), reg("/a/d", 1, 20)))
    const a = index.lookup("a")!
    expect(a).toMatchObject({ name: "a", type: "dir", implicit: true, linkCount: 3 })
    expect(a.entry).toEqual({ name: "a", type: "dir", mode: 493 })
    expect(a.userName).toBeUndefined()
    expect(index.lookup("a/b")).toMatchObject({ implicit: true, linkCount: 2 })
    expect(index.root.linkCount).toBe(3)
    expect(names(index.children("/a/"))).toEqual(["a/b", "a/d"])
    expect(names(index.children("a/b"))).toEqual(["a/b/c.txt"])
    expect(index.lookup("a/b/c.txt")!.entry.name).toBe("./a/b/c.txt")
    expect(index.lookup("x/../a/./b//c.txt")!.name).toBe("a/b/c.txt")
    expect([...index.nodes()].map((n) => n.name)).toEqual(["a/b/c.txt", "a/d"])
    expect(index.children("a/d")).toBeUndefined()
    expect(index.children("nope")).toBeUndefined()
    expect(index.lookup("nope")).toBeUndefined()
  })

  it("handles very deep names without recursion", () => {
    const deep = Array.from({ length: 20000 }, (_, i) => `d${i}`).join("/")
    const index = build(toc(reg(`${deep}/f`, 1, 10)))
    expect(index.lookup(deep)).toMatchObject({ implicit: true, linkCount: 2 })
    expect(index.lookup("d0")!.linkCount).toBe(3)
  })

  it("uses a ./ or / root entry as the root's metadata, never as its own child", () => {
    for (const rootName of ["./", "/", ".", ""]) {
      const index = build(toc(dir(rootName, { mode: 0o700, uid: 5 }), dir("./etc/"), reg("./etc/f", 1, 10)))
      expect(index.root.implicit).toBe(false)
      expect(index.root.entry.mode).toBe(0o700)
      expect(index.root.linkCount).toBe(3)
      expect(names(index.children(""))).toEqual(["etc"])
      expect([...index.nodes()].map((n) => n.name)).toEqual(["", "etc", "etc/f"])
    }
    fails(toc(reg("./", 1, 10)), "BadEntry")
  })

  it("lets the later of duplicate names win, in place of the earlier in the tree", () => {
    const index = build(
      toc(
        dir("x/"),
        reg("f", 3, 10, { mode: 0o600 }),
        reg("x", 2, 20), // a file replaces the directory x
        reg("f", 5, 30, { mode: 0o644 }),
      ),
    )
    expect(index.lookup("x")!.type).toBe("reg")
    expect(index.lookup("f")!.entry.mode).toBe(0o644)
    expect(index.lookup("f")!.entry.size).toBe(5)
    expect(names(index.children(""))).toEqual(["f", "x"])
    expect([...index.nodes()].map((n) => [n.name, n.entry.offset])).toEqual([
      ["x", 20],
      ["f", 30],
    ])
    expect(index.root.linkCount).toBe(2)
    // the overridden file still bounds the compressed ranges of the others
    expect(spans(index.lookup("x"))).toEqual([[0, 2, 20, 0, 30]])
  })

  it("rejects a non-directory used as a parent", () => {
    const e = fails(toc(reg("a", 1, 10), reg("a/b", 1, 20)), "BadEntry")
    expect(e.message).toContain("entry #1 (a/b)")
    expect(e.entry).toBe("a/b")
    fails(toc(dir("a/"), reg("a/b", 1, 10), reg("a", 1, 20)), "BadEntry") // the later reg wins over the dir
    fails(toc({ name: "l", type: "symlink", linkName: "/etc" }, dir("l/x/")), "BadEntry")
  })

  it("counts links: 3dir (FORMATS §11.1) gives 2, 3, 2", () => {
    const index = build(toc(dir("bar/"), dir("foo/"), dir("foo/bar/")))
    expect(index.lookup("bar")!.linkCount).toBe(2)
    expect(index.lookup("foo")!.linkCount).toBe(3)
    expect(index.lookup("foo/bar")!.linkCount).toBe(2)
    expect(index.root.linkCount).toBe(4)
  })

  it("lists children sorted by code point, landmarks and the TOC name included", () => {
    const index = build(
      toc(
        reg("b", 1, 10),
        reg(LANDMARK_PREFETCH, 1, 20),
        reg("B", 1, 30),
        reg(TOC_FILE_NAME, 1, 40),
        reg("😀", 1, 50),
        reg("\uffff", 1, 60),
        reg("a", 1, 70),
      ),
    )
    expect(names(index.children(""))).toEqual([
      LANDMARK_PREFETCH,
      "B",
      "a",
      "b",
      TOC_FILE_NAME,
      "\uffff",
      "😀",
    ])
  })

  it("carries userName/groupName forward per uid/gid", () => {
    const index = build(
      toc(
        dir("a/", { uid: 1000, gid: 50, userName: "app", groupName: "staff" }),
        reg("a/f", 1, 10, { uid: 1000, gid: 50 }),
        reg("a/g", 1, 20, { uid: 1000, gid: 1000 }),
        reg("a/h", 1, 30, { uid: 1000, userName: "app2" }),
        reg("a/i", 1, 40, { uid: 1000, gid: 50 }),
        reg("a/j", 1, 50),
      ),
    )
    const who = (p: string) => [index.lookup(p)!.userName, index.lookup(p)!.groupName]
    expect(who("a")).toEqual(["app", "staff"])
    expect(who("a/f")).toEqual(["app", "staff"])
    expect(who("a/g")).toEqual(["app", undefined])
    expect(who("a/h")).toEqual(["app2", undefined])
    expect(who("a/i")).toEqual(["app2", "staff"])
    expect(who("a/j")).toEqual([undefined, undefined])
  })
})

describe("TocIndex hardlinks", () => {
  it("resolves a hardlink to a later entry and counts links", () => {
    const index = build(
      toc({ name: "a", type: "hardlink", linkName: "./dir/b" }, dir("dir/"), reg("dir/b", 4, 10)),
    )
    const a = index.lookup("a")!
    const b = index.lookup("dir/b")!
    expect(a.type).toBe("hardlink")
    expect(a.target).toBe(b)
    expect(a.chunks).toEqual([])
    expect(b.linkCount).toBe(2)
    expect(a.linkCount).toBe(2)
    expect(index.chunkForOffset(a, 3)).toBe(b.chunks[0])
    expect(index.children("")!.find((n) => n.name === "a")).toBe(a)
  })

  it("follows chains of hardlinks to the final target", () => {
    const index = build(
      toc(
        { name: "c", type: "hardlink", linkName: "b" },
        { name: "b", type: "hardlink", linkName: "/a" },
        reg("a", 1, 10),
        { name: "d", type: "hardlink", linkName: "c" },
      ),
    )
    const a = index.lookup("a")!
    for (const n of ["b", "c", "d"]) expect(index.lookup(n)!.target).toBe(a)
    expect(a.linkCount).toBe(4)
    expect(index.lookup("d")!.linkCount).toBe(4)
  })

  it("links to any non-directory type", () => {
    const index = build(
      toc({ name: "s", type: "symlink", linkName: "x" }, { name: "h", type: "hardlink", linkName: "s" }),
    )
    expect(index.lookup("h")!.target!.type).toBe("symlink")
    expect(index.lookup("s")!.linkCount).toBe(2)
  })

  it("rejects a dangling hardlink, a cycle, and a link to a directory", () => {
    const e = fails(
      toc(reg("a", 1, 10), { name: "h", type: "hardlink", linkName: "missing" }),
      "DanglingHardlink",
    )
    expect(e.message).toContain("entry #1 (h)")
    fails(toc({ name: "h", type: "hardlink" }), "DanglingHardlink")
    const c = fails(
      toc({ name: "a", type: "hardlink", linkName: "b" }, { name: "b", type: "hardlink", linkName: "a" }),
      "DanglingHardlink",
    )
    expect(c.message).toContain("cycle")
    fails(toc({ name: "a", type: "hardlink", linkName: "./a" }), "DanglingHardlink")
    fails(toc(dir("d/"), { name: "h", type: "hardlink", linkName: "d" }), "BadEntry")
    fails(toc(reg("d/f", 1, 10), { name: "h", type: "hardlink", linkName: "d" }), "DanglingHardlink") // implicit dir
  })
})

describe("TocIndex chunks", () => {
  it("normalises chunk sizes (FORMATS §2.4)", () => {
    // N < C: no chunkSize; N == C: chunkSize = size; exact multiple: the last chunk carries chunkSize
    const index = build(
      toc(
        reg("small", 3, 10),
        reg("exact", 4, 20, { chunkSize: 4 }),
        reg("twice", 8, 30, { chunkSize: 4 }),
        chunk("twice", 40, 4, { chunkSize: 4 }),
        reg("twice-short", 8, 50, { chunkSize: 4 }),
        chunk("twice-short", 60, 4),
        reg("empty", 0, 0, { digest: EMPTY_DIGEST }),
      ),
    )
    expect(spans(index.lookup("small"))).toEqual([[0, 3, 10, 0, 20]])
    expect(spans(index.lookup("exact"))).toEqual([[0, 4, 20, 0, 30]])
    expect(spans(index.lookup("twice"))).toEqual([
      [0, 4, 30, 0, 40],
      [4, 4, 40, 0, 50],
    ])
    expect(spans(index.lookup("twice-short"))).toEqual([
      [0, 4, 50, 0, 60],
      [4, 4, 60, 0, 1_000_000],
    ])
    expect(index.lookup("empty")!.chunks).toEqual([])
  })

  it("rejects chunk entries that do not tile the file exactly", () => {
    fails(toc(chunk("f", 10, 4)), "BadEntry") // no reg before
    fails(toc(dir("f/"), chunk("f", 10, 4)), "BadEntry")
    fails(toc(reg("f", 0, 0), chunk("f", 10, 0)), "BadEntry") // after an empty file
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), dir("d/"), chunk("f", 20, 4)), "BadEntry") // not contiguous
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 20, 5)), "BadEntry") // gap
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 20, 3)), "BadEntry") // overlap
    fails(toc(reg("f", 8, 10, { chunkSize: 4 })), "BadEntry") // tail missing
    fails(
      toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 20, 4, { chunkSize: 2 }), reg("g", 1, 30)),
      "BadEntry",
    )
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 20, 4, { chunkSize: 5 })), "BadEntry") // past EOF
    fails(toc(reg("f", 4, 10), chunk("f", 20, 4)), "BadEntry") // the reg already covers the file
    fails(toc(reg("f", 4, 10, { chunkSize: 8 })), "BadEntry")
    fails(toc(reg("f", 4, 10, { chunkOffset: 2 })), "BadEntry")
    const e = fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("g", 20, 4)), "BadEntry") // names another file
    expect(e.message).toContain("entry #1 (g)")
    // chunk names are compared cleaned, and an empty name is accepted
    build(toc(reg("./f", 12, 10, { chunkSize: 4 }), chunk("f", 20, 4, { chunkSize: 4 }), chunk("", 30, 8)))
  })

  it("finds the chunk for an offset (reference TestChunkEntryForOffset)", () => {
    const index = build(
      toc(
        reg("one", 4, 10, { chunkSize: 4 }),
        reg("two", 8, 20, { chunkSize: 4 }),
        chunk("two", 30, 4, { chunkSize: 4 }),
        reg("odd", 10, 40, { chunkSize: 4 }),
        chunk("odd", 50, 4, { chunkSize: 4 }),
        chunk("odd", 60, 8),
        dir("d/"),
      ),
    )
    const at = (p: string, off: number) => {
      const c = index.chunkForOffset(index.lookup(p)!, off)
      return c === undefined ? undefined : [c.chunkOffset, c.chunkSize]
    }
    expect(at("one", 0)).toEqual([0, 4])
    expect(at("one", 4)).toBeUndefined()
    expect(at("two", 0)).toEqual([0, 4])
    expect(at("two", 4)).toEqual([4, 4])
    expect(at("two", 8)).toBeUndefined()
    expect(at("two", 3)).toEqual([0, 4])
    expect(at("two", 7)).toEqual([4, 4])
    expect(at("odd", 9)).toEqual([8, 2])
    expect(at("odd", 10)).toBeUndefined()
    expect(at("odd", -1)).toBeUndefined()
    expect(at("odd", Number.NaN)).toBeUndefined()
    expect(at("d", 0)).toBeUndefined()
  })

  it("computes compressed ranges from the next greater offset (FORMATS §3.8)", () => {
    // §6.3: min-chunk-size packs everything into the member at 90; the TOC starts at 335
    const packed = build(
      toc(
        reg(LANDMARK_NO_PREFETCH, 1, 90),
        dir("d/"),
        reg("d/f0", 100, 90, { innerOffset: 1536 }),
        reg("d/f1", 200, 90, { innerOffset: 2560, chunkSize: 150 }),
        chunk("d/f1", 90, 150, { innerOffset: 2710 }),
        reg("d/f3", 400, 90, { innerOffset: 4608, chunkSize: 150 }),
        chunk("d/f3", 90, 150, { innerOffset: 4758, chunkSize: 150 }),
        chunk("d/f3", 90, 300, { innerOffset: 4908 }),
      ),
      335,
    )
    expect(spans(packed.lookup("d/f3"))).toEqual([
      [0, 150, 90, 4608, 335],
      [150, 150, 90, 4758, 335],
      [300, 100, 90, 4908, 335],
    ])
    expect(spans(packed.lookup("d/f0"))).toEqual([[0, 100, 90, 1536, 335]])
    // §6.4: payloads sharing the member at offset 0 have no offset key
    const zero = build(
      toc(
        { name: "a", type: "reg", size: 10, innerOffset: 512 },
        { name: "b", type: "reg", size: 10, innerOffset: 1536 },
        reg("c", 10, 300),
      ),
      400,
    )
    expect(spans(zero.lookup("a"))).toEqual([[0, 10, 0, 512, 300]])
    expect(spans(zero.lookup("b"))).toEqual([[0, 10, 0, 1536, 300]])
    expect(spans(zero.lookup("c"))).toEqual([[0, 10, 300, 0, 400]])
    // offsets need not be in TOC order (prioritised files, parallel parts)
    const shuffled = build(toc(reg("x", 1, 500), reg("y", 1, 100), reg("z", 1, 300)), 900)
    expect(spans(shuffled.lookup("x"))).toEqual([[0, 1, 500, 0, 900]])
    expect(spans(shuffled.lookup("y"))).toEqual([[0, 1, 100, 0, 300]])
    expect(spans(shuffled.lookup("z"))).toEqual([[0, 1, 300, 0, 500]])
  })

  it("rejects data offsets outside [0, dataEnd) and bad endOffsets", () => {
    fails(toc(reg("f", 1, 100)), "BadOffset", 100)
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 100, 4)), "BadOffset", 100)
    fails(toc(reg("f", 1, -1)), "BadOffset")
    fails(toc(reg("f", 1, 1.5)), "BadOffset")
    fails(toc(reg("f", 1, 10, { innerOffset: -3 })), "BadOffset")
    fails(toc(reg("f", 1, 10, { endOffset: 101 })), "BadOffset", 100)
    fails(toc(reg("f", 1, 10, { endOffset: 10 })), "BadOffset")
    fails(toc(reg("f", 8, 10, { chunkSize: 4, endOffset: 30 }), chunk("f", 30, 4)), "BadOffset")
    fails(toc(), "BadOffset", -1)
    fails(toc(), "BadOffset", 1.5)
    // an empty file's offset is not data and is not checked
    build(toc(reg("f", 0, 5000)), 100)
  })

  it("checks digests look like sha256:<64 hex>", () => {
    build(
      toc(reg("f", 1, 10, { digest: D("a"), chunkDigest: D("b") }), reg("e", 0, 0, { digest: EMPTY_DIGEST })),
    )
    fails(toc(reg("f", 1, 10, { digest: "sha256:abc" })), "BadEntry")
    fails(toc(reg("f", 1, 10, { chunkDigest: D("A") })), "BadEntry")
    fails(toc(reg("f", 1, 10, { chunkDigest: `sha512:${"a".repeat(128)}` })), "BadEntry")
    fails(toc(reg("f", 8, 10, { chunkSize: 4 }), chunk("f", 20, 4, { chunkDigest: "x" })), "BadEntry")
    fails({ ...toc(), tarSplitDigest: "nope" }, "BadEntry")
  })
})

describe("TocIndex landmarks", () => {
  it("detects root-level landmarks", () => {
    const pre = build(
      toc(reg("a", 1, 10), reg(LANDMARK_PREFETCH, 1, 90, { digest: LANDMARK_DIGEST }), reg("b", 1, 100)),
    )
    expect(pre.landmark).toBe("prefetch")
    expect(pre.prefetchEnd).toBe(90)
    const no = build(toc(reg(LANDMARK_NO_PREFETCH, 1, 90), reg("a", 1, 100)))
    expect(no.landmark).toBe("no-prefetch")
    expect(no.prefetchEnd).toBeUndefined()
    const both = build(toc(reg(LANDMARK_PREFETCH, 1, 90), reg(`./${LANDMARK_NO_PREFETCH}`, 1, 100)))
    expect(both.landmark).toBe("no-prefetch")
    expect(build(toc(reg(`d/${LANDMARK_PREFETCH}`, 1, 90))).landmark).toBeUndefined()
    expect(build(toc(dir(`${LANDMARK_PREFETCH}/`))).landmark).toBeUndefined()
    expect(build(toc(reg("a", 1, 10))).landmark).toBeUndefined()
  })
})
