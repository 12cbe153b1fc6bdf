// Times parseToc and TocIndex.build on a generated 100k-entry TOC and reports heap use.
// Run after `tsc -b` (it imports dist/): node bench/parse.bench.mjs [entries] [heapLimitMiB]
// The parent generates the JSON (estargz and compact style) into temporary files; a child process started with
// --max-old-space-size=<heapLimitMiB> (default 100) parses and indexes them, so the heap bound is enforced.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { parseToc, serializeToc, TocIndex } from "../dist/index.js"

const mib = (n) => (n / 1048576).toFixed(1)

if (process.argv[2] === "--child") {
  const [, , , file, label, dataEndText] = process.argv
  const bytes = new Uint8Array(readFileSync(file))
  const dataEnd = Number(dataEndText)
  const gc = globalThis.gc
  const heap = () => process.memoryUsage().heapUsed
  // One round in its own scope, so that nothing of it survives into the next.
  const round = () => {
    gc()
    const h0 = heap()
    const t0 = performance.now()
    const parsed = Effect.runSync(parseToc(bytes))
    const t1 = performance.now()
    const hParse = heap()
    gc()
    const tocHeap = heap() - h0
    const t2 = performance.now()
    const index = Effect.runSync(TocIndex.build(parsed, { dataEnd }))
    const t3 = performance.now()
    const hBuild = heap()
    gc()
    return {
      parse: (t1 - t0) / 1000,
      build: (t3 - t2) / 1000,
      parseGrowth: hParse - h0,
      buildGrowth: hBuild - h0,
      tocHeap,
      allHeap: heap() - h0,
      nodes: [...index.nodes()].length,
    }
  }
  const ROUNDS = 7
  const rs = Array.from({ length: ROUNDS }, round)
  const med = (k) => rs.map((r) => r[k]).sort((a, b) => a - b)[ROUNDS >> 1]
  const min = (k) => Math.min(...rs.map((r) => r[k]))
  const max = (k) => Math.max(...rs.map((r) => r[k]))
  console.log(
    `${label} (${mib(bytes.length)} MiB JSON): parseToc ${min("parse").toFixed(3)} s best / ${med("parse").toFixed(3)} s median; ` +
      `TocIndex.build ${min("build").toFixed(3)} s best / ${med("build").toFixed(3)} s median (${rs[0].nodes} nodes)`,
  )
  console.log(
    `${label}: heap growth during parse ${mib(max("parseGrowth"))} MiB (before GC), parsed Toc retained ${mib(med("tocHeap"))} MiB; ` +
      `growth by the end of build ${mib(max("buildGrowth"))} MiB, Toc + index retained ${mib(med("allHeap"))} MiB`,
  )
  process.exit(0)
}

const N = Number(process.argv[2] ?? 100_000)
const LIMIT = Number(process.argv[3] ?? 100)
const hex = (i) => i.toString(16).padStart(64, "0")

// A layer-like mix: directories, small files, symlinks, and a 3-chunk file every 50 entries.
const makeToc = () => {
  const entries = [
    {
      name: ".no.prefetch.landmark",
      type: "reg",
      size: 1,
      offset: 90,
      digest: "sha256:" + hex(1),
      chunkDigest: "sha256:" + hex(1),
    },
  ]
  let offset = 200
  let dir = ""
  for (let i = 0; entries.length < N; i++) {
    if (i % 20 === 0) {
      dir = `usr/share/pkg${i >> 5}/sub${i % 7}/`
      entries.push({ name: dir, type: "dir", modtime: "2024-01-02T03:04:05Z", mode: 493 })
      continue
    }
    const name = `${dir}file-${i}.txt`
    if (i % 10 === 3) {
      entries.push({
        name,
        type: "symlink",
        modtime: "2024-01-02T03:04:05Z",
        linkName: "../target",
        mode: 511,
      })
    } else if (i % 50 === 7) {
      const size = 2 * 4194304 + 1000
      entries.push({
        name,
        type: "reg",
        size,
        modtime: "2024-01-02T03:04:05Z",
        mode: 420,
        uid: 1000,
        gid: 1000,
        userName: "app",
        groupName: "app",
        offset,
        digest: "sha256:" + hex(i),
        chunkSize: 4194304,
        chunkDigest: "sha256:" + hex(i + 1),
      })
      entries.push({
        name,
        type: "chunk",
        offset: offset + 1000,
        chunkOffset: 4194304,
        chunkSize: 4194304,
        chunkDigest: "sha256:" + hex(i + 2),
      })
      entries.push({
        name,
        type: "chunk",
        offset: offset + 2000,
        chunkOffset: 8388608,
        chunkDigest: "sha256:" + hex(i + 3),
      })
      offset += 3000
    } else {
      const size = 1 + (i % 5000)
      entries.push({
        name,
        type: "reg",
        size,
        modtime: "2024-01-02T03:04:05Z",
        mode: 420,
        offset,
        digest: "sha256:" + hex(i),
        chunkDigest: "sha256:" + hex(i),
      })
      offset += 100
    }
  }
  return { toc: { version: 1, entries }, dataEnd: offset }
}

const { toc, dataEnd } = makeToc()
const dir = mkdtempSync(join(tmpdir(), "lazypull-toc-bench-"))
try {
  const files = []
  for (const style of ["estargz", "compact"]) {
    const file = join(dir, `${style}.json`)
    writeFileSync(file, serializeToc(toc, style))
    files.push([style, file])
  }
  console.log(`${N} entries; parsing in a child with --max-old-space-size=${LIMIT}`)
  for (const [style, file] of files) {
    const child = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        `--max-old-space-size=${LIMIT}`,
        fileURLToPath(import.meta.url),
        "--child",
        file,
        style,
        String(dataEnd),
      ],
      { stdio: "inherit" },
    )
    if (child.status !== 0)
      console.log(`${style}: child failed (status ${child.status}, signal ${child.signal})`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
