import { accessSync, constants, statSync } from "node:fs"
import { delimiter, join } from "node:path"

/** True when running in CI (`CI=true`): missing tools are then failures, not skips. */
export const isCI = (): boolean => process.env.CI === "true"

const isExecutable = (p: string): boolean => {
  try {
    if (!statSync(p).isFile()) return false
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** Absolute path of an executable on PATH (plus the sbin dirs, where containerd and friends live), if any. */
export const which = (name: string): string | undefined => {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"]
  for (const dir of dirs) {
    if (dir === "") continue
    const p = join(dir, name)
    if (isExecutable(p)) return p
  }
  return undefined
}

/** Prints a message framed by a bar of `!` so it cannot be missed in a test log. */
export const loudWarning = (lines: ReadonlyArray<string>): void => {
  const bar = "!".repeat(78)
  console.warn(`\n${bar}\n${lines.map((l) => `!!! ${l}`).join("\n")}\n${bar}\n`)
}
