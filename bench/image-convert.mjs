// Benchmark (issue 5): whole-image conversion of image-a, ours (`lazypull convert oci-archive:IN
// oci-archive:OUT --oci`) vs the real containerd pipeline (`ctr-remote image convert --oci` in a private
// containerd 1.6 after `ctr-remote image import`), eStargz and zstd:chunked, in one run. Prints wall time,
// output size (sum of layer blobs) and peak RSS with ratios, and checks both outputs with `lazypull check`.
// Needs root, containerd, ctr and ctr-remote (Debian: containerd, stargz-snapshotter). Nothing is asserted
// beyond "every command succeeded and every output checks".
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { best, cli, fmt, have, mb, measure, outDir, root, shared, table } from "./lib.mjs"

const RUNS = Number(process.env.BENCH_RUNS ?? 2)
const input = join(shared, "fixtures/image-a/image-a.oci.tar")
if (!have(input)) {
  console.log(`!!! ${input} not found: image-a comes from ../shared/fixtures`)
  process.exit(1)
}
const testkit = join(root, "packages/testkit/dist/Containerd.js")
if (!have(testkit)) {
  console.log("!!! packages/testkit/dist is missing: run node_modules/.bin/tsc -b")
  process.exit(1)
}
const { startContainerd } = await import(testkit)
for (const tool of ["containerd", "ctr", "ctr-remote"])
  if (spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) {
    console.log(`!!! ${tool} is missing: apt-get install containerd stargz-snapshotter`)
    process.exit(1)
  }
if (process.getuid() !== 0) {
  console.log("!!! a private containerd needs root")
  process.exit(1)
}

const modes = [
  { name: "eStargz", tag: "esgz", ours: ["--oci"], ref: ["--estargz", "--oci"] },
  {
    name: "zstd:chunked",
    tag: "zstdchunked",
    ours: ["--oci", "--zstdchunked"],
    ref: ["--zstdchunked", "--oci"],
  },
]

/** `lazypull check IMAGE` must exit 0; returns how many layers it checked. */
const check = (image) => {
  const r = spawnSync("node", [cli, "check", image, "--json"], { encoding: "utf8", maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`lazypull check ${image} failed (${r.status}): ${r.stdout} ${r.stderr}`)
  const report = JSON.parse(r.stdout)
  const layers = report.images.flatMap((i) => i.layers)
  if (!report.ok || layers.some((l) => !l.lazy)) throw new Error(`lazypull check ${image}: not lazy-pullable`)
  return layers.length
}

/** Peak RSS (VmHWM) of a process in MiB; `reset` clears the high-water mark first (Linux clear_refs 5). */
const hwm = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024
const resetHwm = (pid) => writeFileSync(`/proc/${pid}/clear_refs`, "5")

const results = []

// ours: the CLI reads the archive and writes the converted archive (atomically), one process
for (const mode of modes) {
  const out = join(outDir, `ours-image-a-${mode.tag}.oci.tar`)
  const r = best(RUNS, () =>
    measure("node", [
      cli,
      "convert",
      `oci-archive:${input}`,
      `oci-archive:${out}:latest`,
      ...mode.ours,
      "--json",
    ]),
  )
  const converted = JSON.parse(r.stdout)
  const bytes = converted.images.flatMap((i) => i.layers).reduce((s, l) => s + l.descriptor.size, 0)
  const layers = check(`oci-archive:${out}`)
  results.push({ mode: mode.name, tool: "ours", secs: r.secs, bytes, rss: r.rssMiB, rssNote: "CLI", layers })
}

// reference: ctr-remote in a private containerd; the source is imported first (not timed), then only
// `ctr-remote image convert` is timed: it reads the layers from containerd's content store over gRPC and
// writes the converted blobs back into it
const rig = mkdtempSync(join(tmpdir(), "lazypull-bench-"))
const containerd = await startContainerd({ dir: rig })
try {
  const ctrOk = async (cmd, args) => {
    const r = await containerd.client(cmd, args)
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`)
    return r.stdout.toString("utf8")
  }
  // the archive names its image (io.containerd.image.name), as `nerdctl save` writes it
  await ctrOk("ctr-remote", ["image", "import", input])
  const src = (await ctrOk("ctr", ["image", "ls", "-q"])).trim()
  if (src.includes("\n") || src === "")
    throw new Error(`expected one imported image, got ${JSON.stringify(src)}`)
  for (const mode of modes) {
    const dst = `${src}-${mode.tag}`
    let daemonRss = 0
    const r = best(RUNS, () => {
      // a fresh destination each run: drop the previous result and garbage-collect its blobs (not timed)
      spawnSync("ctr", ["--address", containerd.address, "image", "rm", "--sync", dst])
      resetHwm(containerd.pid)
      const m = measure("ctr-remote", [
        "--address",
        containerd.address,
        "image",
        "convert",
        ...mode.ref,
        src,
        dst,
      ])
      daemonRss = Math.max(daemonRss, hwm(containerd.pid))
      return m
    })
    const line = (await ctrOk("ctr", ["image", "ls"])).split("\n").find((l) => l.startsWith(`${dst} `))
    const digest = line.trim().split(/\s+/)[2]
    const manifest = JSON.parse(await ctrOk("ctr", ["content", "get", digest]))
    const bytes = manifest.layers.reduce((s, l) => s + l.size, 0)
    const exported = join(outDir, `ref-image-a-${mode.tag}.oci.tar`)
    await ctrOk("ctr", ["image", "export", exported, dst])
    const layers = check(`oci-archive:${exported}`)
    results.push({
      mode: mode.name,
      tool: "reference",
      secs: r.secs,
      bytes,
      rss: r.rssMiB + daemonRss,
      rssNote: `ctr-remote ${fmt(r.rssMiB, 0)} + containerd ${fmt(daemonRss, 0)}`,
      layers,
    })
  }
} finally {
  await containerd.stop()
  rmSync(rig, { recursive: true, force: true })
}

const rows = [
  ["format", "tool", "wall s", "x ref", "layers MB", "size/ref", "peak RSS MiB", "(of which)", "check"],
]
for (const mode of modes) {
  const ref = results.find((r) => r.mode === mode.name && r.tool === "reference")
  for (const r of [ref, results.find((x) => x.mode === mode.name && x.tool === "ours")])
    rows.push([
      mode.name,
      r.tool === "ours" ? "lazypull convert" : "ctr-remote image convert",
      fmt(r.secs),
      fmt(ref.secs / r.secs),
      fmt(mb(r.bytes)),
      fmt(r.bytes / ref.bytes, 3),
      fmt(r.rss, 0),
      r.rssNote,
      `ok (${r.layers} layers)`,
    ])
}
console.log(
  `\n== image-a (3 layers, 42.9 MB uncompressed) conversion, best of ${RUNS}; x ref = reference time / ours (>1: we are faster)`,
)
console.log(
  "   ours: whole CLI run, oci-archive in -> oci-archive out (process start, reading and writing the archives included)",
)
console.log(
  "   reference: `ctr-remote image convert` only, reading the imported source from containerd's content store and writing into it (import/export not timed)",
)
table(rows)
