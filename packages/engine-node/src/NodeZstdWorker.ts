/**
 * The source of a zstd compression worker, run with `new Worker(source, { eval: true })` so that it
 * works the same from `src/` under vitest and from `dist/`. It uses only dynamic `import()`, which
 * works whether the eval is CommonJS or ESM (a worker inherits `--input-type=module`). `workerData`
 * is `{ backend: "wasm" | "napi", moduleUrl, port }`: the file URL of @bokuweb/zstd-wasm's CommonJS
 * entry or of zstd-napi, and the MessagePort it talks on (the pool reads replies from that port
 * synchronously too, with `receiveMessageOnPort`).
 *
 * Protocol (see `NodeZstdPool`): the pool posts `{ buf, jobs }` with `buf` (an ArrayBuffer) transferred;
 * `jobs` is a flat number array of `level, start, length` triples, each naming one input inside `buf`.
 * The worker compresses them in order and answers `{ buf, results, fatal }`, handing `buf` back for reuse
 * and transferring each frame's buffer: `results[i]` is the frame of job i (a Uint8Array) or its error
 * message (a string). `fatal` says the worker is unusable: its wasm module trapped (it then stops at
 * that job, and jobs without a result were not attempted) or never loaded (every job gets the error).
 *
 * Both backends compress exactly like the main-thread engines: zstd-wasm through
 * `ZSTD_compress_usingDict` with no dictionary on one reused context, zstd-napi through
 * `Compressor` (`ZSTD_compress2`); content size recorded, no checksum.
 */
export const ZSTD_WORKER_SOURCE = `"use strict";
(async () => {
  const { workerData } = await import("node:worker_threads")
  const { backend, moduleUrl, port } = workerData
  const messageOf = (e) => (e && typeof e.message === "string" ? e.message : String(e))
  let compress
  let failure
  try {
    const imported = await import(moduleUrl)
    const z = typeof imported.init === "function" || typeof imported.Compressor === "function" ? imported : imported.default
    if (backend === "wasm") {
      await z.init()
      const cctx = z.createCCtx()
      const none = new Uint8Array(0)
      compress = (data, level) => z.compressUsingDict(cctx, data, none, level)
    } else {
      const c = new z.Compressor()
      let current = -1
      compress = (data, level) => {
        if (level !== current) {
          c.setParameters({ compressionLevel: level })
          current = level
        }
        return c.compress(data)
      }
    }
  } catch (e) {
    failure = "the zstd worker could not start: " + messageOf(e)
  }
  port.on("message", (message) => {
    const { buf, jobs } = message
    const results = []
    const transfer = [buf]
    let fatal = false
    if (failure !== undefined) {
      for (let i = 0; i < jobs.length; i += 3) results.push(failure)
      port.postMessage({ buf, results, fatal: true }, transfer)
      return
    }
    for (let i = 0; i < jobs.length; i += 3) {
      let frame
      try {
        frame = compress(new Uint8Array(buf, jobs[i + 1], jobs[i + 2]), jobs[i])
      } catch (e) {
        const error = messageOf(e)
        results.push(error)
        // zstd-wasm reports zstd errors as "... code -N"; anything else is a trap that breaks the module
        if (backend === "wasm" && !/code -?\\d+/.test(error)) {
          fatal = true
          break
        }
        continue
      }
      // an exact, unshared buffer is transferred as is; a Buffer from a pool or a larger scratch is copied
      const own = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer
      const out = own ? new Uint8Array(frame.buffer) : new Uint8Array(frame)
      results.push(out)
      transfer.push(out.buffer)
    }
    port.postMessage({ buf, results, fatal }, transfer)
  })
})()
`
