import * as Cause from "effect/Cause"
import { CliError } from "effect/cli"

/** Exit codes of every command: 0 ok, 1 check failed, 2 usage, 3 runtime error. */
export const EXIT = { ok: 0, checkFailed: 1, usage: 2, runtime: 3, interrupted: 130 } as const

/** Collapses a message to one line (the CLI's errors are always one line). */
export const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, " ").trim()

/**
 * A command that failed with a rendered one-line message and its exit code: a check that found the input
 * bad (1), a bad invocation the parser could not see (2), or a failure to run (3).
 *
 * @example
 * Effect.fail(new CommandFailed(EXIT.checkFailed, "layer.esgz: TOC digest is sha256:…, want sha256:…"))
 */
export class CommandFailed extends Error {
  readonly _tag = "CommandFailed"
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(oneLine(message))
  }
}

/** A check that ran and found the input bad (exit 1), as opposed to a failure to run (exit 3). */
export const checkFailed = (message: string): CommandFailed => new CommandFailed(EXIT.checkFailed, message)

/** A flag value the parser accepted but the command cannot use (exit 2). */
export const usageFailed = (message: string): CommandFailed => new CommandFailed(EXIT.usage, message)

/** A failure to run: I/O, unreadable or unsupported input (exit 3). */
export const runtimeFailed = (message: string): CommandFailed => new CommandFailed(EXIT.runtime, message)

const firstLine = (s: string): string => s.split("\n")[0] ?? s

/** One line for one parse error, with the parser's suggestions inline. */
const parseErrorLine = (e: CliError.NonShowHelpErrors): string => {
  const suggestions = "suggestions" in e ? e.suggestions : []
  const hint = suggestions.length > 0 ? ` (did you mean ${suggestions.join(" or ")}?)` : ""
  // the command is named at the start of the line already
  return `${firstLine(e.message)
    .replace(/ in command [^\n]*$/, "")
    .replace(/ for "[^"]*"$/, "")}${hint}`
}

/**
 * The usage line for a bad invocation: where (the command), every parse error, and where to find help.
 *
 * @example
 * usageLine(["lazypull", "layer", "ls"], errors) // 'layer ls: Missing required argument: BLOB; see "lazypull layer ls --help"'
 */
export const usageLine = (
  commandPath: ReadonlyArray<string>,
  errors: ReadonlyArray<CliError.NonShowHelpErrors>,
): string => {
  const what = errors.length > 0 ? errors.map(parseErrorLine).join("; ") : "missing subcommand"
  const where = commandPath.slice(1).join(" ")
  return oneLine(`${where ? `${where}: ` : ""}${what}; see "${commandPath.join(" ")} --help"`)
}

/** Maps a failed run to an exit code and a one-line message for stderr. */
export const describeFailure = (cause: Cause.Cause<unknown>): { code: number; message: string } => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value
    if (e instanceof CommandFailed) return { code: e.exitCode, message: e.message }
    if (CliError.isCliError(e)) {
      if (e._tag === "ShowHelp") return { code: EXIT.usage, message: usageLine(e.commandPath, e.errors) }
      return { code: EXIT.usage, message: oneLine(e.message) }
    }
    return { code: EXIT.runtime, message: oneLine(e instanceof Error ? e.message : String(e)) }
  }
  const defect = Cause.findDefect(cause)
  if (defect._tag === "Success") {
    const d = defect.success
    return {
      code: EXIT.runtime,
      message: `internal error: ${oneLine(d instanceof Error ? d.message : String(d))}`,
    }
  }
  if (Cause.hasInterrupts(cause)) return { code: EXIT.interrupted, message: "interrupted" }
  return { code: EXIT.runtime, message: `internal error: ${oneLine(Cause.pretty(cause)).slice(0, 500)}` }
}
