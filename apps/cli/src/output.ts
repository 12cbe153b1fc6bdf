// What every command prints: text and JSON on stdout, warnings on stderr, raw bytes that wait for the pipe.
import * as Effect from "effect/Effect"
import { runtimeFailed } from "./exit.ts"

/** Prints one line (or block) of text on stdout. */
export const print = (s: string) => Effect.sync(() => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`))

/** Prints a value as indented JSON on stdout. */
export const printJson = (v: unknown) => print(JSON.stringify(v, null, 2))

/** Prints `lazypull: warning: …` on stderr. */
export const warn = (s: string) => Effect.sync(() => process.stderr.write(`lazypull: warning: ${s}\n`))

/** Writes bytes to stdout and waits until they are handed to the OS (a closed pipe fails). */
export const writeStdout = (bytes: Uint8Array) =>
  Effect.tryPromise({
    try: () =>
      new Promise<void>((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve()))),
    catch: (e) => runtimeFailed(`cannot write to stdout: ${e instanceof Error ? e.message : String(e)}`),
  })
