import { existsSync } from "node:fs"
import { join } from "node:path"
import { runCommand } from "./Command.ts"
import { repoRoot } from "./Paths.ts"

/** Where `interop/build.sh` puts the Go checker. */
export const interopBinaryPath = (): string => join(repoRoot(), "interop", "bin", "lazypull-interop")

/** Path of the lazypull-interop binary (`$LAZYPULL_INTEROP_BIN` or interop/bin), or undefined if not built. */
export const interopBinary = (): string | undefined => {
  const override = process.env.LAZYPULL_INTEROP_BIN
  if (override !== undefined && override !== "") return existsSync(override) ? override : undefined
  const p = interopBinaryPath()
  return existsSync(p) ? p : undefined
}

/** Result of one lazypull-interop run: exit code, the parsed JSON document (undefined if none) and stderr. */
export interface InteropResult {
  readonly code: number
  readonly json: any
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs lazypull-interop (GOMAXPROCS=2 unless set, like the reference fixtures) and parses its JSON output.
 * Rejects if the binary is not built; check with `requireTool("lazypull-interop")` first.
 *
 * @example
 * const { code, json } = await runInterop(["listtar", "--in", fixture("pax.tar")])
 */
export const runInterop = async (args: ReadonlyArray<string>): Promise<InteropResult> => {
  const bin = interopBinary()
  if (bin === undefined) {
    throw new Error(`lazypull-interop is not built (${interopBinaryPath()}): run interop/build.sh`)
  }
  const r = await runCommand(bin, args, { env: { GOMAXPROCS: process.env.GOMAXPROCS ?? "2" } })
  const stdout = r.stdout.toString("utf8")
  let json: any
  try {
    json = stdout.trim() === "" ? undefined : JSON.parse(stdout)
  } catch {
    json = undefined
  }
  return { code: r.code, json, stdout, stderr: r.stderr }
}
