import { afterEach, assert, describe, it, vi } from "@effect/vitest"
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { isAbsolute, join } from "node:path"
import { Effect } from "effect"
import { runCommand } from "./Command.ts"
import { which } from "./Env.ts"
import { fixture, fixturesDir } from "./Paths.ts"
import { ensureFixtures, ensureInterop, fixturesGeneratorHash } from "./Setup.ts"
import { cleanupTmpDirs, tmpDir } from "./TmpDir.ts"
import { describeWithTool, hasTool, MissingToolError, requireTool } from "./Tools.ts"

describe("tmpDir", () => {
  it("gives distinct, existing, empty directories", () => {
    const a = tmpDir()
    const b = tmpDir()
    assert.notStrictEqual(a, b)
    for (const d of [a, b]) {
      assert.isTrue(statSync(d).isDirectory())
      assert.deepStrictEqual(readdirSync(d), [])
    }
  })

  it("removes its directories (with contents) at exit", () => {
    const d = tmpDir()
    writeFileSync(join(d, "f"), "x")
    assert.include(process.listeners("exit"), cleanupTmpDirs)
    cleanupTmpDirs()
    assert.isFalse(existsSync(d))
    const again = tmpDir()
    assert.isTrue(existsSync(again))
  })
})

describe("fixture", () => {
  it("resolves generated files to absolute paths", () => {
    const p = fixture("pax.tar")
    assert.isTrue(isAbsolute(p))
    assert.isTrue(p.startsWith(fixturesDir()))
  })

  it("throws a helpful error for a missing fixture", () => {
    assert.throws(() => fixture("no-such-fixture.tar"), /generate\.sh/)
  })
})

describe("requireTool", () => {
  const saved = process.env.CI
  afterEach(() => {
    if (saved === undefined) delete process.env.CI
    else process.env.CI = saved
    vi.restoreAllMocks()
  })

  it("finds real tools", () => {
    assert.isTrue(hasTool("sh"))
    assert.isTrue(isAbsolute(which("sh")!))
    assert.isTrue(requireTool("sh"))
  })

  it("warns loudly and returns false outside CI", () => {
    process.env.CI = "false"
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {})
    assert.isFalse(requireTool("lazypull-no-such-tool-a"))
    assert.strictEqual(warn.mock.calls.length, 1)
    assert.match(String(warn.mock.calls[0]![0]), /SKIPPING TESTS: tool "lazypull-no-such-tool-a"/)
  })

  it("throws in CI", () => {
    process.env.CI = "true"
    assert.throws(() => requireTool("lazypull-no-such-tool-b"), MissingToolError)
  })
})

describe("runCommand", () => {
  it.effect("returns exit code, stdout and stderr, and feeds stdin", () =>
    Effect.gen(function* () {
      const r = yield* Effect.promise(() =>
        runCommand("sh", ["-c", "cat; echo oops >&2; exit 3"], { input: "hello" }),
      )
      assert.strictEqual(r.code, 3)
      assert.strictEqual(r.stdout.toString(), "hello")
      assert.strictEqual(r.stderr, "oops\n")
      const killed = yield* Effect.promise(() => runCommand("sh", ["-c", "kill -TERM $$"]))
      assert.strictEqual(killed.code, 128 + 15)
    }),
  )

  it.effect("rejects when the command cannot start", () =>
    Effect.gen(function* () {
      const r = yield* Effect.promise(() =>
        runCommand("/nonexistent/lazypull-cmd", []).then(
          () => "started",
          (e: NodeJS.ErrnoException) => e.code,
        ),
      )
      assert.strictEqual(r, "ENOENT")
    }),
  )
})

describe("global setup helpers", () => {
  it("ensureFixtures is a cheap no-op when the fixtures are current", () => {
    const began = performance.now()
    assert.strictEqual(ensureFixtures().action, "up-to-date")
    assert.isBelow(performance.now() - began, 1000)
    assert.match(fixturesGeneratorHash(), /^[0-9a-f]{64}$/)
  })
})

describeWithTool("lazypull-interop", "ensureInterop", () => {
  it("is a no-op when the binary matches its source", () => {
    assert.strictEqual(ensureInterop().action, "up-to-date")
  })
})
