import * as Cause from "effect/Cause"
import { CliError } from "effect/cli"

/** Exit codes of every command: 0 ok, 1 check failed, 2 usage, 3 runtime error. */
export const EXIT = { ok: 0, checkFailed: 1, usage: 2, runtime: 3 } as const

/** A check that ran and found the input bad (exit 1), as opposed to a failure to run (exit 3). */
export class CheckFailed extends Error {
  readonly _tag = "CheckFailed"
}

const isTagged = (u: unknown): u is { _tag: string; message?: string } =>
  typeof u === "object" && u !== null && typeof (u as { _tag?: unknown })._tag === "string"

/** Maps a failed run to an exit code and a one-line message (CLI parse errors were already printed). */
export const describeFailure = (cause: Cause.Cause<unknown>): { code: number; message: string } => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value
    if (e instanceof CheckFailed) return { code: EXIT.checkFailed, message: e.message }
    // effect/cli errors are usage problems, already rendered with the help text
    if (CliError.isCliError(e)) return { code: e._tag === "ShowHelp" ? EXIT.ok : EXIT.usage, message: "" }
    if (isTagged(e)) {
      const tag = e._tag
      const where = [(e as { entry?: string }).entry, (e as { offset?: number }).offset]
      const at = where[1] !== undefined ? ` (at offset ${where[1]})` : ""
      return { code: EXIT.runtime, message: `${e.message ?? tag}${at}` }
    }
    return { code: EXIT.runtime, message: String(e) }
  }
  if (Cause.hasInterrupts(cause)) return { code: 130, message: "interrupted" }
  return { code: EXIT.runtime, message: Cause.pretty(cause).split("\n")[0] ?? "unknown failure" }
}
