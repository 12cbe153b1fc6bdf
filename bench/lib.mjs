// Shared helpers of the benchmarks: run a command under GNU time, measure wall time and peak RSS.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const root = join(dirname(fileURLToPath(import.meta.url)), "..")
export const outDir = join(root, "bench", "out")
mkdirSync(outDir, { recursive: true })
export const cli = join(root, "apps", "cli", "bin", "lazypull.js")
export const interop = join(root, "interop", "bin", "lazypull-interop")
export const shared = join(root, "..", "shared")

/**
 * Runs `cmd args` and returns wall seconds, CPU seconds (user + system, all threads), peak RSS in MiB
 * and stdout.
 */
export const measure = (cmd, args, env = {}) => {
  const t0 = process.hrtime.bigint()
  const r = spawnSync("/usr/bin/time", ["-f", "__RSS_KB=%M __CPU=%U+%S", cmd, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    maxBuffer: 1 << 28,
  })
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const m = /__RSS_KB=(\d+)/.exec(r.stderr ?? "")
  const c = /__CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr ?? "")
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}`)
  return {
    secs,
    cpuSecs: c ? Number(c[1]) + Number(c[2]) : Number.NaN,
    rssMiB: m ? Number(m[1]) / 1024 : Number.NaN,
    stdout: r.stdout,
  }
}

/** Best of `n` runs (least noisy on a shared 2-core machine); peak RSS is the highest of them. */
export const best = (n, f) => {
  let b
  for (let i = 0; i < n; i++) {
    const r = f()
    if (!b || r.secs < b.secs) b = { ...r, rssMiB: Math.max(r.rssMiB, b?.rssMiB ?? 0) }
  }
  return b
}

/** The 1-minute load average: other work on the machine makes wall times noisy. */
export const loadAverage = () => {
  try {
    return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0])
  } catch {
    return Number.NaN
  }
}

export const size = (p) => statSync(p).size
export const have = (p) => existsSync(p)
export const mb = (bytes) => bytes / 1e6
export const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "n/a")

/** Prints rows as an aligned table. */
export const table = (rows) => {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join("  "))
}
