// Benchmark (issue 3): eStargz layer conversion and verification, ours vs the reference builder/reader
// (Debian's estargz 0.12 via interop/bin/lazypull-interop, GOMAXPROCS=2), on the same inputs in one run.
// Prints throughput, output size and peak RSS, and our/reference ratios. Nothing is asserted.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { best, cli, fmt, have, interop, mb, measure, outDir, shared, size, table } from "./lib.mjs"

const RUNS = Number(process.env.BENCH_RUNS ?? 2)
if (!have(interop)) {
  console.log(
    "!!! interop/bin/lazypull-interop is missing: run interop/build.sh (needs golang-go and Debian's estargz sources)",
  )
  process.exit(1)
}

// Inputs: the largest image-a source layer (uncompressed), and a ~300 MB tar of /usr.
const inputs = []
const manifest = join(
  shared,
  "fixtures/image-a/oci/blobs/sha256/ffb0ed48be049254b26686667a03b99804c5635720e4d7d2a7c433cedaa8772a",
)
if (existsSync(manifest)) {
  const layers = JSON.parse(readFileSync(manifest, "utf8")).layers
  const biggest = layers.reduce((a, b) => (b.size > a.size ? b : a))
  const out = join(outDir, "image-a-layer.tar")
  if (!have(out))
    writeFileSync(
      out,
      execFileSync(
        "gzip",
        ["-dc", join(shared, "fixtures/image-a/oci/blobs/sha256", biggest.digest.slice(7))],
        { maxBuffer: 1 << 30 },
      ),
    )
  inputs.push({ name: "image-a layer 0", path: out })
} else console.log("(../shared/fixtures not found: skipping the image-a layer)")
const usr = join(outDir, "usr.tar")
if (!have(usr)) {
  // about 300 MB of real files: /usr/lib and /usr/share until the limit
  const list = spawnSync(
    "bash",
    [
      "-c",
      "cd / && find usr/lib usr/share -type f -size -64M -printf '%s %p\\n' 2>/dev/null | sort -k2 | awk '{s+=$1; if (s > 300000000) exit; print $2}'",
    ],
    { encoding: "utf8", maxBuffer: 1 << 28 },
  ).stdout
  writeFileSync(join(outDir, "usr.list"), list)
  execFileSync("tar", ["-cf", usr, "-C", "/", "--no-recursion", "-T", join(outDir, "usr.list")])
}
inputs.push({ name: "/usr (~300 MB)", path: usr })

const rows = [["input", "level", "tool", "MB/s", "x ref", "out MB", "size/ref", "peak RSS MiB"]]
const vrows = [["input", "tool", "MB/s", "x ref", "peak RSS MiB"]]
for (const input of inputs) {
  const inMB = mb(size(input.path))
  for (const level of [9, 6]) {
    const refOut = join(outDir, "ref.esgz")
    const ref = best(RUNS, () =>
      measure(interop, ["build", "--in", input.path, "--out", refOut, "--level", String(level)], {
        GOMAXPROCS: "2",
      }),
    )
    const refJson = JSON.parse(ref.stdout)
    const refSize = size(refOut)
    rows.push([
      input.name,
      level,
      "reference (GOMAXPROCS=2)",
      fmt(inMB / ref.secs, 1),
      "1.00",
      fmt(mb(refSize)),
      "1.000",
      fmt(ref.rssMiB, 0),
    ])
    for (const engine of ["node", "portable"]) {
      if (engine === "portable" && level === 9 && inMB > 100 && !process.env.BENCH_ALL) continue
      const ourOut = join(outDir, `ours-${engine}.esgz`)
      const ours = best(RUNS, () =>
        measure("node", [
          cli,
          "layer",
          "convert",
          input.path,
          ourOut,
          "--estargz-compression-level",
          String(level),
          "--engine",
          engine,
          "--json",
        ]),
      )
      const ourSize = size(ourOut)
      rows.push([
        input.name,
        level,
        `lazypull (${engine === "node" ? "node:zlib" : "fflate"})`,
        fmt(inMB / ours.secs, 1),
        fmt(ref.secs / ours.secs),
        fmt(mb(ourSize)),
        fmt(ourSize / refSize, 3),
        fmt(ours.rssMiB, 0),
      ])
      if (level === 9 && engine === "node") {
        // verification of every file, on the reference's blob
        const rv = best(RUNS, () =>
          measure(interop, ["verify", "--in", refOut, "--toc-digest", refJson.tocDigest], {
            GOMAXPROCS: "2",
          }),
        )
        const ov = best(RUNS, () =>
          measure("node", [cli, "layer", "verify", refOut, "--toc-digest", refJson.tocDigest]),
        )
        vrows.push([input.name, "reference verify", fmt(inMB / rv.secs, 1), "1.00", fmt(rv.rssMiB, 0)])
        vrows.push([
          input.name,
          "lazypull layer verify",
          fmt(inMB / ov.secs, 1),
          fmt(rv.secs / ov.secs),
          fmt(ov.rssMiB, 0),
        ])
      }
    }
  }
}
console.log(
  "\n== eStargz conversion (MB/s of uncompressed input, wall time incl. process start; best of",
  RUNS,
  "runs)",
)
table(rows)
console.log("\n== verify every file of the reference's blob (level 9)")
table(vrows)
