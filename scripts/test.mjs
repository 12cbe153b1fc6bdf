#!/usr/bin/env node
// The one test command: vitest over every package (Node), then the portable suites under Deno.
// Ends with the plain line "N passed, N failed, N skipped" taken from both runners' real results.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = (n) => join(root, "node_modules", ".bin", n)
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", DENO_NO_UPDATE_CHECK: "1" }
const extra = process.argv.slice(2)

let passed = 0
let failed = 0
let skipped = 0
const problems = []

// 1. vitest (Node): default reporter for people, JSON reporter for the counts.
const out = join(mkdtempSync(join(tmpdir(), "lazypull-test-")), "vitest.json")
const v = spawnSync(
  bin("vitest"),
  ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...extra],
  {
    cwd: root,
    stdio: "inherit",
    env,
  },
)
if (existsSync(out)) {
  const r = JSON.parse(readFileSync(out, "utf8"))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
  // A suite that fails to load has no tests; count it as a failure so it cannot hide.
  const broken = (r.testResults ?? []).filter((t) => t.status === "failed" && t.assertionResults.length === 0)
  failed += broken.length
  if (broken.length) problems.push(`${broken.length} test file(s) failed to load`)
} else {
  failed += 1
  problems.push(`vitest wrote no results (exit ${v.status})`)
}
if (v.status !== 0 && failed === 0) {
  failed += 1
  problems.push(`vitest exited ${v.status}`)
}

// 2. Deno: the portable packages' runtime suites (runtime-tests/deno/*.test.ts) on the built output.
const denoDir = join(root, "runtime-tests", "deno")
if (extra.length === 0 && existsSync(denoDir) && readdirSync(denoDir).some((f) => f.endsWith(".test.ts"))) {
  const d = spawnSync(bin("deno"), ["test", "--allow-read", "--allow-env", "--no-check", denoDir], {
    cwd: root,
    env: { ...env, DENO_DIR: join(root, "node_modules", ".cache", "deno") },
    encoding: "utf8",
  })
  process.stdout.write(d.stdout ?? "")
  process.stderr.write(d.stderr ?? "")
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(
    (d.stdout ?? "").replace(/\x1b\[[0-9;]*m/g, ""),
  )
  if (m) {
    passed += Number(m[1])
    failed += Number(m[2])
  } else {
    failed += 1
    problems.push(`deno test printed no summary (exit ${d.status})`)
  }
}

for (const p of problems) console.log(`test: ${p}`)
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)
