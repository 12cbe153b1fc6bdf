import type { CodecError } from "@lazypull/codec"

/** Largest window a frame may ask for (zstd's own default decoder limit, `ZSTD_WINDOWLOG_LIMIT_DEFAULT` 27). */
export const MAX_WINDOW = 1 << 27

/** Largest block (RFC 8878 §3.1.1.2: Block_Maximum_Size is at most 128 KiB). */
const MAX_BLOCK = 128 * 1024

/** What the scanner found wrong: the codec error reason and a message with the stream offset. */
export interface FrameProblem {
  readonly reason: CodecError["reason"]
  readonly message: string
}

/** Receives the frames a `FrameScanner` finds, with absolute stream offsets. */
export interface FrameEvents {
  /** A zstd frame starts at `start`; `contentSize` is its Frame_Content_Size, or -1 when absent. */
  frame(start: number, contentSize: number): void
  /** The current zstd frame ends just before `end`. */
  frameEnd(end: number): void
}

// scanner phases; the "header" phases collect bytes into `hdr`, the others skip `need` bytes
const MAGIC = 0
const DESCRIPTOR = 1
const HEADER = 2
const BLOCK_HEADER = 3
const BLOCK_BODY = 4
const CHECKSUM = 5
const SKIP_SIZE = 6
const SKIP_BODY = 7

const NONE: FrameEvents = { frame: () => {}, frameEnd: () => {} }

/**
 * An incremental parser of zstd stream structure (RFC 8878): frame magic, frame header, block
 * headers, checksum, skippable frames. It reads no compressed content, only headers, so it costs
 * O(blocks), and it tells where frames start and end however the input is split. Both the one-shot
 * decoder (to split a blob into frames) and the streaming inflater (to report truncation and
 * framing errors the same way) use it.
 */
export class FrameScanner {
  private phase = MAGIC
  /** Bytes still wanted in the current phase. */
  private need = 4
  /** Header bytes collected so far in a collecting phase. */
  private readonly hdr = new Uint8Array(16)
  private have = 0
  /** Absolute offset of the next byte to scan. */
  private pos = 0
  private frameStart = 0
  private descriptor = 0
  private lastBlock = false
  private problem: FrameProblem | undefined

  constructor(private readonly events: FrameEvents = NONE) {}

  /** Bytes scanned so far. */
  get offset(): number {
    return this.pos
  }

  /** True between frames (where a stream may end). */
  get atBoundary(): boolean {
    return this.phase === MAGIC && this.have === 0
  }

  /** True inside a zstd frame (not a skippable one). */
  get inFrame(): boolean {
    return this.phase >= DESCRIPTOR && this.phase <= CHECKSUM
  }

  /** The problem at the end of the stream: `Truncated` unless it stops between frames. */
  end(): FrameProblem | undefined {
    if (this.problem) return this.problem
    if (this.pos === 0) return { reason: "Truncated", message: "empty zstd stream" }
    if (!this.atBoundary)
      return { reason: "Truncated", message: `zstd stream ends inside a frame at ${this.pos}` }
    return undefined
  }

  /** Scans `chunk`; returns the first framing problem (and keeps returning it). */
  scan(chunk: Uint8Array): FrameProblem | undefined {
    if (this.problem) return this.problem
    let i = 0
    const n = chunk.length
    while (i < n) {
      const phase = this.phase
      if (phase === BLOCK_BODY || phase === SKIP_BODY || phase === CHECKSUM) {
        const take = Math.min(this.need, n - i)
        i += take
        this.pos += take
        this.need -= take
        if (this.need === 0) this.skipped()
        continue
      }
      const take = Math.min(this.need, n - i)
      this.hdr.set(chunk.subarray(i, i + take), this.have)
      this.have += take
      i += take
      this.pos += take
      this.need -= take
      if (this.need === 0) {
        const p = this.collected()
        if (p) {
          this.problem = p
          return p
        }
      }
    }
    return undefined
  }

  private next(phase: number, need: number): void {
    this.phase = phase
    this.need = need
    this.have = 0
  }

  /** A skipping phase is done. */
  private skipped(): void {
    if (this.phase === BLOCK_BODY) {
      if (!this.lastBlock) this.next(BLOCK_HEADER, 3)
      else if (this.descriptor & 0x04) this.next(CHECKSUM, 4)
      else this.endFrame()
    } else if (this.phase === CHECKSUM) {
      this.endFrame()
    } else {
      this.next(MAGIC, 4)
    }
  }

  private endFrame(): void {
    this.events.frameEnd(this.pos)
    this.next(MAGIC, 4)
  }

  /** A collecting phase has all its bytes in `hdr`. */
  private collected(): FrameProblem | undefined {
    const h = this.hdr
    switch (this.phase) {
      case MAGIC: {
        const at = this.pos - 4
        if (h[0] === 0x28 && h[1] === 0xb5 && h[2] === 0x2f && h[3] === 0xfd) {
          this.frameStart = at
          this.next(DESCRIPTOR, 1)
          return undefined
        }
        if ((h[0]! & 0xf0) === 0x50 && h[1] === 0x2a && h[2] === 0x4d && h[3] === 0x18) {
          this.next(SKIP_SIZE, 4)
          return undefined
        }
        return { reason: "Corrupt", message: `no zstd frame magic at ${at}` }
      }
      case DESCRIPTOR: {
        const d = h[0]!
        if (d & 0x08)
          return { reason: "Corrupt", message: `reserved bit set in the frame header at ${this.frameStart}` }
        this.descriptor = d
        const single = (d >> 5) & 1
        const fcsFlag = d >> 6
        const dictBytes = [0, 1, 2, 4][d & 3]!
        const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag
        // never empty: a single-segment frame has a content size byte, the others a window byte
        this.next(HEADER, 1 - single + dictBytes + fcsBytes)
        return undefined
      }
      case HEADER:
        return this.header()
      case BLOCK_HEADER: {
        const b = h[0]! | (h[1]! << 8) | (h[2]! << 16)
        const type = (b >> 1) & 3
        const size = b >>> 3
        const at = this.pos - 3
        if (type === 3) return { reason: "Corrupt", message: `reserved block type at ${at}` }
        if (size > MAX_BLOCK) return { reason: "Corrupt", message: `block of ${size} bytes at ${at}` }
        this.lastBlock = (b & 1) === 1
        const body = type === 1 ? 1 : size
        this.next(BLOCK_BODY, body)
        if (body === 0) this.skipped()
        return undefined
      }
      case SKIP_SIZE: {
        const size = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0
        if (size > 0) this.next(SKIP_BODY, size)
        else this.next(MAGIC, 4)
        return undefined
      }
    }
    return undefined
  }

  /** Parses Window_Descriptor, Dictionary_ID and Frame_Content_Size (all in `hdr`). */
  private header(): FrameProblem | undefined {
    const h = this.hdr
    const d = this.descriptor
    const single = (d >> 5) & 1
    const fcsFlag = d >> 6
    const dictBytes = [0, 1, 2, 4][d & 3]!
    let at = 0
    let window = 0
    if (!single) {
      const w = h[at++]!
      const base = 2 ** (10 + (w >> 3))
      window = base + (base / 8) * (w & 7)
    }
    let dict = 0
    for (let k = 0; k < dictBytes; k++) dict += h[at++]! * 2 ** (8 * k)
    let contentSize = -1
    if (fcsFlag !== 0 || single) {
      const bytes = fcsFlag === 0 ? 1 : 1 << fcsFlag
      contentSize = 0
      for (let k = 0; k < bytes; k++) contentSize += h[at++]! * 2 ** (8 * k)
      if (fcsFlag === 1) contentSize += 256
    }
    if (single) window = contentSize
    if (dict !== 0) {
      return {
        reason: "Unsupported",
        message: `the frame at ${this.frameStart} needs zstd dictionary ${dict}`,
      }
    }
    if (window > MAX_WINDOW) {
      return {
        reason: "Unsupported",
        message: `the frame at ${this.frameStart} needs a ${window}-byte window (more than ${MAX_WINDOW})`,
      }
    }
    this.events.frame(this.frameStart, contentSize)
    this.next(BLOCK_HEADER, 3)
    return undefined
  }
}

/** One zstd frame of a blob: `[start, end)` and its declared content size (-1 when absent). */
export interface FrameSpan {
  readonly start: number
  readonly end: number
  readonly contentSize: number
}

/** Splits a whole zstd blob into its zstd frames (skippable frames left out), or reports a problem. */
export const splitFrames = (data: Uint8Array): Array<FrameSpan> | FrameProblem => {
  const frames: Array<FrameSpan> = []
  let start = 0
  let contentSize = -1
  const scanner = new FrameScanner({
    frame: (s, c) => {
      start = s
      contentSize = c
    },
    frameEnd: (end) => {
      frames.push({ start, end, contentSize })
    },
  })
  return scanner.scan(data) ?? scanner.end() ?? frames
}
