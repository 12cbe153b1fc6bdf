import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Environment variable naming the per-run temp root that vitest's global setup creates and removes. */
export const TEST_TMP_ENV = "LAZYPULL_TEST_TMP"

const made = new Set<string>()
let hooked = false

/** Removes every directory made by {@link tmpDir} so far; also runs by itself when the process exits. */
export const cleanupTmpDirs = (): void => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort at exit: a dir still in use elsewhere is left for the OS
    }
  }
  made.clear()
}

/**
 * A fresh empty directory, removed (recursively) when the process exits. Under vitest it lives in the
 * run's temp root (see {@link createRunTmpRoot}), which the global teardown removes even when workers
 * are killed rather than exiting.
 *
 * @example
 * const out = join(tmpDir(), "blob.esgz")
 */
export const tmpDir = (): string => {
  if (!hooked) {
    hooked = true
    process.once("exit", cleanupTmpDirs)
  }
  const runRoot = process.env[TEST_TMP_ENV]
  if (runRoot) mkdirSync(runRoot, { recursive: true })
  const dir = mkdtempSync(join(runRoot || tmpdir(), "lazypull-test-"))
  made.add(dir)
  return dir
}

/**
 * Creates a temp root for one test run, exports it as `$LAZYPULL_TEST_TMP` (inherited by the test
 * workers) and returns the teardown that removes it. Used by vitest's global setup.
 */
export const createRunTmpRoot = (): (() => void) => {
  const root = mkdtempSync(join(tmpdir(), "lazypull-run-"))
  process.env[TEST_TMP_ENV] = root
  return () => {
    rmSync(root, { recursive: true, force: true })
    if (process.env[TEST_TMP_ENV] === root) delete process.env[TEST_TMP_ENV]
  }
}
