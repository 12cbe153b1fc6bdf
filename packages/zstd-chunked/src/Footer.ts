/** Magic of the stargz-snapshotter zstd:chunked footer (lowercase n): `GnUlInUx`. */
export const STARGZ_MAGIC = new Uint8Array([0x47, 0x6e, 0x55, 0x6c, 0x49, 0x6e, 0x55, 0x78])
/** Magic of the containers/storage zstd:chunked footer (uppercase N): `GNUlInUx`. */
export const STORAGE_MAGIC = new Uint8Array([0x47, 0x4e, 0x55, 0x6c, 0x49, 0x6e, 0x55, 0x78])
/** Payload size of the stargz-dialect footer; the blob ends with its 8-byte skippable header + payload. */
export const STARGZ_FOOTER_PAYLOAD = 40
/** Payload size of the containers/storage footer. */
export const STORAGE_FOOTER_PAYLOAD = 64
/** Skippable frame magic written (`50 2A 4D 18`). */
export const SKIPPABLE_MAGIC = 0x184d2a50

/** Wraps `payload` in a zstd skippable frame. */
export const skippableFrame = (payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(8 + payload.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, SKIPPABLE_MAGIC, true)
  v.setUint32(4, payload.length, true)
  out.set(payload, 8)
  return out
}

const u64 = (v: DataView, at: number): number | undefined => {
  const x = v.getBigUint64(at, true)
  return x > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(x)
}

const setU64 = (v: DataView, at: number, n: number) => v.setBigUint64(at, BigInt(n), true)

/** The stargz-dialect footer payload (FORMATS §8.3): TOC offset, compressed and uncompressed length, type 1, magic. */
export const makeStargzFooter = (
  tocOffset: number,
  compressedLen: number,
  uncompressedLen: number,
): Uint8Array => {
  const out = new Uint8Array(STARGZ_FOOTER_PAYLOAD)
  const v = new DataView(out.buffer)
  setU64(v, 0, tocOffset)
  setU64(v, 8, compressedLen)
  setU64(v, 16, uncompressedLen)
  setU64(v, 24, 1)
  out.set(STARGZ_MAGIC, 32)
  return out
}

/** The containers/storage footer payload (FORMATS §8.2). */
export const makeStorageFooter = (f: StorageFooter): Uint8Array => {
  const out = new Uint8Array(STORAGE_FOOTER_PAYLOAD)
  const v = new DataView(out.buffer)
  setU64(v, 0, f.tocOffset)
  setU64(v, 8, f.tocCompressedLen)
  setU64(v, 16, f.tocUncompressedLen)
  setU64(v, 24, 1)
  setU64(v, 32, f.tarSplitOffset)
  setU64(v, 40, f.tarSplitCompressedLen)
  setU64(v, 48, f.tarSplitUncompressedLen)
  out.set(STORAGE_MAGIC, 56)
  return out
}

/** What a stargz-dialect footer says. */
export interface StargzFooter {
  readonly tocOffset: number
  readonly tocCompressedLen: number
  readonly tocUncompressedLen: number
}

/** What a containers/storage footer says. */
export interface StorageFooter extends StargzFooter {
  readonly tarSplitOffset: number
  readonly tarSplitCompressedLen: number
  readonly tarSplitUncompressedLen: number
}

const magicAt = (b: Uint8Array, at: number, magic: Uint8Array) => {
  for (let i = 0; i < 8; i++) if (b[at + i] !== magic[i]) return false
  return true
}

/**
 * Parses the last 40 bytes as a stargz-dialect footer. Like the reference only the magic decides whether it
 * is one; the fields are then checked against the blob (FORMATS §8.3, which the reference does not do).
 */
export const parseStargzFooter = (tail: Uint8Array, blobSize: number): StargzFooter | string | undefined => {
  if (tail.length < STARGZ_FOOTER_PAYLOAD) return undefined
  const b = tail.subarray(tail.length - STARGZ_FOOTER_PAYLOAD)
  if (!magicAt(b, 32, STARGZ_MAGIC)) return undefined
  const v = new DataView(b.buffer, b.byteOffset, b.length)
  const tocOffset = u64(v, 0)
  const tocCompressedLen = u64(v, 8)
  const tocUncompressedLen = u64(v, 16)
  if (tocOffset === undefined || tocCompressedLen === undefined || tocUncompressedLen === undefined)
    return "footer field exceeds 2^53"
  const footerStart = blobSize - STARGZ_FOOTER_PAYLOAD - 8
  if (tocOffset < 8 || tocCompressedLen === 0 || tocOffset + tocCompressedLen > footerStart)
    return `TOC at ${tocOffset} (+${tocCompressedLen}) is outside [8, ${footerStart})`
  return { tocOffset, tocCompressedLen, tocUncompressedLen }
}

/** Parses the last 64 bytes as a containers/storage footer, checking the invariants of FORMATS §8.2. */
export const parseStorageFooter = (
  tail: Uint8Array,
  blobSize: number,
): StorageFooter | string | undefined => {
  if (tail.length < STORAGE_FOOTER_PAYLOAD) return undefined
  const b = tail.subarray(tail.length - STORAGE_FOOTER_PAYLOAD)
  if (!magicAt(b, 56, STORAGE_MAGIC)) return undefined
  const v = new DataView(b.buffer, b.byteOffset, b.length)
  const fields = [0, 8, 16, 32, 40, 48].map((at) => u64(v, at))
  if (fields.some((f) => f === undefined)) return "footer field exceeds 2^53"
  const [
    tocOffset,
    tocCompressedLen,
    tocUncompressedLen,
    tarSplitOffset,
    tarSplitCompressedLen,
    tarSplitUncompressedLen,
  ] = fields as Array<number>
  const footerStart = blobSize - STORAGE_FOOTER_PAYLOAD - 8
  if (tocOffset! < 8 || tocOffset! + tocCompressedLen! > footerStart)
    return `TOC at ${tocOffset} (+${tocCompressedLen}) is outside [8, ${footerStart})`
  if (tarSplitOffset! < 8 || tarSplitOffset! + tarSplitCompressedLen! > footerStart)
    return `tar-split at ${tarSplitOffset} (+${tarSplitCompressedLen}) is outside [8, ${footerStart})`
  return {
    tocOffset: tocOffset!,
    tocCompressedLen: tocCompressedLen!,
    tocUncompressedLen: tocUncompressedLen!,
    tarSplitOffset: tarSplitOffset!,
    tarSplitCompressedLen: tarSplitCompressedLen!,
    tarSplitUncompressedLen: tarSplitUncompressedLen!,
  }
}
