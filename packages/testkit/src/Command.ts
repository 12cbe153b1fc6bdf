import { spawn } from "node:child_process"

/** What a finished command printed and how it exited (`code` is 128+signal when killed by a signal). */
export interface CommandResult {
  readonly code: number
  readonly stdout: Buffer
  readonly stderr: string
}

/** Options for {@link runCommand}. */
export interface CommandOptions {
  readonly cwd?: string
  readonly env?: Record<string, string | undefined>
  /** Bytes written to the command's stdin (stdin is closed either way). */
  readonly input?: Uint8Array | string
}

const signalCodes: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 }

/**
 * Runs a command without a shell and collects its output; rejects only when it cannot be started.
 *
 * @example
 * const r = await runCommand("tar", ["-tf", fixture("ustar.tar")]) // r.code === 0
 */
export const runCommand = (cmd: string, args: ReadonlyArray<string>, options: CommandOptions = {}) =>
  new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: ["pipe", "pipe", "pipe"],
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => out.push(b))
    child.stderr.on("data", (b: Buffer) => err.push(b))
    child.stdin.on("error", () => {
      // the command may exit without reading its input
    })
    child.on("error", reject)
    child.on("close", (code, signal) => {
      resolve({
        code: code ?? 128 + (signal ? (signalCodes[signal] ?? 0) : 0),
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString("utf8"),
      })
    })
    child.stdin.end(options.input ?? "")
  })
