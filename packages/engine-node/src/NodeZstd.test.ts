import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { CodecError, ZstdEngine } from "@lazypull/codec"
import {
  assertBytesEqual,
  compressibleBytes,
  concatBytes,
  randomBytes,
  skippableFrame,
  zstdEngineSuite,
  zstdFrameProblems,
  zstdInflateInPieces,
} from "@lazypull/codec/testing"
import { PortableZstd } from "@lazypull/engine-portable"
import { describeWithTool } from "@lazypull/testkit"
import { Effect, Fiber, Layer } from "effect"
import * as fc from "fast-check"
import { NodeEngine, NodeZstd } from "./index.ts"
import { makeCompressPool } from "./NodeZstdPool.ts"

zstdEngineSuite("zstd-wasm workers (node)", NodeZstd.layer)
zstdEngineSuite(
  "zstd-wasm workers, 1 worker, nothing inline",
  Layer.effect(ZstdEngine, NodeZstd.make({ workers: 1, inlineBelow: 0 })),
)

/** Where zstd-napi was installed by hand (it is optional and not a dependency); unset: native tests skip. */
const NAPI = process.env.LAZYPULL_ZSTD_NAPI
const nativeLayer = Layer.effect(ZstdEngine, NodeZstd.makeNative({ module: NAPI ?? "zstd-napi" }))
if (NAPI) {
  zstdEngineSuite("zstd-napi (node, native)", nativeLayer)
  zstdEngineSuite(
    "zstd-napi, nothing inline",
    Layer.effect(ZstdEngine, NodeZstd.makeNative({ module: NAPI, inlineBelow: 0 })),
  )
}

const portable = PortableZstd.make()
const samples = [
  new Uint8Array(0),
  Uint8Array.of(42),
  randomBytes(100_000, 3),
  compressibleBytes(1_500_000, 4),
  compressibleBytes(4 * 1024 * 1024, 5),
]

/** Runs `body` with a worker-pool engine (every input on a worker) whose scope closes afterwards. */
const withPool = <A, E>(body: (engine: ZstdEngine["Service"]) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.scoped(Effect.flatMap(NodeZstd.make({ inlineBelow: 0 }), body))

/** Pool shapes that must not change a byte: one worker with the caller helping, several without it, batching. */
const shapes: ReadonlyArray<[string, NodeZstd.NodeZstdOptions]> = [
  ["1 worker, caller runs, nothing inline", { workers: 1, inlineBelow: 0 }],
  ["3 workers, caller never runs", { workers: 3, inlineBelow: 0, callerRuns: false }],
  ["2 workers, small inputs inline", { workers: 2 }],
]

describe("zstd-wasm workers and the portable engine", () => {
  it.effect("write byte-identical frames, in any concurrency and any pool shape", () =>
    Effect.gen(function* () {
      for (const [n, [shape, options]] of shapes.entries()) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const pool = yield* NodeZstd.make(options)
            // (level 19 takes seconds: once is enough)
            for (const level of n === 0 ? [1, 3, 9, 19] : [3, 9]) {
              const inputs = level === 19 ? samples.slice(0, 4) : samples
              const ours = yield* Effect.forEach(inputs, (d) => pool.compress(d, level), { concurrency: 4 })
              assert.strictEqual(ours.length, inputs.length, `${shape}: one frame per input`)
              for (const [i, d] of inputs.entries()) {
                assertBytesEqual(
                  ours[i]!,
                  yield* portable.compress(d, level),
                  `${shape}: level ${level}, sample ${i}`,
                )
              }
            }
          }),
        )
      }
    }),
  )

  it.effect(
    "property: a burst of frames of any sizes, batched and shared with the caller, is byte-identical",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const pool = yield* NodeZstd.make({ workers: 2, inlineBelow: 512 })
          const input = fc.tuple(
            fc.integer({ min: 0, max: 200_000 }),
            fc.integer({ min: 0, max: 1000 }),
            fc.boolean(),
          )
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 40 }), async (specs) => {
                const inputs = specs.map(([n, seed, text]) =>
                  text ? compressibleBytes(n, seed) : randomBytes(n, seed),
                )
                const frames = await Effect.runPromise(
                  Effect.forEach(inputs, (d) => pool.compress(d, 3), { concurrency: "unbounded" }),
                )
                // (a job settled from inside another fiber's compress once made forEach return extra results)
                assert.strictEqual(frames.length, inputs.length)
                for (const [i, d] of inputs.entries()) {
                  assertBytesEqual(frames[i]!, await Effect.runPromise(portable.compress(d, 3)), `input ${i}`)
                }
              }),
              { numRuns: 12 },
            ),
          )
        }),
      ),
  )

  it.effect("decode each other's frames (and the zstd:chunked shape: frames + skippable TOC/footer)", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        const frames = yield* Effect.forEach(samples, (d) => pool.compress(d, 3), { concurrency: 4 })
        const blob = concatBytes([
          ...frames,
          skippableFrame(compressibleBytes(3000, 6)),
          skippableFrame(new Uint8Array(64)),
        ])
        const expected = concatBytes(samples)
        assertBytesEqual(yield* portable.decompress(blob, expected.length), expected, "portable decompress")
        assertBytesEqual(
          yield* zstdInflateInPieces(portable, blob, [65536, 7]),
          expected,
          "portable inflater",
        )
        const theirs = concatBytes(yield* Effect.forEach(samples, (d) => portable.compress(d, 9)))
        assertBytesEqual(yield* pool.decompress(theirs, expected.length), expected, "node decompress")
      }),
    ),
  )
})

/** Runs the zstd CLI on a temporary file holding `input`; returns stdout, failing on a non-zero exit. */
const zstdCli = (args: ReadonlyArray<string>, input: Uint8Array): Uint8Array => {
  const dir = mkdtempSync(join(tmpdir(), "lazypull-zstd-"))
  try {
    const file = join(dir, "in")
    writeFileSync(file, input)
    const r = spawnSync("zstd", ["-q", ...args, file], { maxBuffer: 256 * 1024 * 1024 })
    assert.strictEqual(r.status, 0, `zstd ${args.join(" ")}: ${r.stderr}`)
    return new Uint8Array(r.stdout)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describeWithTool("zstd", "frames pass the zstd CLI", () => {
  it.effect("zstd -t accepts the workers' frames with skippable frames; zstd -dc restores the data", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        const frames = yield* Effect.forEach(samples, (d) => pool.compress(d, 3), { concurrency: 4 })
        const blob = concatBytes([frames[0]!, skippableFrame(Uint8Array.of(1, 2)), ...frames.slice(1)])
        zstdCli(["-t"], blob)
        assertBytesEqual(zstdCli(["-dc"], blob), concatBytes(samples), "zstd -dc")
      }),
    ),
  )

  it.effect("frames written by zstd decode with the Node engine", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        const data = compressibleBytes(2_000_000, 7)
        for (const args of [
          ["-3", "-c"],
          ["-19", "-c"],
          ["-1", "--no-content-size", "-c"],
        ]) {
          const blob = zstdCli(args, data)
          assertBytesEqual(yield* pool.decompress(blob, data.length), data, args.join(" "))
        }
      }),
    ),
  )
})

describe("zstd-napi (optional native engine)", () => {
  it.effect(
    "without the package, the native layer fails with Unsupported and NodeEngine falls back to workers",
    () =>
      Effect.gen(function* () {
        const missing = yield* Effect.result(
          Effect.scoped(NodeZstd.makeNative({ module: join(tmpdir(), "no-such-dir", "zstd-napi") })),
        )
        assert.isTrue(
          missing._tag === "Failure" && missing.failure.reason === "Unsupported",
          "missing module",
        )
        if (missing._tag === "Failure") assert.include(missing.failure.message, "npm i zstd-napi")
        const notZstd = yield* Effect.result(Effect.scoped(NodeZstd.makeNative({ module: "effect" })))
        assert.isTrue(notZstd._tag === "Failure" && notZstd.failure.reason === "Unsupported", "wrong module")
        const name = yield* ZstdEngine.use((z) => Effect.succeed(z.name)).pipe(
          Effect.provide(NodeEngine.layerZstd),
        )
        // zstd-napi is not a dependency of this package, so the workspace resolves the worker engine
        assert.strictEqual(name, "zstd-wasm workers")
      }),
  )

  it.runIf(NAPI !== undefined)(
    "native frames decode with the portable engine and the zstd CLI, and back",
    () =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const native = yield* NodeZstd.makeNative({ module: NAPI! })
            assert.strictEqual(native.name, "zstd-napi")
            const frames = yield* Effect.forEach(samples, (d) => native.compress(d, 3), { concurrency: 3 })
            for (const [i, f] of frames.entries()) {
              assert.deepStrictEqual(zstdFrameProblems(f, samples[i]!.length), [], `native frame ${i}`)
            }
            const expected = concatBytes(samples)
            const blob = concatBytes([...frames, skippableFrame(new Uint8Array(9))])
            assertBytesEqual(
              yield* portable.decompress(blob, expected.length),
              expected,
              "portable reads native",
            )
            const wasmBlob = concatBytes(yield* Effect.forEach(samples, (d) => portable.compress(d, 3)))
            assertBytesEqual(
              yield* native.decompress(wasmBlob, expected.length),
              expected,
              "native reads wasm",
            )
            if (spawnSync("zstd", ["--version"]).status === 0) {
              zstdCli(["-t"], blob)
              assertBytesEqual(zstdCli(["-dc"], blob), expected, "zstd -dc of native frames")
            }
          }),
        ),
      ),
  )
})

// A stand-in worker that speaks the pool protocol: each job's "frame" is its input reversed, and it
// misbehaves on request (level 13: exits, 14: throws outside any handler and never answers, 15: answers
// a fatal error for that job, 16: answers its message late).
const TEST_WORKER = `import("node:worker_threads").then(({ workerData }) => workerData.port.on("message", ({ buf, jobs }) => {
  const results = []
  const transfer = [buf]
  let fatal = false
  let late = false
  for (let i = 0; i < jobs.length; i += 3) {
    const level = jobs[i]
    if (level === 13) process.exit(3)
    if (level === 14) {
      setTimeout(() => { throw new Error("boom") }, 0)
      return
    }
    if (level === 15) {
      results.push("broken")
      fatal = true
      break
    }
    if (level === 16) late = true
    const out = new Uint8Array(buf, jobs[i + 1], jobs[i + 2]).slice().reverse()
    results.push(out)
    transfer.push(out.buffer)
  }
  const send = () => workerData.port.postMessage({ buf, results, fatal }, transfer)
  if (late) setTimeout(send, 600)
  else send()
}))
`

const testPool = (
  size = 2,
  retireAbove = Number.POSITIVE_INFINITY,
  callerRuns?: (data: Uint8Array, level: number) => Uint8Array | undefined,
) =>
  makeCompressPool({
    size,
    source: TEST_WORKER,
    workerData: null,
    codec: "test",
    error: (message) => new CodecError({ reason: "Corrupt", codec: "test", message }),
    retireAbove,
    callerRuns,
  })

const reasonOf = <A>(effect: Effect.Effect<A, CodecError>) =>
  Effect.map(Effect.result(effect), (r) => (r._tag === "Success" ? "ok" : r.failure.reason))

const reversed = (data: Uint8Array) => data.slice().reverse()
const sized = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) % 251)
/** Two of these fill a worker's backlog (it takes another message below max(1 MiB, twice the next job)). */
const BIG = 600_000

describe("the compression worker pool", () => {
  it.effect("a worker that exits or throws fails its job with Engine, and the pool recovers", () =>
    Effect.gen(function* () {
      const pool = testPool(2)
      const data = Uint8Array.of(1, 2, 3)
      try {
        const crashed = yield* Effect.result(pool.compress(data, 13))
        assert.isTrue(crashed._tag === "Failure" && crashed.failure.reason === "Engine")
        if (crashed._tag === "Failure") assert.include(crashed.failure.message, "crashed")
        assert.strictEqual(yield* reasonOf(pool.compress(data, 14)), "Engine")
        assert.strictEqual(yield* reasonOf(pool.compress(data, 15)), "Engine")
        // jobs that shared a message with crashing ones are sent again (alone) and complete
        const mixed = yield* Effect.forEach(
          [1, 13, 1, 14, 1, 1],
          (level) => reasonOf(pool.compress(data, level)),
          { concurrency: "unbounded" },
        )
        assert.deepStrictEqual(mixed, ["ok", "Engine", "ok", "Engine", "ok", "ok"])
        assertBytesEqual(yield* pool.compress(data, 1), Uint8Array.of(3, 2, 1), "after the crashes")
        assert.isTrue(pool.stats().alive <= 2)
      } finally {
        yield* Effect.promise(() => pool.close())
      }
    }),
  )

  it.effect("after a fatal answer, the jobs the worker did not attempt complete on another worker", () =>
    Effect.gen(function* () {
      const pool = testPool(1)
      const inputs = [1, 1, 15, 1, 1].map((level, i) => ({ level, data: Uint8Array.of(i, 7, 9) }))
      const results = yield* Effect.forEach(
        inputs,
        ({ data, level }) => Effect.result(pool.compress(data, level)),
        {
          concurrency: "unbounded",
        },
      )
      // all five travelled in one message; the fatal one fails, the rest are the stand-in's frames
      assert.strictEqual(pool.stats().messages, 2)
      for (const [i, r] of results.entries()) {
        if (inputs[i]!.level === 15) assert.isTrue(r._tag === "Failure" && r.failure.reason === "Engine")
        else if (r._tag === "Success") assertBytesEqual(r.success, reversed(inputs[i]!.data), `job ${i}`)
        else assert.fail(`job ${i} failed: ${r.failure.message}`)
      }
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.effect("small jobs queued together travel in one message, each gets its own frame", () =>
    Effect.gen(function* () {
      const pool = testPool(2)
      const inputs = Array.from({ length: 100 }, (_, i) => sized(1 + ((i * 37) % 150), i))
      const frames = yield* Effect.forEach(inputs, (d) => pool.compress(d, 1), { concurrency: "unbounded" })
      for (const [i, f] of frames.entries()) assertBytesEqual(f, reversed(inputs[i]!), `job ${i}`)
      assert.strictEqual(pool.stats().messages, 1)
      // big ones travel alone, spread over the workers
      const big = Array.from({ length: 4 }, (_, i) => sized(100_000 + i, i))
      const bigFrames = yield* Effect.forEach(big, (d) => pool.compress(d, 1), { concurrency: "unbounded" })
      for (const [i, f] of bigFrames.entries()) assertBytesEqual(f, reversed(big[i]!), `big job ${i}`)
      assert.strictEqual(pool.stats().messages, 5)
      assert.strictEqual(pool.stats().alive, 2)
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.effect("the caller's buffer stays intact (a copy is transferred) and views work", () =>
    Effect.gen(function* () {
      const pool = testPool(1)
      const backing = Uint8Array.of(9, 1, 2, 3, 9)
      const out = yield* pool.compress(backing.subarray(1, 4), 1)
      assertBytesEqual(out, Uint8Array.of(3, 2, 1), "result")
      assertBytesEqual(backing, Uint8Array.of(9, 1, 2, 3, 9), "input")
      assert.strictEqual(backing.buffer.byteLength, 5, "not detached")
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.live("idle workers are unreferenced, busy ones referenced; workers start on demand up to size", () =>
    Effect.gen(function* () {
      const pool = testPool(3)
      assert.deepStrictEqual(pool.stats(), { alive: 0, referenced: 0, queued: 0, messages: 0, callerRan: 0 })
      const inputs = Array.from({ length: 7 }, (_, i) => sized(BIG, i))
      const fiber = yield* Effect.forkChild(
        Effect.forEach(inputs, (d) => pool.compress(d, 16), { concurrency: "unbounded" }),
      )
      yield* Effect.sleep("100 millis")
      // three workers with two messages each; the seventh job waits
      assert.deepStrictEqual(pool.stats(), { alive: 3, referenced: 3, queued: 1, messages: 6, callerRan: 0 })
      const frames = yield* Fiber.join(fiber)
      for (const [i, f] of frames.entries()) assertBytesEqual(f, reversed(inputs[i]!), `job ${i}`)
      assert.deepStrictEqual(pool.stats(), { alive: 3, referenced: 0, queued: 0, messages: 7, callerRan: 0 })
      yield* Effect.promise(() => pool.close())
      assert.strictEqual(pool.stats().alive, 0)
    }),
  )

  it.live("callerRuns: a job that finds every worker with work waiting is compressed by the caller", () =>
    Effect.gen(function* () {
      let ready = false
      const pool = testPool(1, Number.POSITIVE_INFINITY, (data) => (ready ? reversed(data) : undefined))
      const inputs = Array.from({ length: 4 }, (_, i) => sized(BIG, i))
      // not ready: the third job waits for the worker
      const first = yield* Effect.forkChild(
        Effect.forEach(inputs.slice(0, 3), (d) => pool.compress(d, 16), { concurrency: "unbounded" }),
      )
      yield* Effect.sleep("100 millis")
      assert.strictEqual(pool.stats().queued, 1)
      assert.strictEqual(pool.stats().callerRan, 0)
      ready = true
      // the worker still has its backlog full: the caller compresses this one at once
      assertBytesEqual(yield* pool.compress(inputs[3]!, 16), reversed(inputs[3]!), "caller's frame")
      assert.isAtLeast(pool.stats().callerRan, 1)
      const frames = yield* Fiber.join(first)
      for (const [i, f] of frames.entries()) assertBytesEqual(f, reversed(inputs[i]!), `job ${i}`)
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.live("close fails running and queued jobs with Engine; later calls fail too", () =>
    Effect.gen(function* () {
      const pool = testPool(1)
      const fiber = yield* Effect.forkChild(
        Effect.forEach([16, 16, 16], (l) => reasonOf(pool.compress(Uint8Array.of(l), l)), { concurrency: 3 }),
      )
      yield* Effect.sleep("50 millis")
      yield* Effect.promise(() => pool.close())
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["Engine", "Engine", "Engine"])
      assert.strictEqual(yield* reasonOf(pool.compress(Uint8Array.of(1), 1)), "Engine")
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.live("an interrupted queued job leaves the queue; a big job retires its worker", () =>
    Effect.gen(function* () {
      const pool = testPool(1, BIG + 1)
      const inputs = Array.from({ length: 3 }, (_, i) => sized(BIG, i))
      const first = yield* Effect.forkChild(pool.compress(inputs[0]!, 16))
      const second = yield* Effect.forkChild(pool.compress(inputs[1]!, 16))
      const third = yield* Effect.forkChild(pool.compress(inputs[2]!, 16))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(pool.stats().queued, 1)
      yield* Fiber.interrupt(third)
      assert.strictEqual(pool.stats().queued, 0)
      assertBytesEqual(yield* Fiber.join(first), reversed(inputs[0]!), "first")
      assertBytesEqual(yield* Fiber.join(second), reversed(inputs[1]!), "second")
      assert.strictEqual(pool.stats().alive, 1)
      const big = sized(BIG + 2, 4)
      assertBytesEqual(yield* pool.compress(big, 1), reversed(big), "big")
      assert.strictEqual(pool.stats().alive, 0, "retired after a job over retireAbove")
      yield* Effect.promise(() => pool.close())
    }),
  )

  it.effect("a zstd-wasm worker that cannot load its module fails jobs with Engine, no hang", () =>
    Effect.gen(function* () {
      const pool = makeCompressPool({
        size: 2,
        source: (yield* Effect.promise(() => import("./NodeZstdWorker.ts"))).ZSTD_WORKER_SOURCE,
        workerData: {
          backend: "wasm",
          moduleUrl: pathToFileURL(join(tmpdir(), "no-such-zstd-wasm.js")).href,
        },
        codec: "test",
        error: (message) => new CodecError({ reason: "Corrupt", codec: "test", message }),
        retireAbove: Number.POSITIVE_INFINITY,
      })
      const r = yield* Effect.forEach([1, 2, 3], () => reasonOf(pool.compress(Uint8Array.of(1), 3)), {
        concurrency: 3,
      })
      assert.deepStrictEqual(r, ["Engine", "Engine", "Engine"])
      yield* Effect.promise(() => pool.close())
    }),
  )
})

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "index.js")

// The real process-lifetime behaviour needs a separate process on the built output (`tsc -b`).
describe.skipIf(!existsSync(dist))("worker threads and the process lifetime (built output)", () => {
  const runChild = (body: string) =>
    spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { Effect, Exit, Scope } from "effect"
         import { NodeZstd } from ${JSON.stringify(dist)}
         const scope = Effect.runSync(Scope.make())
         const engine = await Effect.runPromise(Scope.provide(scope)(NodeZstd.make({ workers: 2 })))
         const data = new Uint8Array(3 << 20).map((_, i) => (i * 7) % 251)
         ${body}`,
      ],
      { encoding: "utf8", timeout: 20_000, cwd: dirname(dist) },
    )

  it("a pending compress keeps the process alive; idle workers then let it exit without a close", () => {
    const r = runChild(
      `Effect.runPromise(Effect.forEach([1, 2, 3], () => engine.compress(data, 3), { concurrency: 3 })).then((f) => console.log("frames", f.map((x) => x.length).join(",")))`,
    )
    assert.strictEqual(r.signal, null, "the child hung (killed by the timeout)")
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^frames \d+,\d+,\d+$/m)
  })

  it("closing the scope terminates the workers", () => {
    const r = runChild(
      `await Effect.runPromise(engine.compress(data, 3))
       await Effect.runPromise(Scope.close(scope, Exit.succeed(undefined)))
       const after = await Effect.runPromise(Effect.result(engine.compress(data, 3)))
       console.log("after close", after._tag, after.failure?.reason)`,
    )
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /after close Failure Engine/)
  })
})
