// The rolling checksum containers/storage uses to cut files into content-defined chunks (FORMATS §8.2):
// bup/perkeep's rollsum with a 64-byte window and character offset 31, in 32-bit wrapping arithmetic.

/** Rolling window length. */
export const ROLLSUM_WINDOW = 64
/** Added to every byte value. */
export const ROLLSUM_CHAR_OFFSET = 31
/** Low bits of `s2` that must all be set for a split (expected chunk size 64 KiB). */
export const ROLLSUM_BITS = 16
/** Zero runs at least this long become `chunkType: "zeros"` chunks (containers/storage `holesThreshold`). */
export const HOLE_THRESHOLD = 1024

const MASK = (1 << ROLLSUM_BITS) - 1

/**
 * The rolling sum state: `s1` starts at 64·31, `s2` at 64·63·31; rolling a byte drops the byte that leaves
 * the window. A boundary falls after a byte when `s2 & 0xFFFF == 0xFFFF`.
 *
 * @example
 * const r = new RollSum(); for (const b of bytes) { r.roll(b); if (r.onSplit()) cut() }
 */
export class RollSum {
  /** Sum of the window plus 64·31 (int32, wrapping). */
  s1 = ROLLSUM_WINDOW * ROLLSUM_CHAR_OFFSET
  /** Sum of the running `s1` values (int32, wrapping). */
  s2 = ROLLSUM_WINDOW * (ROLLSUM_WINDOW - 1) * ROLLSUM_CHAR_OFFSET
  /** The last 64 bytes, a ring. */
  readonly window = new Uint8Array(ROLLSUM_WINDOW)
  /** Ring position of the byte that leaves next. */
  wofs = 0

  /** Rolls one byte in. */
  roll(c: number): void {
    const drop = this.window[this.wofs]!
    this.window[this.wofs] = c
    this.wofs = (this.wofs + 1) & (ROLLSUM_WINDOW - 1)
    this.s1 = (this.s1 + c - drop) | 0
    this.s2 = (this.s2 + this.s1 - ROLLSUM_WINDOW * (drop + ROLLSUM_CHAR_OFFSET)) | 0
  }

  /**
   * Rolls `count` zero bytes in. Once the window holds only zeros, another zero changes neither sum, so at
   * most 64 steps are taken whatever `count` is.
   */
  rollZeros(count: number): void {
    const steps = Math.min(count, ROLLSUM_WINDOW)
    for (let i = 0; i < steps; i++) this.roll(0)
    this.wofs = (this.wofs + (count - steps)) & (ROLLSUM_WINDOW - 1)
  }

  /** True when a chunk boundary falls after the last byte rolled in. */
  onSplit(): boolean {
    return (this.s2 & MASK) === MASK
  }
}

/** Receives the chunks a {@link ContentChunker} cuts, byte by byte in order. */
export interface ChunkSink {
  /** The next bytes of the current chunk: `src[start, end)`. */
  data(src: Uint8Array, start: number, end: number): void
  /** The next `count` bytes of the current chunk are zeros. */
  zeros(count: number): void
  /** The current chunk ends here; `zeros` for a hole chunk. It had at least one byte. */
  end(zeros: boolean): void
}

/**
 * Cuts one file's content into chunks exactly as containers/storage does (FORMATS §8.2): a boundary after
 * every byte where the rolling sum splits, and every run of at least 1024 zero bytes cut out as its own
 * "zeros" chunk (the data before it ends at the run's start; its zeros are rolled into the sum without split
 * checks). Shorter zero runs are ordinary data. Content arrives in pieces of any size; use a new chunker
 * (a new rolling state) per file.
 *
 * @example
 * const c = new ContentChunker(sink); c.push(piece1); c.push(piece2); c.finish()
 */
export class ContentChunker {
  private readonly sum = new RollSum()
  /** Zeros seen but not handed to the sink yet: the length of the run decides what they are. */
  private pendingZeros = 0
  /** Bytes of the current chunk handed to the sink so far. */
  private current = 0

  constructor(private readonly sink: ChunkSink) {}

  /** Feeds the next piece of the file. */
  push(bytes: Uint8Array): void {
    const n = bytes.length
    let i = 0
    while (i < n) {
      if (this.pendingZeros === 0) {
        // data up to a zero run that may be a hole (long, or reaching the end of the piece)
        i = this.dataRun(bytes, i, n)
        if (i === n) return
      }
      let j = i
      while (j < n && bytes[j] === 0) j++
      this.pendingZeros += j - i
      i = j
      if (i === n) return // the run may go on in the next piece
      this.flushZeros()
    }
  }

  /** Ends the file: resolves a trailing zero run and closes the last chunk. */
  finish(): void {
    if (this.pendingZeros > 0) this.flushZeros()
    this.endChunk(false)
  }

  private endChunk(zeros: boolean): void {
    if (this.current === 0) return
    this.current = 0
    this.sink.end(zeros)
  }

  /** Hands the pending zero run over: a hole chunk when it is long enough, else data bytes. */
  private flushZeros(): void {
    const count = this.pendingZeros
    this.pendingZeros = 0
    if (count >= HOLE_THRESHOLD) {
      this.endChunk(false)
      this.sum.rollZeros(count)
      this.sink.zeros(count)
      this.current = count
      this.endChunk(true)
      return
    }
    // data zeros: roll each, a boundary may fall inside the run
    const s = this.sum
    let from = 0
    for (let j = 0; j < count; j++) {
      s.roll(0)
      if (s.onSplit()) {
        this.sink.zeros(j + 1 - from)
        this.current += j + 1 - from
        from = j + 1
        this.endChunk(false)
      }
    }
    if (count > from) {
      this.sink.zeros(count - from)
      this.current += count - from
    }
  }

  /**
   * The hot loop: rolls `src[start, end)` byte by byte with the sum's state in locals, cutting chunks at splits,
   * and stops at the first zero run that could be a hole (at least 1024 zeros, or running to `end`); shorter
   * zero runs are data. The byte leaving the window comes from the ring for the first 64 bytes, then from `src`.
   * Returns where it stopped.
   */
  private dataRun(src: Uint8Array, start: number, end: number): number {
    const sum = this.sum
    const win = sum.window
    const w0 = sum.wofs
    let s1 = sum.s1
    let s2 = sum.s2
    let from = start
    let zeroOk = start // zeros before this index are known to be data
    let j = start
    for (; j < end; j++) {
      const c = src[j]!
      if (c === 0 && j >= zeroOk) {
        let r = j + 1
        while (r < end && src[r] === 0) r++
        if (r === end || r - j >= HOLE_THRESHOLD) break
        zeroOk = r
      }
      const k = j - start
      const drop = k < 64 ? win[(w0 + k) & 63]! : src[j - 64]!
      s1 = (s1 + c - drop) | 0
      s2 = (s2 + s1 - 64 * (drop + 31)) | 0
      if ((s2 & 0xffff) === 0xffff) {
        this.sink.data(src, from, j + 1)
        this.current += j + 1 - from
        from = j + 1
        this.endChunk(false)
      }
    }
    // the ring gets the bytes rolled in, the oldest at the new wofs
    const rolled = j - start
    if (rolled >= 64) for (let t = rolled - 64; t < rolled; t++) win[(w0 + t) & 63] = src[start + t]!
    else for (let t = 0; t < rolled; t++) win[(w0 + t) & 63] = src[start + t]!
    sum.wofs = (w0 + rolled) & 63
    sum.s1 = s1
    sum.s2 = s2
    if (j > from) {
      this.sink.data(src, from, j)
      this.current += j - from
    }
    return j
  }
}
