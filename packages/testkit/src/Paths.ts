import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** Absolute path of the repository root (the directory holding pnpm-workspace.yaml). */
export const repoRoot = (): string => fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "")

/** Absolute path of the generated fixtures directory, `test-fixtures/out`. */
export const fixturesDir = (): string =>
  process.env.LAZYPULL_FIXTURES_DIR ?? join(repoRoot(), "test-fixtures", "out")

/**
 * Absolute path of a generated fixture; throws if it is missing (vitest's global setup generates them).
 *
 * @example
 * const tar = fixture("pax.tar") // <repo>/test-fixtures/out/pax.tar
 */
export const fixture = (name: string): string => {
  const p = join(fixturesDir(), name)
  if (!existsSync(p)) {
    throw new Error(
      `fixture "${name}" not found at ${p}: run test-fixtures/generate.sh ` +
        "(vitest's global setup does it; needs python3, GNU tar, gzip and zstd)",
    )
  }
  return p
}
