import { spawnSync } from "node:child_process"
import { describe } from "vitest"
import { isCI, loudWarning, which } from "./Env.ts"
import { interopBinary } from "./Interop.ts"

const isGnuTar = (): boolean => {
  const tar = which("tar")
  if (tar === undefined) return false
  const r = spawnSync(tar, ["--version"], { encoding: "utf8" })
  return r.status === 0 && r.stdout.includes("GNU tar")
}

/**
 * Whether a tool is available, without side effects. Special names: `lazypull-interop` (the built Go
 * checker) and `gnu-tar` (`tar` that is GNU tar); anything else is an executable looked up on PATH.
 */
export const hasTool = (name: string): boolean => {
  switch (name) {
    case "lazypull-interop":
      return interopBinary() !== undefined
    case "gnu-tar":
      return isGnuTar()
    default:
      return which(name) !== undefined
  }
}

const warned = new Set<string>()

/** Thrown by {@link requireTool} in CI when a tool is missing. */
export class MissingToolError extends Error {
  constructor(readonly tool: string) {
    super(
      `required tool "${tool}" is missing and CI=true: install it (.ci/run installs everything the tests need)` +
        (tool === "lazypull-interop" ? "; build it with interop/build.sh" : ""),
    )
    this.name = "MissingToolError"
  }
}

/**
 * True if the tool is available. If it is not: in CI throws {@link MissingToolError}; elsewhere prints a
 * loud warning (once per tool and process) and returns false so the caller can skip.
 *
 * @example
 * it.skipIf(!requireTool("zstd"))("reads zstd", ...)
 */
export const requireTool = (name: string): boolean => {
  if (hasTool(name)) return true
  if (isCI()) throw new MissingToolError(name)
  if (!warned.has(name)) {
    warned.add(name)
    loudWarning([
      `SKIPPING TESTS: tool "${name}" is not available.`,
      "These tests FAIL in CI (CI=true). Install it (see .ci/run)" +
        (name === "lazypull-interop" ? " and run interop/build.sh." : "."),
    ])
  }
  return false
}

/**
 * `describe` that skips (loudly) when a tool, or any of several tools, is missing; fails in CI instead.
 *
 * @example
 * describeWithTool("lazypull-interop", "matches the reference", () => { it(...) })
 */
export const describeWithTool = (
  tool: string | ReadonlyArray<string>,
  name: string,
  fn: () => void,
): void => {
  const tools = typeof tool === "string" ? [tool] : tool
  const missing = tools.filter((t) => !requireTool(t))
  describe.skipIf(missing.length > 0)(name, fn)
}
