import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { LayerError } from "./LayerError.ts"

/** What a footer says: where the TOC is, or that it is external. */
export interface FooterInfo {
  /** Format that recognised the footer ("estargz", "estargz-legacy", "estargz-external", "zstd:chunked"). */
  readonly format: string
  /** Size of the footer in bytes (counted from the end of the blob). */
  readonly footerSize: number
  /** Compressed offset of the TOC region; -1 when the TOC is external. */
  readonly tocOffset: number
  /** Exclusive end of the TOC region (for zstd: offset + compressed length); equals blobSize - footerSize for gzip. */
  readonly tocEnd: number
  /** Uncompressed TOC length when the footer records it. */
  readonly tocUncompressedSize?: number
  /** True for the external-TOC footer. */
  readonly external: boolean
  /** Where payload data ends (the TOC offset, or the footer start when the TOC is external). */
  readonly dataEnd: number
}

/** An incremental decompressor over a whole blob (every member/frame, skippable frames skipped). */
export interface StreamInflater {
  push(chunk: Uint8Array): Effect.Effect<ReadonlyArray<Uint8Array>, LayerError>
  end(): Effect.Effect<ReadonlyArray<Uint8Array>, LayerError>
}

/**
 * The read side of a layer format (mirrors estargz's Decompressor): recognise a footer, decode the
 * TOC region, decompress chunk ranges.
 */
export interface Decompressor {
  /** Format name for messages. */
  readonly name: string
  /** Largest footer this format can have; readers fetch at least this many tail bytes. */
  readonly footerSize: number
  /**
   * What the expected TOC digest is the sha256 of: the TOC JSON (eStargz and the stargz zstd dialect; the default)
   * or the compressed TOC region `[tocOffset, tocEnd)` (containers/storage zstd:chunked, FORMATS §12 #8).
   */
  readonly tocDigestOf?: "json" | "region"
  /** Parses the footer from the last bytes of the blob (`tail` ends at the blob end); undefined when not this format. */
  parseFooter(tail: Uint8Array, blobSize: number): Effect.Effect<FooterInfo | undefined, LayerError>
  /** Decodes the TOC region `[tocOffset, tocEnd)` (or an external TOC blob) into the TOC JSON bytes. */
  decodeToc(region: Uint8Array, footer: FooterInfo): Effect.Effect<Uint8Array, LayerError>
  /** Decompresses a range holding whole members/frames; `maxOutput` bounds the result. */
  decompress(compressed: Uint8Array, maxOutput: number): Effect.Effect<Uint8Array, LayerError>
  /** Streaming decompression of the whole blob, for diffID and full-stream checks. */
  inflater(): Effect.Effect<StreamInflater, LayerError>
}

/** What the compressor adds after the last data member. */
export interface TocTail {
  /** Bytes appended to the blob: TOC region (unless external) and footer. */
  readonly blobBytes: Uint8Array
  /** Uncompressed bytes those add to the decompressed stream (they count towards diffID and size). */
  readonly streamBytes: Uint8Array
  /** Format-specific layer annotations (besides toc.digest and uncompressed-size). */
  readonly annotations: Readonly<Record<string, string>>
  /** The separate TOC blob for external-TOC layers. */
  readonly externalToc?: Uint8Array
}

/** A compressor that writes one member after another as a stream, with exact sync flushes (min-chunk-size). */
export interface StreamingMember {
  write(data: Uint8Array): Effect.Effect<ReadonlyArray<Uint8Array>, LayerError>
  flush(): Effect.Effect<ReadonlyArray<Uint8Array>, LayerError>
  finish(): Effect.Effect<ReadonlyArray<Uint8Array>, LayerError>
}

/**
 * The write side of a layer format (mirrors estargz's Compressor): compress one member/frame, and
 * write TOC + footer.
 */
export interface Compressor {
  readonly name: string
  /** Compresses `data` into one self-contained member/frame. */
  compressMember(data: Uint8Array): Effect.Effect<Uint8Array, LayerError>
  /** A streaming member writer, for formats that support min-chunk-size packing (eStargz). */
  readonly streamingMember?: () => Effect.Effect<StreamingMember, LayerError>
  /** Builds the TOC region and footer; `tocOffset` is where blobBytes will start. */
  writeTocAndFooter(
    tocJson: Uint8Array,
    tocOffset: number,
    external: boolean,
  ): Effect.Effect<TocTail, LayerError>
}

/** The list of decompressors `open` probes, in order (like estargz's WithDecompressors). */
export class Decompressors extends Context.Service<Decompressors, ReadonlyArray<Decompressor>>()(
  "@lazypull/codec/Decompressors",
) {}
