#!/usr/bin/env node
// zstd throughput on this machine, to decide how the zstd:chunked writer schedules frames.
//
// Compresses ~200 MB of real files (a sorted walk of /usr/lib) in 4 MiB pieces, one zstd frame per
// piece (as zstd:chunked does per chunk), with: the portable engine (zstd-wasm on the main thread,
// one at a time), the Node engine (zstd-wasm in worker threads) with 1/2/3/4 pieces in flight, the
// native engine (zstd-napi in worker threads) when it loads, and the zstd CLI as the reference. Then
// it decodes the frames: one-shot per frame (zstd-wasm, or libzstd for the native engine) and
// streaming (fzstd). Each configuration runs in its own process so that its peak RSS is its own.
// Runs on the built output: `tsc -b` first.
//
//   node bench/zstd.bench.mjs [--mb 200] [--dir /usr/lib] [--level 3] [--piece 4194304]
//   LAZYPULL_ZSTD_NAPI=/path/to/node_modules/zstd-napi node bench/zstd.bench.mjs   # native rows
import { spawn, spawnSync } from "node:child_process"
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const MB = Number(opt("mb", process.env.LAZYPULL_BENCH_MB ?? "200"))
const DIR = opt("dir", "/usr/lib")
const LEVEL = Number(opt("level", "3"))
const PIECE = Number(opt("piece", String(4 * 1024 * 1024)))
const NAPI = process.env.LAZYPULL_ZSTD_NAPI ?? "zstd-napi"

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

/** Yields `PIECE`-byte pieces of the concatenated files until `MB` megabytes were produced. */
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

/** Compresses every piece with `engine`, `inFlight` at a time; keeps the frames when asked. */
const compressAll = async (Effect, engine, inFlight, keep) => {
  let inBytes = 0
  let outBytes = 0
  const frames = []
  const running = new Set()
  for (const p of pieces()) {
    inBytes += p.length
    const job = Effect.runPromise(engine.compress(p, LEVEL)).then((f) => {
      outBytes += f.length
      if (keep) frames.push([p.length, f])
      running.delete(job)
    })
    running.add(job)
    if (running.size >= inFlight) await Promise.race(running)
  }
  await Promise.all(running)
  return { inBytes, outBytes, frames }
}

const runChild = async (mode, inFlight) => {
  const { Effect, Exit, Scope } = await import("effect")
  const { PortableZstd } = await import("@lazypull/engine-portable")
  const { NodeZstd } = await import("../dist/index.js")
  const scope = Effect.runSync(Scope.make())
  const scoped = (effect) => Effect.runPromise(Scope.provide(scope)(effect))
  let inBytes = 0
  let outBytes = 0
  let seconds = 0
  const t0 = process.hrtime.bigint()
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9
  if (mode === "read") {
    for (const p of pieces()) inBytes += p.length
    seconds = elapsed()
  } else if (mode === "cli") {
    const child = spawn("zstd", [`-${LEVEL}`, "-T1", "-c", "-q"], { stdio: ["pipe", "pipe", "inherit"] })
    child.stdout.on("data", (d) => {
      outBytes += d.length
    })
    const done = new Promise((resolve) => child.on("close", resolve))
    for (const p of pieces()) {
      inBytes += p.length
      if (!child.stdin.write(p)) await new Promise((resolve) => child.stdin.once("drain", resolve))
    }
    child.stdin.end()
    await done
    seconds = elapsed()
  } else if (mode === "portable" || mode === "workers" || mode === "native") {
    const engine =
      mode === "portable"
        ? PortableZstd.make()
        : mode === "workers"
          ? await scoped(NodeZstd.make())
          : await scoped(NodeZstd.makeNative({ module: NAPI }))
    const r = await compressAll(Effect, engine, mode === "portable" ? 1 : inFlight, false)
    inBytes = r.inBytes
    outBytes = r.outBytes
    seconds = elapsed()
  } else if (mode === "decode-wasm" || mode === "decode-native" || mode === "inflate-fzstd") {
    // make the frames first (untimed), then decode them all
    const maker =
      mode === "decode-native"
        ? await scoped(NodeZstd.makeNative({ module: NAPI }))
        : await scoped(NodeZstd.make())
    const { frames } = await compressAll(Effect, maker, 4, true)
    const decoder = mode === "decode-wasm" ? PortableZstd.make() : maker
    const t1 = process.hrtime.bigint()
    if (mode === "inflate-fzstd") {
      const inflater = Effect.runSync(decoder.inflater())
      for (const [, f] of frames) {
        outBytes += f.length
        for (const c of Effect.runSync(inflater.push(f))) inBytes += c.length
      }
      for (const c of Effect.runSync(inflater.end())) inBytes += c.length
    } else {
      for (const [size, f] of frames) {
        outBytes += f.length
        inBytes += (await Effect.runPromise(decoder.decompress(f, size))).length
      }
    }
    seconds = Number(process.hrtime.bigint() - t1) / 1e9
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  const result = {
    mode,
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
  const run = (mode, inFlight) => {
    const r = spawnSync(
      process.execPath,
      [
        self,
        "--child",
        mode,
        String(inFlight),
        "--mb",
        String(MB),
        "--dir",
        DIR,
        "--level",
        String(LEVEL),
        "--piece",
        String(PIECE),
      ],
      { encoding: "utf8", maxBuffer: 1 << 20 },
    )
    if (r.status !== 0) return { error: r.stderr.trim().split("\n").slice(-3).join(" / ") }
    return JSON.parse(r.stdout.trim().split("\n").pop())
  }
  const fmt = (x, w) => String(x).padStart(w)
  console.log(
    `zstd bench: ${MB} MB from ${DIR} in ${PIECE}-byte frames, level ${LEVEL}; ${process.version}, ${availableParallelism()} cores`,
  )
  run("read", 0) // warm the page cache
  const read = run("read", 0)
  console.log(
    `reading the input alone: ${(read.inBytes / 1e6 / read.seconds).toFixed(0)} MB/s, peak RSS ${read.peakRssMB.toFixed(0)} MB`,
  )
  console.log(
    `${"compression".padEnd(34)}${fmt("MB/s", 9)}${fmt("ratio", 8)}${fmt("seconds", 9)}${fmt("peak RSS MB", 13)}`,
  )
  const hasCli = spawnSync("zstd", ["--version"]).status === 0
  const configs = [
    ["portable (zstd-wasm, main thread)", "portable", 1],
    ["workers (zstd-wasm), 1 in flight", "workers", 1],
    ["workers (zstd-wasm), 2 in flight", "workers", 2],
    ["workers (zstd-wasm), 3 in flight", "workers", 3],
    ["workers (zstd-wasm), 4 in flight", "workers", 4],
    ["native (zstd-napi), 1 in flight", "native", 1],
    ["native (zstd-napi), 2 in flight", "native", 2],
    ["native (zstd-napi), 4 in flight", "native", 4],
    ...(hasCli ? [[`zstd -${LEVEL} -T1 (CLI, one stream)`, "cli", 1]] : []),
  ]
  let nativeMissing = false
  for (const [label, mode, inFlight] of configs) {
    if (mode === "native" && nativeMissing) continue
    const r = run(mode, inFlight)
    if (r.error) {
      if (mode === "native") {
        nativeMissing = true
        console.log(
          `${"native (zstd-napi)".padEnd(34)}  not available (set LAZYPULL_ZSTD_NAPI or install zstd-napi)`,
        )
        continue
      }
      throw new Error(`${label}: ${r.error}`)
    }
    console.log(
      `${label.padEnd(34)}${fmt((r.inBytes / 1e6 / r.seconds).toFixed(1), 9)}${fmt((r.outBytes / r.inBytes).toFixed(3), 8)}${fmt(
        r.seconds.toFixed(1),
        9,
      )}${fmt(r.peakRssMB.toFixed(0), 13)}`,
    )
  }
  console.log(
    `${"decompression (MB/s of output)".padEnd(34)}${fmt("MB/s", 9)}${fmt("", 8)}${fmt("seconds", 9)}${fmt("peak RSS MB", 13)}`,
  )
  const decoders = [
    ["one-shot per frame (zstd-wasm)", "decode-wasm"],
    ["streaming inflater (fzstd)", "inflate-fzstd"],
    ...(nativeMissing ? [] : [["one-shot per frame (zstd-napi)", "decode-native"]]),
  ]
  for (const [label, mode] of decoders) {
    const r = run(mode, 1)
    if (r.error) throw new Error(`${label}: ${r.error}`)
    console.log(
      `${label.padEnd(34)}${fmt((r.inBytes / 1e6 / r.seconds).toFixed(1), 9)}${fmt("", 8)}${fmt(r.seconds.toFixed(1), 9)}${fmt(
        r.peakRssMB.toFixed(0),
        13,
      )}`,
    )
  }
}

const child = args.indexOf("--child")
if (child >= 0) {
  await runChild(args[child + 1], Number(args[child + 2]))
} else {
  main()
}
