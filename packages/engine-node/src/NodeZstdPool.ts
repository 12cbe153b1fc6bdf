import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads"
import { CodecError } from "@lazypull/codec"
import * as Effect from "effect/Effect"

/** How to start the pool's workers and how to read their errors. */
export interface CompressPoolOptions {
  /** Most workers alive at once (they start on demand). */
  readonly size: number
  /** Worker source (CommonJS, `eval: true`), speaking the protocol of `ZSTD_WORKER_SOURCE`. */
  readonly source: string
  /** Given to every worker as `workerData`, with `port` (the MessagePort it answers on) added. */
  readonly workerData: Readonly<Record<string, unknown>> | null
  /** Codec name in errors. */
  readonly codec: string
  /** Maps a worker's non-fatal error message to a CodecError. */
  readonly error: (message: string) => CodecError
  /**
   * A worker that compressed more than this many bytes in one job is replaced afterwards: a wasm
   * heap never shrinks, so one big job would otherwise keep its memory for the pool's life.
   */
  readonly retireAbove: number
  /**
   * Compresses one input on the calling thread, synchronously, the same bytes a worker writes. When
   * given, a job that finds every worker with work already waiting is compressed here instead of
   * queueing (the calling thread is then one more compressor and the pool needs one worker fewer);
   * it may answer `undefined` (not ready yet: the job then waits for a worker).
   */
  readonly callerRuns?: ((data: Uint8Array, level: number) => Uint8Array | CodecError | undefined) | undefined
  /** Most input bytes one message to a worker carries (small jobs travel together); default 256 KiB. */
  readonly batchBytes?: number
}

/** A pool of compression workers (see `makeCompressPool`). */
export interface CompressPool {
  /** Compresses `data` into one frame on a worker; the caller's bytes are copied, never detached. */
  compress(data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError>
  /** Terminates every worker; running and queued jobs fail with reason "Engine". Idempotent. */
  close(): Promise<void>
  /**
   * Workers alive, workers holding the process alive (those with jobs), jobs waiting for a worker, and
   * so far: messages sent to workers and jobs compressed on the calling thread. For tests.
   */
  readonly stats: () => {
    readonly alive: number
    readonly referenced: number
    readonly queued: number
    readonly messages: number
    readonly callerRan: number
  }
}

interface Job {
  /** The caller's bytes: kept (never copied twice) until the job settles, so that it can be sent again. */
  readonly data: Uint8Array
  readonly level: number
  readonly size: number
  /** Set once a worker died holding this job: it then travels alone, and fails if that worker dies too. */
  suspect: boolean
  /** Settles the caller's effect; a no-op once settled or interrupted. */
  settle: (result: Uint8Array | CodecError) => void
}

interface Slot {
  readonly worker: Worker
  /** The channel the worker answers on; read by events, and synchronously by `receiveMessageOnPort`. */
  readonly port: MessagePort
  /** Messages sent and not answered yet, oldest first (the worker answers in order). */
  readonly batches: Array<Array<Job>>
  /** Input bytes of those messages. */
  outstanding: number
  /** Input buffers this worker handed back, reused for its next messages. */
  readonly spare: Array<ArrayBuffer>
  /** Set when the pool ended this worker on purpose (its exit is then no crash). */
  ended: boolean
  /** Takes no new message and ends once its batches are answered (after a big job or a fatal error). */
  retiring: boolean
}

interface Reply {
  readonly buf: ArrayBuffer
  readonly results: ReadonlyArray<Uint8Array | string>
  readonly fatal: boolean
}

/**
 * A worker takes another message while it has less than this many input bytes outstanding, or less than
 * twice the next job: enough work queued that it does not idle while the calling thread compresses (a job
 * is compressed by the caller only when every worker has that much), and no more (memory).
 */
const BACKLOG = 1 << 20
/** Most messages a worker has outstanding. */
const MAX_MESSAGES = 8
/** Input buffers a worker keeps for reuse: as many as it may have messages, up to this many bytes. */
const MAX_SPARE_BYTES = 12 << 20
/** Small jobs are not spread thinner than this over idle workers: a message costs more than its compression. */
const MIN_BATCH = 16 << 10
/** Most jobs in one message. */
const MAX_BATCH_JOBS = 256
/** Input buffers are sized in steps of this (and at least `batchBytes`), so that a worker's buffers get reused. */
const BUFFER_STEP = 1 << 20

/**
 * A pool of `node:worker_threads` workers compressing independent inputs (frames never depend on each
 * other, so the bytes do not depend on which thread compressed what, or in which order). Workers start
 * on demand up to `size`, and each is kept supplied with some work ahead (see BACKLOG) so it does not wait
 * for the calling thread between two messages; jobs queued together (small ones arrive in bursts) travel
 * in one message of up to `batchBytes`, spread over the workers that have room. Inputs are copied into
 * buffers the worker hands back for reuse, frames are transferred, so each input byte is copied once and
 * little garbage is made. With `callerRuns`, the calling thread compresses a job itself when every worker
 * has enough work ahead, after collecting (synchronously) the answers already there.
 *
 * Idle workers never keep the process alive; a worker with jobs does. A worker that crashes or exits has
 * its jobs sent again, each alone; one whose worker dies again fails with reason "Engine". Nothing hangs.
 */
export const makeCompressPool = (options: CompressPoolOptions): CompressPool => {
  const batchBytes = Math.max(MIN_BATCH, options.batchBytes ?? 256 << 10)
  const slots: Array<Slot> = []
  const queue: Array<Job> = []
  let queuedBytes = 0
  let closed = false
  let callerRan = 0
  let messages = 0
  let flushScheduled = false

  const engineError = (message: string) => new CodecError({ reason: "Engine", codec: options.codec, message })

  // Settling a job may resume its fiber synchronously, which may call `compress` again: settlements
  // wait in a list until the pool's state is consistent and the outermost pool call is about to return.
  // Inside `compress` (a fiber is running: resuming other fibers there would re-enter the runtime) they
  // wait for a microtask, when no fiber is on the stack; from events and microtasks they run at once.
  const settlements: Array<Job | Uint8Array | CodecError> = []
  let nesting = 0
  let settleScheduled = false
  const settleLater = (job: Job, result: Uint8Array | CodecError) => {
    settlements.push(job, result)
  }
  const settleAll = () => {
    while (settlements.length > 0) {
      const job = settlements.shift() as Job
      const result = settlements.shift() as Uint8Array | CodecError
      job.settle(result)
    }
  }
  const settleSoon = () => {
    if (settleScheduled) return
    settleScheduled = true
    queueMicrotask(() => {
      settleScheduled = false
      if (nesting === 0) settleAll()
    })
  }
  const guarded = (body: () => void, inFiber = false) => {
    nesting++
    try {
      body()
    } finally {
      nesting--
      if (nesting === 0 && settlements.length > 0) {
        if (inFiber) settleSoon()
        else settleAll()
      }
    }
  }

  const remove = (slot: Slot) => {
    const i = slots.indexOf(slot)
    if (i >= 0) slots.splice(i, 1)
  }

  /** Ends a worker on purpose (fatal error, retirement, close). */
  const end = (slot: Slot): Promise<number> => {
    slot.ended = true
    remove(slot)
    slot.port.close()
    return slot.worker.terminate()
  }

  /**
   * The worker died or broke the protocol: the answers it sent before are taken first, then its other
   * jobs go again (alone) or, if they were alone already, fail.
   */
  const crashed = (slot: Slot, why: string) => {
    if (slot.ended) return
    while (slot.batches.length > 0) {
      const m = receiveMessageOnPort(slot.port)
      if (m === undefined || !answered(slot, m.message as Reply)) break
      if (slot.ended) return
    }
    const jobs = slot.batches.flat()
    slot.batches.length = 0
    slot.outstanding = 0
    void end(slot)
    const again: Array<Job> = []
    for (const job of jobs) {
      if (job.suspect) settleLater(job, engineError(`a zstd worker crashed: ${why}`))
      else {
        job.suspect = true
        again.push(job)
      }
    }
    requeueFront(again)
  }

  const requeueFront = (jobs: ReadonlyArray<Job>) => {
    if (jobs.length === 0) return
    queue.unshift(...jobs)
    for (const job of jobs) queuedBytes += job.size
  }

  /**
   * One answer: frames and errors settle (later). After a fatal error the worker ends at once, and the
   * jobs it did not attempt, and those of its other messages, go back to the front of the queue. False
   * (and nothing changed) when the answer is not one the pool can read.
   */
  const answered = (slot: Slot, reply: Reply): boolean => {
    const jobs = slot.batches[0]
    if (!jobs || !(reply?.buf instanceof ArrayBuffer) || !Array.isArray(reply.results)) return false
    slot.batches.shift()
    for (const job of jobs) slot.outstanding -= job.size
    slot.spare.push(reply.buf)
    let spareBytes = 0
    for (const b of slot.spare) spareBytes += b.byteLength
    while (slot.spare.length > MAX_MESSAGES || spareBytes > MAX_SPARE_BYTES)
      spareBytes -= slot.spare.shift()!.byteLength
    const results = reply.results
    const again: Array<Job> = []
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!
      if (job.size > options.retireAbove) slot.retiring = true
      const r = results[i]
      if (r instanceof Uint8Array) settleLater(job, r)
      else if (typeof r === "string")
        settleLater(job, reply.fatal ? engineError(r || "zstd worker failure") : options.error(r))
      else if (reply.fatal) again.push(job)
      else settleLater(job, engineError("a zstd worker answered without a frame"))
    }
    if (reply.fatal) {
      for (const batch of slot.batches.splice(0)) again.push(...batch)
      slot.outstanding = 0
      void end(slot)
      requeueFront(again)
    } else if (slot.batches.length === 0) {
      if (slot.retiring) void end(slot)
      else slot.port.unref()
    }
    return true
  }

  const spawn = (): Slot => {
    const { port1, port2 } = new MessageChannel()
    const worker = new Worker(options.source, {
      eval: true,
      workerData: { ...options.workerData, port: port2 },
      transferList: [port2],
    })
    const slot: Slot = {
      worker,
      port: port1,
      batches: [],
      outstanding: 0,
      spare: [],
      ended: false,
      retiring: false,
    }
    // the port holds the process alive while the worker has jobs; the worker itself never does
    worker.unref()
    port1.unref()
    port1.on("message", (reply: Reply) =>
      guarded(() => {
        if (slot.ended) return
        if (!answered(slot, reply)) crashed(slot, "an answer the pool cannot read")
        pump()
      }),
    )
    const died = (why: string) =>
      guarded(() => {
        crashed(slot, why)
        pump()
      })
    worker.on("error", (e) => died(e instanceof Error ? e.message : String(e)))
    worker.on("exit", (code) => died(`exit code ${code}`))
    port1.on("messageerror", (e) => died(`unreadable message: ${String(e)}`))
    slots.push(slot)
    return slot
  }

  /**
   * Whether `slot` takes a message that starts with `next` now (see BACKLOG). A suspect job goes only to
   * an idle worker, which then gets nothing else until it answers: if it dies, the job is to blame.
   */
  const hasRoom = (slot: Slot, next: Job): boolean =>
    !slot.retiring &&
    (slot.batches.length === 0 ||
      (!next.suspect &&
        !slot.batches[0]![0]!.suspect &&
        slot.batches.length < MAX_MESSAGES &&
        slot.outstanding < Math.max(BACKLOG, 2 * next.size)))

  /** Workers that could take a message now (those with room, and those that may still start). */
  const takers = (next: Job): number => {
    let n = options.size - slots.length
    for (const s of slots) if (hasRoom(s, next)) n++
    return Math.max(1, n)
  }

  /** An idle worker, else a new one (below `size`), else the least loaded with room; undefined if none. */
  const pickSlot = (next: Job): Slot | undefined => {
    let best: Slot | undefined
    for (const s of slots) {
      if (!hasRoom(s, next)) continue
      if (best === undefined || s.outstanding < best.outstanding) best = s
    }
    if (best !== undefined && best.batches.length === 0) return best
    if (slots.length < options.size) return spawn()
    return best
  }

  /** The smallest spare buffer that fits `bytes` (and is not much bigger), else a new one. */
  const bufferFor = (slot: Slot, bytes: number): ArrayBuffer => {
    const size = bytes <= batchBytes ? batchBytes : Math.ceil(bytes / BUFFER_STEP) * BUFFER_STEP
    let best = -1
    for (let i = 0; i < slot.spare.length; i++) {
      const n = slot.spare[i]!.byteLength
      if (n >= size && n <= 4 * size && (best < 0 || n < slot.spare[best]!.byteLength)) best = i
    }
    return best < 0 ? new ArrayBuffer(size) : slot.spare.splice(best, 1)[0]!
  }

  /** Sends the queue's head to `slot`: a suspect job alone, else small jobs together. */
  const dispatch = (slot: Slot) => {
    const limit = Math.min(batchBytes, Math.max(MIN_BATCH, Math.ceil(queuedBytes / takers(queue[0]!))))
    const jobs: Array<Job> = []
    let bytes = 0
    while (queue.length > 0 && jobs.length < MAX_BATCH_JOBS) {
      const job = queue[0]!
      if (jobs.length > 0 && (job.suspect || jobs[0]!.suspect || bytes + job.size > limit)) break
      queue.shift()
      jobs.push(job)
      bytes += job.size
    }
    queuedBytes -= bytes
    const buf = bufferFor(slot, bytes)
    const spec: Array<number> = []
    let at = 0
    for (const job of jobs) {
      new Uint8Array(buf, at, job.size).set(job.data)
      spec.push(job.level, at, job.size)
      at += job.size
    }
    slot.batches.push(jobs)
    slot.outstanding += bytes
    slot.port.ref()
    try {
      slot.port.postMessage({ buf, jobs: spec }, [buf])
      messages++
    } catch (e) {
      slot.batches.pop()
      slot.outstanding -= bytes
      if (slot.batches.length === 0) slot.port.unref()
      const message = `could not hand the job to a worker: ${e instanceof Error ? e.message : String(e)}`
      for (const job of jobs) settleLater(job, engineError(message))
    }
  }

  /** Answers that already arrived, taken synchronously; true if there was one. */
  const collect = (): boolean => {
    let got = false
    for (const slot of slots.slice()) {
      while (slot.batches.length > 0 && !slot.ended) {
        const m = receiveMessageOnPort(slot.port)
        if (m === undefined) break
        if (!answered(slot, m.message as Reply)) crashed(slot, "an answer the pool cannot read")
        got = true
      }
    }
    return got
  }

  /** Hands queued jobs to workers with room; with `callerRuns`, compresses the rest here. */
  const pump = () => {
    for (;;) {
      while (queue.length > 0 && !closed) {
        const slot = pickSlot(queue[0]!)
        if (slot === undefined) break
        dispatch(slot)
      }
      if (queue.length === 0 || closed || options.callerRuns === undefined) return
      if (collect()) continue
      const job = queue[0]!
      const frame = options.callerRuns(job.data, job.level)
      if (frame === undefined) return
      queue.shift()
      queuedBytes -= job.size
      callerRan++
      settleLater(job, frame)
    }
  }

  const schedulePump = () => {
    if (flushScheduled) return
    flushScheduled = true
    queueMicrotask(() =>
      guarded(() => {
        flushScheduled = false
        pump()
      }),
    )
  }

  const compress = (data: Uint8Array, level: number): Effect.Effect<Uint8Array, CodecError> =>
    Effect.callback<Uint8Array, CodecError>((resume) => {
      if (closed) {
        resume(Effect.fail(engineError("the zstd worker pool is closed")))
        return
      }
      let settled = false
      const job: Job = {
        data,
        level,
        size: data.length,
        suspect: false,
        settle: (result) => {
          if (settled) return
          settled = true
          resume(result instanceof CodecError ? Effect.fail(result) : Effect.succeed(result))
        },
      }
      queue.push(job)
      queuedBytes += job.size
      // small jobs wait for the rest of the burst (until this turn's synchronous work is done)
      if (queuedBytes >= MIN_BATCH) guarded(pump, true)
      else schedulePump()
      return Effect.sync(() => {
        // interrupted: a queued job leaves the queue; a running one finishes and is dropped
        settled = true
        const i = queue.indexOf(job)
        if (i >= 0) {
          queue.splice(i, 1)
          queuedBytes -= job.size
        }
      })
    })

  const close = async () => {
    closed = true
    const failure = engineError("the zstd worker pool was closed")
    const waiting = queue.splice(0)
    queuedBytes = 0
    const running = slots.slice()
    for (const slot of running) for (const batch of slot.batches.splice(0)) waiting.push(...batch)
    const ended = Promise.all(running.map(end))
    // (called from a scope's finalizer, inside a fiber)
    guarded(() => {
      for (const job of waiting) settleLater(job, failure)
    }, true)
    await ended
  }

  return {
    compress,
    close,
    stats: () => ({
      alive: slots.length,
      referenced: slots.filter((s) => s.batches.length > 0).length,
      queued: queue.length,
      messages,
      callerRan,
    }),
  }
}
