import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  type Compressor,
  type CodecError,
  type Decompressor,
  Decompressors,
  type FooterInfo,
  GzipEngine,
  LayerError,
  type StreamInflater,
} from "@lazypull/codec"
import { END_OF_ARCHIVE, encodeHeader, listTar, paddingFor } from "@lazypull/tar"
import { TOC_FILE_NAME } from "@lazypull/toc"
import { makeExternalFooter, makeFooter, parseGzipFooter, FOOTER_SIZE } from "./Footer.ts"
import { TocSizeLimit } from "./Reader.ts"

const FORMAT = "estargz"

/** Maps an engine failure to the layer error of this format, naming where it happened. */
export const codecToLayer =
  (format: string, where: string, offset?: number) =>
  (e: CodecError): LayerError =>
    new LayerError({
      reason: e.reason === "Truncated" ? "Truncated" : e.reason === "TooLarge" ? "TooLarge" : "Corrupt",
      format,
      ...(offset === undefined ? {} : { offset }),
      message: `${where}: ${e.message}`,
    })

/** The tar bytes of a TOC entry: USTAR header with zeroed metadata, JSON, padding, end of archive (FORMATS §2.5). */
export const tocTarBytes = (json: Uint8Array): Uint8Array => {
  const header = encodeHeader(
    { name: TOC_FILE_NAME, typeflag: "0", size: json.length, mode: 0, mtime: 0 },
    "ustar",
  )
  const pad = paddingFor(json.length)
  const out = new Uint8Array(header.length + json.length + pad.length + END_OF_ARCHIVE.length)
  out.set(header, 0)
  out.set(json, header.length)
  out.set(pad, header.length + json.length)
  out.set(END_OF_ARCHIVE, header.length + json.length + pad.length)
  return out
}

const STARGZ_MAGIC = new TextEncoder().encode("STARGZ")

const indexOf = (hay: Uint8Array, needle: Uint8Array): number => {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let k = 0; k < needle.length; k++) if (hay[i + k] !== needle[k]) continue outer
    return i
  }
  return -1
}

/** Room for the tar framing around the TOC JSON: header (and a PAX header), padding, end of archive. */
const TOC_TAR_OVERHEAD = 4096

/**
 * Extracts the JSON of `stargz.index.json` from the decompressed TOC tar (name checked exactly, as Go does);
 * `offset` is the TOC member's blob offset (absent for an external TOC).
 */
export const tocJsonFromTar = (
  tar: Uint8Array,
  format: string,
  offset: number | undefined,
): Effect.Effect<Uint8Array, LayerError> => {
  const at = offset === undefined ? {} : { offset }
  const where = offset === undefined ? "external TOC" : `TOC member at offset ${offset}`
  return listTar(tar).pipe(
    Effect.mapError(
      (e) =>
        new LayerError({ reason: "BadToc", format, ...at, message: `${where}: not a tar: ${e.message}` }),
    ),
    Effect.flatMap((entries) => {
      const first = entries[0]
      if (!first)
        return Effect.fail(
          new LayerError({ reason: "BadToc", format, ...at, message: `${where}: the tar has no entry` }),
        )
      if (first.header.name !== TOC_FILE_NAME)
        return Effect.fail(
          new LayerError({
            reason: "BadToc",
            format,
            ...at,
            entry: first.header.name,
            message: `${where}: first entry is ${JSON.stringify(first.header.name)}, want ${TOC_FILE_NAME}`,
          }),
        )
      return Effect.succeed(first.data)
    }),
  )
}

/** Options of the eStargz gzip compressor. */
export interface GzipCompressorOptions {
  /** gzip level 0-9 (default 9, as ctr-remote). */
  readonly level?: number
}

/**
 * The eStargz Compressor: one gzip member per call; TOC as the last tar entry in its own member and the
 * 51-byte footer, or the 46-byte footer plus a separate TOC blob when the TOC is external.
 */
export const makeCompressor = (
  options: GzipCompressorOptions = {},
): Effect.Effect<Compressor, never, GzipEngine> =>
  Effect.map(GzipEngine, (gz) => {
    const level = options.level ?? 9
    const compressMember = (data: Uint8Array) =>
      gz.compress(data, level).pipe(Effect.mapError(codecToLayer(FORMAT, "compressing a member")))
    const streamingMember = () =>
      gz.deflater(level).pipe(
        Effect.mapError(codecToLayer(FORMAT, "deflater")),
        Effect.map((d) => {
          const wrap = (e: Effect.Effect<ReadonlyArray<Uint8Array>, CodecError>) =>
            e.pipe(Effect.mapError(codecToLayer(FORMAT, "compressing a member")))
          return {
            write: (b: Uint8Array) => wrap(d.write(b)),
            flush: () => wrap(d.flush()),
            finish: () => wrap(d.finish()),
          }
        }),
      )
    return {
      name: FORMAT,
      compressMember,
      streamingMember,
      writeTocAndFooter: (json, tocOffset, external) =>
        Effect.gen(function* () {
          const tocTar = tocTarBytes(json)
          const member = yield* compressMember(tocTar)
          if (external) {
            return {
              blobBytes: makeExternalFooter(),
              streamBytes: new Uint8Array(0),
              annotations: {},
              externalToc: member,
            }
          }
          const footer = makeFooter(tocOffset)
          const blobBytes = new Uint8Array(member.length + footer.length)
          blobBytes.set(member, 0)
          blobBytes.set(footer, member.length)
          return { blobBytes, streamBytes: tocTar, annotations: {} }
        }),
    } satisfies Compressor
  })

/** The eStargz Decompressor: 51-byte, legacy 47-byte and external 46-byte footers; gzip members. */
export const makeDecompressor = (): Effect.Effect<Decompressor, never, GzipEngine> =>
  Effect.map(GzipEngine, (gz) => {
    const decompress = (data: Uint8Array, maxOutput: number) =>
      gz.decompress(data, maxOutput).pipe(Effect.mapError(codecToLayer(FORMAT, "inflating")))
    return {
      name: FORMAT,
      footerSize: FOOTER_SIZE,
      parseFooter: (tail, blobSize) =>
        Effect.suspend(() => {
          const r = parseGzipFooter(tail)
          if (Array.isArray(r)) {
            // "STARGZ" in the last 51 bytes: an eStargz footer whose fields are wrong, not some other format
            const last = tail.subarray(Math.max(0, tail.length - FOOTER_SIZE))
            if (indexOf(last, STARGZ_MAGIC) < 0) return Effect.succeed(undefined)
            return Effect.fail(
              new LayerError({
                reason: "BadFooter",
                format: FORMAT,
                offset: blobSize - last.length,
                message: `invalid footer at offset ${blobSize - last.length} (${(r as ReadonlyArray<string>).join("; ")})`,
              }),
            )
          }
          const f = r as Exclude<typeof r, ReadonlyArray<string>>
          const footerStart = blobSize - f.size
          if (f.kind === "external") {
            const info: FooterInfo = {
              format: "estargz-external",
              footerSize: f.size,
              tocOffset: -1,
              tocEnd: footerStart,
              external: true,
              dataEnd: footerStart,
            }
            return Effect.succeed(info)
          }
          if (!(f.tocOffset > 0 && f.tocOffset < footerStart))
            return Effect.fail(
              new LayerError({
                reason: "BadFooter",
                format: FORMAT,
                offset: footerStart,
                message: `footer points at TOC offset ${f.tocOffset}, outside (0, ${footerStart})`,
              }),
            )
          const info: FooterInfo = {
            format: f.kind === "legacy" ? "estargz-legacy" : FORMAT,
            footerSize: f.size,
            tocOffset: f.tocOffset,
            tocEnd: footerStart,
            external: false,
            dataEnd: f.tocOffset,
          }
          return Effect.succeed(info)
        }),
      decodeToc: (region, footer) =>
        Effect.gen(function* () {
          const limit = yield* TocSizeLimit
          const where = footer.external ? "external TOC" : `TOC member at offset ${footer.tocOffset}`
          const at = footer.external ? {} : { offset: footer.tocOffset }
          // inflate no further than the largest acceptable TOC tar: a small member can inflate to gigabytes
          const bound = Math.min(limit + TOC_TAR_OVERHEAD, Math.max(1 << 20, region.length * 1100))
          const tar = yield* gz.decompress(region, bound).pipe(
            Effect.mapError(
              (e) =>
                new LayerError({
                  reason: e.reason === "TooLarge" ? "TooLarge" : "BadToc",
                  format: FORMAT,
                  ...at,
                  message:
                    e.reason === "TooLarge"
                      ? `${where} inflates to more than ${bound} bytes (TOC limit ${limit}): ${e.message}`
                      : `${where} does not inflate: ${e.message}`,
                }),
            ),
          )
          return yield* tocJsonFromTar(tar, FORMAT, footer.external ? undefined : footer.tocOffset)
        }),
      decompress,
      inflater: () =>
        gz.inflater().pipe(
          Effect.mapError(codecToLayer(FORMAT, "inflater")),
          Effect.map(
            (inf): StreamInflater => ({
              push: (chunk) =>
                inf.push(chunk).pipe(Effect.mapError(codecToLayer(FORMAT, "inflating the blob"))),
              end: () => inf.end().pipe(Effect.mapError(codecToLayer(FORMAT, "inflating the blob"))),
            }),
          ),
        ),
    } satisfies Decompressor
  })

/** Decompressors list with just eStargz (gzip); zstd:chunked adds its own. */
export const layerDecompressors: Layer.Layer<Decompressors, never, GzipEngine> = Layer.effect(
  Decompressors,
  Effect.map(makeDecompressor(), (d) => [d]),
)
