// Benchmark (issue 4): zstd:chunked (stargz dialect) conversion, ours vs the reference builder
// (estargz 0.12 zstdchunked via interop/bin/lazypull-interop, GOMAXPROCS=2), same inputs, best of
// BENCH_RUNS (default 2). Prints throughput, CPU time, output size and peak RSS with ratios. Nothing is
// asserted. Ours uses zstd-wasm on worker threads (the CLI's default when zstd-napi is not installed);
// with BENCH_ZSTD_NAPI=<a node_modules directory holding zstd-napi> it also runs the native engine (the
// CLI finds it through NODE_PATH, as it would an installed zstd-napi).
import { join } from "node:path"
import { best, cli, fmt, have, interop, loadAverage, mb, measure, outDir, size, table } from "./lib.mjs"

const RUNS = Number(process.env.BENCH_RUNS ?? 2)
if (!have(interop)) {
  console.log("!!! interop/bin/lazypull-interop is missing: run interop/build.sh")
  process.exit(1)
}
const inputs = [
  { name: "image-a layer 0", path: join(outDir, "image-a-layer.tar") },
  { name: "/usr (~300 MB)", path: join(outDir, "usr.tar") },
].filter((i) => have(i.path))
if (inputs.length === 0) {
  console.log("run estargz-layer.mjs first: it prepares bench/out/image-a-layer.tar and bench/out/usr.tar")
  process.exit(1)
}
const napi = process.env.BENCH_ZSTD_NAPI
const engines = [
  { label: "lazypull (zstd-wasm workers)", env: {} },
  ...(napi && have(join(napi, "zstd-napi"))
    ? [{ label: "lazypull (zstd-napi)", env: { NODE_PATH: napi } }]
    : []),
]
const loadBefore = loadAverage()
const rows = [["input", "tool", "MB/s", "x ref", "CPU s", "out MB", "size/ref", "peak RSS MiB"]]
for (const input of inputs) {
  const inMB = mb(size(input.path))
  const refOut = join(outDir, "ref.zstdchunked")
  const ref = best(RUNS, () =>
    measure(interop, ["build", "--zstdchunked", "--in", input.path, "--out", refOut], { GOMAXPROCS: "2" }),
  )
  const refSize = size(refOut)
  rows.push([
    input.name,
    "reference (GOMAXPROCS=2)",
    fmt(inMB / ref.secs, 1),
    "1.00",
    fmt(ref.cpuSecs),
    fmt(mb(refSize)),
    "1.000",
    fmt(ref.rssMiB, 0),
  ])
  for (const engine of engines) {
    const ourOut = join(outDir, "ours.zstdchunked")
    const ours = best(RUNS, () =>
      measure("node", [cli, "layer", "convert", input.path, ourOut, "--zstdchunked", "--json"], engine.env),
    )
    const ourSize = size(ourOut)
    rows.push([
      input.name,
      engine.label,
      fmt(inMB / ours.secs, 1),
      fmt(ref.secs / ours.secs),
      fmt(ours.cpuSecs),
      fmt(mb(ourSize)),
      fmt(ourSize / refSize, 3),
      fmt(ours.rssMiB, 0),
    ])
  }
}
console.log(
  `\n== zstd:chunked conversion, level 3 (MB/s of uncompressed input, wall time incl. process start; best of ${RUNS}; ` +
    `CPU s: user + system of all threads; load average ${fmt(loadBefore)} before, ${fmt(loadAverage())} after)`,
)
table(rows)
