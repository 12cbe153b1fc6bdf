import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { isCI, loudWarning } from "./Env.ts"
import { interopBinaryPath } from "./Interop.ts"
import { fixturesDir, repoRoot } from "./Paths.ts"

/** What an `ensure*` call did. */
export interface EnsureOutcome {
  readonly action: "up-to-date" | "generated" | "built" | "skipped"
  readonly detail: string
}

/** Options for {@link ensureFixtures} and {@link ensureInterop}. */
export interface EnsureOptions {
  /** Treat a missing tool as fatal (default: `CI=true`). */
  readonly ci?: boolean
  /** Where the fixtures go (default: {@link fixturesDir}). */
  readonly outDir?: string
}

const sha256OfFiles = (files: ReadonlyArray<string>): string => {
  const h = createHash("sha256")
  for (const f of files) h.update(readFileSync(f))
  return h.digest("hex")
}

const readStamp = (p: string): string => (existsSync(p) ? readFileSync(p, "utf8").trim() : "")

/** sha256 (hex) of the fixture generator (generate.sh then generate.py), as stored in `out/.generator-sha256`. */
export const fixturesGeneratorHash = (): string => {
  const dir = join(repoRoot(), "test-fixtures")
  return sha256OfFiles([join(dir, "generate.sh"), join(dir, "generate.py")])
}

/** sha256 (hex) of the interop checker's source (build.sh then the .go files in C order), as in `bin/.source-sha256`. */
export const interopSourceHash = (): string => {
  const dir = join(repoRoot(), "interop")
  const src = join(dir, "lazypull-interop")
  const goFiles = readdirSync(src)
    .filter((f) => f.endsWith(".go"))
    .sort()
    .map((f) => join(src, f))
  return sha256OfFiles([join(dir, "build.sh"), ...goFiles])
}

const problem = (ci: boolean, lines: ReadonlyArray<string>): EnsureOutcome => {
  if (ci) throw new Error(lines.join("\n"))
  loudWarning(lines)
  return { action: "skipped", detail: lines.join(" ") }
}

/**
 * Runs test-fixtures/generate.sh unless the output's stamp matches the generator. In CI a failure throws;
 * elsewhere it warns loudly (tests that need a missing fixture then fail with a clear message).
 */
export const ensureFixtures = (options: EnsureOptions = {}): EnsureOutcome => {
  const ci = options.ci ?? isCI()
  const out = options.outDir ?? fixturesDir()
  const want = fixturesGeneratorHash()
  if (readStamp(join(out, ".generator-sha256")) === want) return { action: "up-to-date", detail: out }
  const script = join(repoRoot(), "test-fixtures", "generate.sh")
  const r = spawnSync("sh", [script, out], {
    encoding: "utf8",
    env: { ...process.env, CI: ci ? "true" : "false" },
  })
  if (r.status !== 0) {
    return problem(ci, [
      `test-fixtures/generate.sh failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? "").trim() || r.error?.message}`,
      "Tests that use the generated fixtures will fail. It needs python3, GNU tar, gzip, truncate and zstd.",
    ])
  }
  if (r.stderr) process.stderr.write(r.stderr)
  if (readStamp(join(out, ".generator-sha256")) !== want) {
    throw new Error(
      `test-fixtures/generate.sh succeeded but ${out}/.generator-sha256 does not match the generator`,
    )
  }
  return { action: "generated", detail: r.stdout.trim() }
}

/**
 * Builds interop/bin/lazypull-interop unless its stamp matches the source. A missing Go toolchain or
 * Debian library is fatal in CI and a loud warning elsewhere; a compile error is always fatal.
 */
export const ensureInterop = (options: EnsureOptions = {}): EnsureOutcome => {
  const ci = options.ci ?? isCI()
  const bin = interopBinaryPath()
  const want = interopSourceHash()
  if (existsSync(bin) && readStamp(join(repoRoot(), "interop", "bin", ".source-sha256")) === want) {
    return { action: "up-to-date", detail: bin }
  }
  const script = join(repoRoot(), "interop", "build.sh")
  const check = spawnSync("sh", [script, "--check"], { encoding: "utf8" })
  if (check.status !== 0) {
    return problem(ci, [
      `cannot build lazypull-interop: ${(check.stderr ?? "").trim() || check.error?.message}`,
      existsSync(bin)
        ? `Using the existing, OUTDATED ${bin}.`
        : "Tests that need it are SKIPPED here and FAIL in CI.",
    ])
  }
  const r = spawnSync("sh", [script], { encoding: "utf8" })
  if (r.status !== 0) {
    throw new Error(`interop/build.sh failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`)
  }
  return { action: "built", detail: r.stdout.trim() }
}
