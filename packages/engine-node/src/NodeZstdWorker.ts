/**
 * The source of a zstd compression worker, run with `new Worker(source, { eval: true })` so that it
 * works the same from `src/` under vitest and from `dist/`. It uses only dynamic `import()`, which
 * works whether the eval is CommonJS or ESM (a worker inherits `--input-type=module`). `workerData`
 * is `{ backend: "wasm" | "napi", moduleUrl }`, the file URL of @bokuweb/zstd-wasm's CommonJS entry
 * or of zstd-napi.
 *
 * Protocol: the main thread posts `{ id, level, data }` with `data.buffer` transferred; the worker
 * answers `{ id, frame }` with `frame.buffer` transferred, or `{ id, error, fatal }`. `fatal` says the
 * worker is unusable (its wasm module trapped or never loaded) and should be replaced.
 *
 * Both backends compress exactly like the main-thread engines: zstd-wasm through
 * `ZSTD_compress_usingDict` with no dictionary on one reused context, zstd-napi through
 * `Compressor` (`ZSTD_compress2`); content size recorded, no checksum.
 */
export const ZSTD_WORKER_SOURCE = `"use strict";
(async () => {
  const { parentPort, workerData } = await import("node:worker_threads")
  const { backend, moduleUrl } = workerData
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
      compress = (data, level) => {
        c.setParameters({ compressionLevel: level })
        return c.compress(data)
      }
    }
  } catch (e) {
    failure = "the zstd worker could not start: " + messageOf(e)
  }
  parentPort.on("message", (job) => {
    if (failure !== undefined) {
      parentPort.postMessage({ id: job.id, error: failure, fatal: true })
      return
    }
    let frame
    try {
      frame = compress(job.data, job.level)
    } catch (e) {
      const error = messageOf(e)
      // zstd-wasm reports zstd errors as "... code -N"; anything else is a trap that breaks the module
      const fatal = backend === "wasm" && !/code -?\\d+/.test(error)
      parentPort.postMessage({ id: job.id, error, fatal })
      return
    }
    // an exact, unshared buffer is transferred as is; a Buffer from a pool or a larger scratch is copied
    const own = frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer
    const out = own ? new Uint8Array(frame.buffer) : new Uint8Array(frame)
    parentPort.postMessage({ id: job.id, frame: out }, [out.buffer])
  })
})()
`
