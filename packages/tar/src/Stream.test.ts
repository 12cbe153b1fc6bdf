import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { listTar, parseTarStream, type TarStreamEvent } from "./Stream.ts"
import { TarError } from "./TarError.ts"
import { writeTar } from "./TarWriter.ts"

const enc = (s: string) => new TextEncoder().encode(s)

const archive = writeTar([
  { entry: { name: "a.txt", typeflag: "0" }, data: enc("alpha") },
  { entry: { name: "dir/", typeflag: "5" } },
  { entry: { name: "b.bin", typeflag: "0" }, data: new Uint8Array(3000).fill(0xab) },
  { entry: { name: `${"n".repeat(120)}`, typeflag: "2", linkname: "a.txt" } },
])

const pieces = (bytes: Uint8Array, size: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

const summarize = (events: ReadonlyArray<TarStreamEvent>) => {
  const out: Array<{ name: string; data: Array<number> }> = []
  let tail: TarStreamEvent | undefined
  let bytes = 0
  for (const ev of events) {
    if (ev._tag === "Entry") out.push({ name: ev.header.name, data: [] })
    else if (ev._tag === "Data") out[out.length - 1]!.data.push(...ev.bytes)
    if (ev._tag === "Entry") bytes += ev.raw.length
    else if (ev._tag !== "End") bytes += ev.bytes.length
    tail = ev
  }
  return { entries: out, tail, bytes }
}

describe("parseTarStream", () => {
  it.effect("emits the same events for any chunking and ends with End", () =>
    Effect.gen(function* () {
      const whole = summarize(yield* Stream.runCollect(parseTarStream(Stream.make(archive))))
      assert.deepStrictEqual(
        whole.entries.map((e) => [e.name, e.data.length]),
        [
          ["a.txt", 5],
          ["dir/", 0],
          ["b.bin", 3000],
          ["n".repeat(120), 0],
        ],
      )
      assert.deepStrictEqual(whole.tail, { _tag: "End", offset: archive.length, sawEndBlocks: true })
      assert.strictEqual(whole.bytes, archive.length)
      for (const size of [1, 100, 512, 1000]) {
        const input = Stream.fromIterable(pieces(archive, size)).pipe(Stream.rechunk(7))
        const events = yield* Stream.runCollect(parseTarStream(input))
        assert.deepStrictEqual(summarize(events), whole)
      }
    }),
  )

  it.effect("an empty stream is a clean End", () =>
    Effect.gen(function* () {
      const events = yield* Stream.runCollect(parseTarStream(Stream.empty))
      assert.deepStrictEqual(events, [{ _tag: "End", offset: 0, sawEndBlocks: false }])
    }),
  )

  it.effect("fails with TarError after emitting the events before the problem", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const error = yield* parseTarStream(Stream.fromIterable(pieces(archive.subarray(0, 2500), 300))).pipe(
        Stream.runForEach((ev) => Effect.sync(() => void seen.push(ev._tag))),
        Effect.flip,
      )
      assert.instanceOf(error, TarError)
      assert.strictEqual(error.reason, "Truncated")
      assert.strictEqual(error.entry, "b.bin")
      assert.strictEqual(error.offset, 1536)
      assert.deepStrictEqual(seen.slice(0, 3), ["Entry", "Data", "Padding"])
      assert.notInclude(seen, "End")
    }),
  )

  it.effect("rejects unsupported entries mid-stream", () =>
    Effect.gen(function* () {
      const bad = writeTar([
        { entry: { name: "ok", typeflag: "0" }, data: enc("1") },
        { entry: { name: "global", typeflag: "g" }, data: enc("9 a=b\n") },
      ])
      const error = yield* Stream.runDrain(parseTarStream(Stream.make(bad))).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Unsupported")
      assert.strictEqual(error.offset, 1024)
    }),
  )

  it.effect("passes upstream failures through unchanged", () =>
    Effect.gen(function* () {
      class Upstream extends Schema.TaggedError<Upstream>()("Upstream", {}) {}
      const input = Stream.concat(Stream.make(archive.subarray(0, 512)), Stream.fail(new Upstream()))
      const error = yield* Stream.runDrain(parseTarStream(input)).pipe(Effect.flip)
      assert.instanceOf(error, Upstream)
    }),
  )

  it.effect("each run gets a fresh parser", () =>
    Effect.gen(function* () {
      const stream = parseTarStream(Stream.fromIterable(pieces(archive, 999)))
      const a = yield* Stream.runCollect(stream)
      const b = yield* Stream.runCollect(stream)
      assert.deepStrictEqual(summarize(a), summarize(b))
    }),
  )
})

describe("listTar", () => {
  it.effect("returns entries with their data and offsets", () =>
    Effect.gen(function* () {
      const entries = yield* listTar(archive)
      assert.deepStrictEqual(
        entries.map((e) => [e.header.name, e.data.length, e.offset]),
        [
          ["a.txt", 5, 0],
          ["dir/", 0, 1024],
          ["b.bin", 3000, 1536],
          ["n".repeat(120), 0, 1536 + 512 + 3072],
        ],
      )
      assert.strictEqual(new TextDecoder().decode(entries[0]!.data), "alpha")
      assert.strictEqual(entries[2]!.data.buffer, archive.buffer, "payloads are views into the input")
    }),
  )

  it.effect("fails with the parser's TarError", () =>
    Effect.gen(function* () {
      const corrupt = archive.slice()
      corrupt[1029] = corrupt[1029]! ^ 0xff
      const error = yield* Effect.flip(listTar(corrupt))
      assert.strictEqual(error.reason, "BadChecksum")
      assert.strictEqual(error.offset, 1024)
    }),
  )
})
