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

describe("zstd-wasm workers and the portable engine", () => {
  it.effect("write byte-identical frames, in any concurrency", () =>
    withPool((pool) =>
      Effect.gen(function* () {
        for (const level of [1, 3, 9, 19]) {
          const inputs = level === 19 ? samples.slice(0, 4) : samples
          const ours = yield* Effect.forEach(inputs, (d) => pool.compress(d, level), { concurrency: 3 })
          for (const [i, d] of inputs.entries()) {
            assertBytesEqual(ours[i]!, yield* portable.compress(d, level), `level ${level}, sample ${i}`)
          }
        }
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

// A stand-in worker that speaks the pool protocol: it echoes the input reversed, and misbehaves on
// request (level 13: exits, 14: throws outside any handler, 15: answers a fatal error, 16: answers late).
const TEST_WORKER = `import("node:worker_threads").then(({ parentPort }) => parentPort.on("message", (job) => {
  if (job.level === 13) process.exit(3)
  if (job.level === 14) setTimeout(() => { throw new Error("boom") }, 0)
  if (job.level === 14) return
  if (job.level === 15) return parentPort.postMessage({ id: job.id, error: "broken", fatal: true })
  const out = job.data.slice().reverse()
  const send = () => parentPort.postMessage({ id: job.id, frame: out }, [out.buffer])
  if (job.level === 16) setTimeout(send, 600)
  else send()
}))
`

const testPool = (size = 2, retireAbove = Number.POSITIVE_INFINITY) =>
  makeCompressPool({
    size,
    source: TEST_WORKER,
    workerData: null,
    codec: "test",
    error: (message) => new CodecError({ reason: "Corrupt", codec: "test", message }),
    retireAbove,
  })

const reasonOf = <A>(effect: Effect.Effect<A, CodecError>) =>
  Effect.map(Effect.result(effect), (r) => (r._tag === "Success" ? "ok" : r.failure.reason))

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
        // jobs queued behind crashing ones still complete
        const mixed = yield* Effect.forEach(
          [1, 13, 1, 14, 1, 1],
          (level) => reasonOf(pool.compress(data, level)),
          {
            concurrency: "unbounded",
          },
        )
        assert.deepStrictEqual(mixed, ["ok", "Engine", "ok", "Engine", "ok", "ok"])
        assertBytesEqual(yield* pool.compress(data, 1), Uint8Array.of(3, 2, 1), "after the crashes")
        assert.isTrue(pool.stats().alive <= 2)
      } finally {
        yield* Effect.promise(() => pool.close())
      }
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
      assert.deepStrictEqual(pool.stats(), { alive: 0, referenced: 0, queued: 0 })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([16, 16, 16, 16, 16], (l) => pool.compress(Uint8Array.of(l), l), { concurrency: 5 }),
      )
      yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(pool.stats(), { alive: 3, referenced: 3, queued: 2 })
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(pool.stats(), { alive: 3, referenced: 0, queued: 0 })
      yield* Effect.promise(() => pool.close())
      assert.deepStrictEqual(pool.stats(), { alive: 0, referenced: 0, queued: 0 })
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
      const pool = testPool(1, 10)
      const first = yield* Effect.forkChild(pool.compress(Uint8Array.of(1), 16))
      const second = yield* Effect.forkChild(pool.compress(Uint8Array.of(2), 16))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(pool.stats().queued, 1)
      yield* Fiber.interrupt(second)
      assert.strictEqual(pool.stats().queued, 0)
      assertBytesEqual(yield* Fiber.join(first), Uint8Array.of(1), "first")
      assert.strictEqual(pool.stats().alive, 1)
      assertBytesEqual(yield* pool.compress(new Uint8Array(11).fill(4), 1), new Uint8Array(11).fill(4), "big")
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
