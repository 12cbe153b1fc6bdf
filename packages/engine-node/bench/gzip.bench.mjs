#!/usr/bin/env node
// gzip compression throughput on this machine, to decide how the eStargz writer schedules work.
//
// Compresses ~200 MB of real files (a sorted walk of /usr/lib) in 4 MiB pieces, one gzip member
// per piece (as eStargz does per chunk), with: zlib sync one at a time, zlib async (the engine's
// `compress`, libuv threadpool) with 2/3/4 pieces in flight, and fflate (the portable engine).
// Each configuration runs in its own process so that its peak RSS is its own.
// Runs on the built output: `tsc -b` first.
//
//   node bench/gzip.bench.mjs [--mb 200] [--dir /usr/lib] [--levels 9,6]
import { spawnSync } from "node:child_process"
import { lstatSync, openSync, readSync, closeSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const MB = Number(opt("mb", process.env.LAZYPULL_BENCH_MB ?? "200"))
const DIR = opt("dir", "/usr/lib")
const LEVELS = opt("levels", "9,6").split(",").map(Number)
const PIECE = 4 * 1024 * 1024

/** Regular files under `dir`, depth-first in sorted order (the same list in every process). */
function* walk(dir) {
  let names
  try {
    names = readdirSync(dir).sort()
  } catch {
    return
  }
  for (const name of names) {
    const p = join(dir, name)
    let st
    try {
      st = lstatSync(p)
    } catch {
      continue
    }
    if (st.isDirectory()) yield* walk(p)
    else if (st.isFile() && st.size > 0) yield p
  }
}

/** Yields 4 MiB pieces of the concatenated files until `MB` megabytes were produced. */
function* pieces() {
  const total = MB * 1e6
  let produced = 0
  let piece = Buffer.allocUnsafe(PIECE)
  let fill = 0
  for (const file of walk(DIR)) {
    let fd
    try {
      fd = openSync(file, "r")
    } catch {
      continue
    }
    try {
      for (;;) {
        const want = Math.min(PIECE - fill, total - produced - fill)
        if (want <= 0) break
        const n = readSync(fd, piece, fill, want, null)
        if (n === 0) break
        fill += n
        if (fill === PIECE || produced + fill >= total) {
          yield piece.subarray(0, fill)
          produced += fill
          piece = Buffer.allocUnsafe(PIECE)
          fill = 0
          if (produced >= total) return
        }
      }
    } catch {
      // unreadable file: skip
    } finally {
      closeSync(fd)
    }
  }
  if (fill > 0) yield piece.subarray(0, fill)
}

const runChild = async (mode, level, inFlight) => {
  const t0 = process.hrtime.bigint()
  let inBytes = 0
  let outBytes = 0
  if (mode === "read") {
    for (const p of pieces()) inBytes += p.length
  } else if (mode === "zlib-sync") {
    for (const p of pieces()) {
      inBytes += p.length
      outBytes += zlib.gzipSync(p, { level }).length
    }
  } else if (mode === "fflate-sync") {
    const { Effect } = await import("effect")
    const { PortableGzip } = await import("@lazypull/engine-portable")
    const engine = PortableGzip.make()
    for (const p of pieces()) {
      inBytes += p.length
      outBytes += Effect.runSync(engine.compress(p, level)).length
    }
  } else if (mode === "zlib-async") {
    const { Effect } = await import("effect")
    const { NodeGzip } = await import("../dist/index.js")
    const engine = NodeGzip.make()
    const running = new Set()
    for (const p of pieces()) {
      inBytes += p.length
      const job = Effect.runPromise(engine.compress(p, level)).then((m) => {
        outBytes += m.length
        running.delete(job)
      })
      running.add(job)
      if (running.size >= inFlight) await Promise.race(running)
    }
    await Promise.all(running)
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const result = {
    mode,
    level,
    inFlight,
    inBytes,
    outBytes,
    seconds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

const main = () => {
  const self = fileURLToPath(import.meta.url)
  const run = (mode, level, inFlight) => {
    const r = spawnSync(
      process.execPath,
      [self, "--child", mode, String(level), String(inFlight), "--mb", String(MB), "--dir", DIR],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    )
    if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split("\n").pop())
  }
  const fmt = (x, w) => String(x).padStart(w)
  console.log(
    `gzip bench: ${MB} MB from ${DIR} in 4 MiB members; ${process.version}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`,
  )
  run("read", 0, 0) // warm the page cache
  const read = run("read", 0, 0)
  console.log(
    `reading the input alone: ${(read.inBytes / 1e6 / read.seconds).toFixed(0)} MB/s, peak RSS ${read.peakRssMB.toFixed(0)} MB`,
  )
  console.log(
    `${"configuration".padEnd(24)}${fmt("level", 6)}${fmt("MB/s", 9)}${fmt("ratio", 8)}${fmt("seconds", 9)}${fmt("peak RSS MB", 13)}`,
  )
  for (const level of LEVELS) {
    const configs = [
      ["zlib sync, sequential", "zlib-sync", 1],
      ["zlib async, 2 in flight", "zlib-async", 2],
      ["zlib async, 3 in flight", "zlib-async", 3],
      ["zlib async, 4 in flight", "zlib-async", 4],
      ["fflate sync", "fflate-sync", 1],
    ]
    for (const [label, mode, inFlight] of configs) {
      const r = run(mode, level, inFlight)
      console.log(
        `${label.padEnd(24)}${fmt(level, 6)}${fmt((r.inBytes / 1e6 / r.seconds).toFixed(1), 9)}${fmt(
          (r.outBytes / r.inBytes).toFixed(3),
          8,
        )}${fmt(r.seconds.toFixed(1), 9)}${fmt(r.peakRssMB.toFixed(0), 13)}`,
      )
    }
  }
}

const child = args.indexOf("--child")
if (child >= 0) {
  await runChild(args[child + 1], Number(args[child + 2]), Number(args[child + 3]))
} else {
  main()
}
