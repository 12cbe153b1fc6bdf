import { Worker } from "node:worker_threads"
import { CodecError } from "@lazypull/codec"
import * as Effect from "effect/Effect"

/** How to start the pool's workers and how to read their errors. */
export interface CompressPoolOptions {
  /** Most workers alive at once (they start on demand, one job each). */
  readonly size: number
  /** Worker source (CommonJS, `eval: true`), speaking the protocol of `ZSTD_WORKER_SOURCE`. */
  readonly source: string
  readonly workerData: unknown
  /** Codec name in errors. */
  readonly codec: string
  /** Maps a worker's non-fatal error message to a CodecError. */
  readonly error: (message: string) => CodecError
  /**
   * A worker that compressed more than this many bytes in one job is replaced afterwards: a wasm
   * heap never shrinks, so one big job would otherwise keep its memory for the pool's life.
   */
  readonly retireAbove: number
}

/** A pool of compression workers (see `makeCompressPool`). */
export interface CompressPool {
  /** Compresses `data` into one frame on a worker; the caller's bytes are copied, never detached. */
  compress(data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError>
  /** Terminates every worker; running and queued jobs fail with reason "Engine". Idempotent. */
  close(): Promise<void>
  /** Workers alive, workers holding the process alive (busy ones), jobs waiting. For tests. */
  readonly stats: () => { readonly alive: number; readonly referenced: number; readonly queued: number }
}

interface Job {
  readonly id: number
  data: Uint8Array
  readonly level: number
  readonly size: number
  /** Settles the caller's effect; a no-op once settled or interrupted. */
  settle: (result: Uint8Array | CodecError) => void
}

interface Slot {
  readonly worker: Worker
  job: Job | undefined
  /** Set when the pool ended this worker on purpose (its exit is then no crash). */
  ended: boolean
}

interface Reply {
  readonly id: number
  readonly frame?: Uint8Array
  readonly error?: string
  readonly fatal?: boolean
}

/**
 * A pool of `node:worker_threads` workers that compress one job each at a time, so that several
 * `compress` calls in flight use several cores. Workers start on demand up to `size`, are
 * `unref()`ed while idle (an idle pool never keeps the process alive) and referenced while busy (an
 * awaited job does). The input is copied into a fresh buffer that is transferred, and the frame is
 * transferred back, so each byte crosses threads once. A worker that crashes or exits fails its job
 * with reason "Engine" and is replaced on the next job; nothing hangs.
 */
export const makeCompressPool = (options: CompressPoolOptions): CompressPool => {
  const slots: Array<Slot> = []
  const queue: Array<Job> = []
  let closed = false
  let nextId = 1

  const engineError = (message: string) => new CodecError({ reason: "Engine", codec: options.codec, message })

  const remove = (slot: Slot) => {
    const i = slots.indexOf(slot)
    if (i >= 0) slots.splice(i, 1)
  }

  /** Ends a worker on purpose (fatal error, retirement, close). */
  const end = (slot: Slot): Promise<number> => {
    slot.ended = true
    remove(slot)
    return slot.worker.terminate()
  }

  /** The worker died on its own: its job fails, the queue moves on (a new worker starts if needed). */
  const crashed = (slot: Slot, why: string) => {
    if (slot.ended) return
    slot.ended = true
    remove(slot)
    const job = slot.job
    slot.job = undefined
    pump()
    job?.settle(engineError(`a zstd worker crashed: ${why}`))
  }

  const spawn = (): Slot => {
    const worker = new Worker(options.source, { eval: true, workerData: options.workerData })
    const slot: Slot = { worker, job: undefined, ended: false }
    worker.unref()
    worker.on("message", (reply: Reply) => answered(slot, reply))
    worker.on("error", (e) => crashed(slot, e instanceof Error ? e.message : String(e)))
    worker.on("messageerror", (e) => crashed(slot, `unreadable message: ${String(e)}`))
    worker.on("exit", (code) => crashed(slot, `exit code ${code}`))
    slots.push(slot)
    return slot
  }

  // Settling a job may resume its fiber synchronously, which may call `compress` again: the pool's
  // state is therefore brought up to date first and every `settle` comes last.

  const answered = (slot: Slot, reply: Reply) => {
    const job = slot.job
    if (!job || reply.id !== job.id) return
    slot.job = undefined
    if (reply.fatal || job.size > options.retireAbove) void end(slot)
    else slot.worker.unref()
    pump()
    if (reply.frame) job.settle(reply.frame)
    else
      job.settle(
        reply.fatal ? engineError(reply.error ?? "zstd worker failure") : options.error(reply.error ?? ""),
      )
  }

  const dispatch = (slot: Slot, job: Job) => {
    slot.job = job
    slot.worker.ref()
    // a copy the worker may own: transferring the caller's buffer would detach it
    const data = new Uint8Array(job.data)
    job.data = EMPTY
    try {
      slot.worker.postMessage({ id: job.id, level: job.level, data }, [data.buffer])
    } catch (e) {
      slot.job = undefined
      slot.worker.unref()
      // after the current pump, which is still walking the queue
      queueMicrotask(() =>
        job.settle(
          engineError(`could not hand the job to a worker: ${e instanceof Error ? e.message : String(e)}`),
        ),
      )
    }
  }

  const pump = () => {
    while (queue.length > 0 && !closed) {
      let slot: Slot | undefined
      for (const s of slots) {
        if (!s.job) {
          slot = s
          break
        }
      }
      if (!slot) {
        if (slots.length >= options.size) return
        slot = spawn()
      }
      dispatch(slot, queue.shift()!)
    }
  }

  const compress = (data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError> =>
    Effect.callback<Uint8Array, CodecError>((resume) => {
      if (closed) {
        resume(Effect.fail(engineError("the zstd worker pool is closed")))
        return
      }
      let settled = false
      const job: Job = {
        id: nextId++,
        data,
        level,
        size: data.length,
        settle: (result) => {
          if (settled) return
          settled = true
          resume(result instanceof CodecError ? Effect.fail(result) : Effect.succeed(result))
        },
      }
      queue.push(job)
      pump()
      return Effect.sync(() => {
        // interrupted: a queued job leaves the queue; a running one finishes and is dropped
        settled = true
        const i = queue.indexOf(job)
        if (i >= 0) queue.splice(i, 1)
      })
    })

  const close = async () => {
    closed = true
    const failure = engineError("the zstd worker pool was closed")
    const waiting = queue.splice(0)
    const running = slots.slice()
    for (const slot of running) {
      if (slot.job) waiting.push(slot.job)
      slot.job = undefined
    }
    const ended = Promise.all(running.map(end))
    for (const job of waiting) job.settle(failure)
    await ended
  }

  return {
    compress,
    close,
    stats: () => ({
      alive: slots.length,
      referenced: slots.filter((s) => s.job !== undefined).length,
      queued: queue.length,
    }),
  }
}

const EMPTY = new Uint8Array(0)
