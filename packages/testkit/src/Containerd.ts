import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { type CommandOptions, type CommandResult, runCommand } from "./Command.ts"
import { isCI, loudWarning, which } from "./Env.ts"
import { tmpDir } from "./TmpDir.ts"
import { requireTool } from "./Tools.ts"

/** Options for {@link startContainerd}. */
export interface ContainerdOptions {
  /** Directory holding the daemon's root, state, sockets, config and log (default: a fresh {@link tmpDir}). */
  readonly dir?: string
  /** How long to wait for `ctr version` to answer, in milliseconds (default 15000). */
  readonly readyTimeoutMs?: number
}

/** Options of one client command run against a private containerd. */
export interface CtrOptions extends CommandOptions {
  /** containerd namespace (`--namespace`; default: ctr's own, `default`). */
  readonly namespace?: string
}

/** One row of `ctr plugins ls`. */
export interface ContainerdPlugin {
  readonly type: string
  readonly id: string
  readonly status: string
}

/** A private containerd daemon started by {@link startContainerd}. */
export interface Containerd {
  /** Directory holding root/, state/, config.toml, containerd.log and the sockets. */
  readonly dir: string
  /** containerd's root directory (content store, snapshotters, metadata). */
  readonly root: string
  /** The gRPC socket every client command is pointed at. */
  readonly address: string
  /** The daemon's process id. */
  readonly pid: number
  /** Runs `ctr --address <socket> [--namespace ns] ...args` (never throws on a non-zero exit). */
  readonly ctr: (args: ReadonlyArray<string>, options?: CtrOptions) => Promise<CommandResult>
  /** Like {@link Containerd.ctr} but rejects, with stderr and the daemon log's tail, unless it exits 0. */
  readonly ctrOk: (args: ReadonlyArray<string>, options?: CtrOptions) => Promise<CommandResult>
  /**
   * Runs another ctr-style client (e.g. `ctr-remote`) with the same `--address` (and `--namespace`) flags.
   *
   * @example
   * await containerd.client("ctr-remote", ["image", "convert", "--estargz", "--oci", src, dst])
   */
  readonly client: (cmd: string, args: ReadonlyArray<string>, options?: CtrOptions) => Promise<CommandResult>
  /** The plugins the daemon loaded, with their status (`ok`, `skip`, `error`). */
  readonly plugins: () => Promise<ReadonlyArray<ContainerdPlugin>>
  /** The daemon's log so far. */
  readonly log: () => string
  /** Stops the daemon (SIGTERM, then SIGKILL after 10 s) and waits until it has exited; idempotent. */
  readonly stop: () => Promise<void>
}

/** Thrown by {@link requireContainerd} in CI when containerd cannot be run here. */
export class ContainerdUnavailableError extends Error {
  constructor(readonly why: string) {
    super(`containerd tests cannot run and CI=true: ${why}`)
    this.name = "ContainerdUnavailableError"
  }
}

let warnedRoot = false

/**
 * True if a private containerd can be started here: running as root with `containerd`, `ctr` and any
 * `extraTools` installed. Otherwise: in CI throws (a missing tool via `requireTool`); elsewhere warns loudly
 * and returns false so the caller can skip.
 *
 * @example
 * describe.skipIf(!requireContainerd())("in containerd", () => { ... })
 */
export const requireContainerd = (extraTools: ReadonlyArray<string> = []): boolean => {
  const tools = ["containerd", "ctr", ...extraTools].filter((t) => !requireTool(t))
  if (tools.length > 0) return false
  if (process.getuid?.() !== 0) {
    const why = "a private containerd needs root (it mounts snapshots and chowns files while unpacking)"
    if (isCI()) throw new ContainerdUnavailableError(why)
    if (!warnedRoot) {
      warnedRoot = true
      loudWarning([`SKIPPING TESTS: ${why}.`, "These tests FAIL in CI (CI=true), which runs as root."])
    }
    return false
  }
  return true
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const tail = (text: string, lines = 30): string => text.trimEnd().split("\n").slice(-lines).join("\n")

/**
 * Starts a private containerd (its own root, state and sockets under `dir`, the CRI plugin disabled, nothing
 * system-wide touched) and resolves once `ctr version` answers. Stop it with {@link Containerd.stop}; it is
 * also killed when the process exits. Needs root and Debian's `containerd` and `ctr` (see
 * {@link requireContainerd}).
 *
 * @example
 * const containerd = await startContainerd()
 * try { await containerd.ctrOk(["image", "import", "--base-name", "x", archive]) } finally { await containerd.stop() }
 */
export const startContainerd = async (options: ContainerdOptions = {}): Promise<Containerd> => {
  const containerdBin = which("containerd")
  const ctrBin = which("ctr")
  if (containerdBin === undefined || ctrBin === undefined)
    throw new Error("startContainerd: containerd and ctr must be on PATH (apt-get install containerd)")
  const dir = options.dir ?? tmpDir()
  mkdirSync(dir, { recursive: true })
  const root = join(dir, "root")
  const address = join(dir, "containerd.sock")
  // sun_path holds 108 bytes; the ttrpc socket name is the longest
  if (Buffer.byteLength(`${address}.ttrpc`) > 107)
    throw new Error(`startContainerd: socket path too long for a unix socket: ${address}.ttrpc`)
  if (existsSync(address))
    throw new Error(`startContainerd: ${address} exists; is a daemon running in ${dir}?`)
  const config = join(dir, "config.toml")
  writeFileSync(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(join(dir, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = ${JSON.stringify(address)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
      "[debug]",
      `  address = ${JSON.stringify(join(dir, "debug.sock"))}`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(join(dir, "opt"))}`,
      "",
    ].join("\n"),
  )
  const logFile = join(dir, "containerd.log")
  const logFd = openSync(logFile, "w")
  let child: ChildProcess
  try {
    child = spawn(containerdBin, ["--config", config], { stdio: ["ignore", logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "")
  const running = () => child.exitCode === null && child.signalCode === null
  // settles when the daemon has exited, or could not be started at all
  const exited = new Promise<Error | undefined>((resolve) => {
    child.once("exit", () => resolve(undefined))
    child.once("error", (e) => resolve(e))
  })
  const killAtExit = () => {
    if (running()) child.kill("SIGKILL")
  }
  process.once("exit", killAtExit)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      if (running() && child.pid !== undefined) {
        child.kill("SIGTERM")
        const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])
        if (!done) {
          child.kill("SIGKILL")
          await exited
        }
      }
      process.removeListener("exit", killAtExit)
    })()
    return stopping
  }

  const client = (cmd: string, args: ReadonlyArray<string>, opts: CtrOptions = {}) => {
    const { namespace, ...rest } = opts
    const global = ["--address", address, ...(namespace === undefined ? [] : ["--namespace", namespace])]
    return runCommand(cmd, [...global, ...args], rest)
  }
  const ctr = (args: ReadonlyArray<string>, opts?: CtrOptions) => client(ctrBin, args, opts)
  const ctrOk = async (args: ReadonlyArray<string>, opts?: CtrOptions) => {
    const r = await ctr(args, opts)
    if (r.code !== 0)
      throw new Error(
        `ctr ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}\n--- containerd.log (tail) ---\n${tail(log())}`,
      )
    return r
  }
  const plugins = async () => {
    const r = await ctrOk(["plugins", "ls"])
    return r.stdout
      .toString("utf8")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length >= 3)
      .map((cols) => ({ type: cols[0]!, id: cols[1]!, status: cols[cols.length - 1]! }))
  }

  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
  for (;;) {
    const early = await Promise.race([exited, sleep(0).then(() => null)])
    if (early !== null) {
      await stop()
      const why =
        early === undefined
          ? `exited (${child.exitCode ?? child.signalCode})`
          : `could not start: ${early.message}`
      throw new Error(`startContainerd: containerd ${why}\n${tail(log())}`)
    }
    const r = await ctr(["version"])
    if (r.code === 0) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(
        `startContainerd: ctr version did not answer in time: ${r.stderr.trim()}\n${tail(log())}`,
      )
    }
    await sleep(100)
  }
  return { dir, root, address, pid: child.pid ?? -1, ctr, ctrOk, client, plugins, log, stop }
}
