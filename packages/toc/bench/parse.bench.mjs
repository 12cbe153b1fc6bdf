// Generates a 100k-entry eStargz TOC, then times parseToc and TocIndex.build and reports heap use.
// Run after `tsc -b` (it imports dist/): node --expose-gc bench/parse.bench.mjs [entries]
import { Effect } from "effect"
import { parseToc, serializeToc, TocIndex } from "../dist/index.js"

const N = Number(process.argv[2] ?? 100_000)
const gc = globalThis.gc ?? (() => {})
const mib = (n) => (n / 1048576).toFixed(1)
const hex = (i) => i.toString(16).padStart(64, "0")

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
      // a 3-chunk file (chunk size 4 MiB)
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
const json = serializeToc(toc, "estargz")
const compact = serializeToc(toc, "compact")
toc.entries.length = 0
gc()
console.log(`entries ${N}, estargz JSON ${mib(json.length)} MiB, compact JSON ${mib(compact.length)} MiB`)

const heap = () => process.memoryUsage().heapUsed
// One round in its own scope, so that nothing of it survives into the next.
const round = (bytes) => {
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
  const allHeap = heap() - h0
  return {
    parse: (t1 - t0) / 1000,
    build: (t3 - t2) / 1000,
    parseAlloc: hParse - h0,
    buildAlloc: hBuild - h0 - tocHeap,
    tocHeap,
    indexHeap: allHeap - tocHeap,
    nodes: [...index.nodes()].length,
  }
}

const ROUNDS = 7
for (const [label, bytes] of [
  ["estargz", json],
  ["compact", compact],
]) {
  const rs = Array.from({ length: ROUNDS }, () => round(bytes))
  const med = (k) => rs.map((r) => r[k]).sort((a, b) => a - b)[ROUNDS >> 1]
  const min = (k) => Math.min(...rs.map((r) => r[k]))
  const max = (k) => Math.max(...rs.map((r) => r[k]))
  console.log(
    `${label}: parseToc ${min("parse").toFixed(3)} s best / ${med("parse").toFixed(3)} s median, ` +
      `TocIndex.build ${min("build").toFixed(3)} s best / ${med("build").toFixed(3)} s median (${rs[0].nodes} nodes)`,
  )
  console.log(
    `${label}: heap growth during parse (before GC) ${mib(max("parseAlloc"))} MiB, parsed Toc retained ${mib(med("tocHeap"))} MiB; ` +
      `build growth ${mib(max("buildAlloc"))} MiB, index retained ${mib(med("indexHeap"))} MiB`,
  )
}
console.log(`process max RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB`)
