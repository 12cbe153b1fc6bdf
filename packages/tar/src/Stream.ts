import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { TarHeader } from "./Header.ts"
import type { TarError } from "./TarError.ts"
import { type TarEvent, TarParser, type TarParserOptions } from "./TarParser.ts"

/** Every TarEvent except Error (which becomes the stream's failure). */
export type TarStreamEvent = Exclude<TarEvent, { readonly _tag: "Error" }>

const drain = (parser: TarParser, out: Array<TarEvent>): void => {
  for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
    out.push(ev)
    if (ev._tag === "Error") return
  }
}

const failOnError = (
  events: ReadonlyArray<TarEvent>,
): Effect.Effect<ReadonlyArray<TarStreamEvent>, TarError> => {
  const last = events[events.length - 1]
  return last !== undefined && last._tag === "Error"
    ? Effect.fail(last.error)
    : Effect.succeed(events as ReadonlyArray<TarStreamEvent>)
}

/**
 * Parses a byte stream as tar, emitting events in order and ending with `End`; a rejected stream
 * fails with TarError after the events before the problem. Event bytes are views into the input chunks.
 *
 * @example
 * parseTarStream(bytes).pipe(Stream.filter((e) => e._tag === "Entry"), Stream.runCollect)
 */
export const parseTarStream = <E, R>(
  input: Stream.Stream<Uint8Array, E, R>,
  options?: TarParserOptions,
): Stream.Stream<TarStreamEvent, E | TarError, R> =>
  Stream.suspend(() => {
    const parser = new TarParser(options)
    const body = input.pipe(
      Stream.mapAccumArray(
        () => parser,
        (p, chunks) => {
          const out: Array<TarEvent> = []
          for (const chunk of chunks) {
            p.push(chunk)
            drain(p, out)
            if (out.length > 0 && out[out.length - 1]!._tag === "Error") break
          }
          return [p, out.length > 0 ? [out] : []] as const
        },
      ),
      Stream.mapEffect(failOnError),
      Stream.flattenIterable,
    )
    // runs only when the input ended without failing
    const tail = Stream.suspend(() => {
      parser.end()
      const out: Array<TarEvent> = []
      drain(parser, out)
      return Stream.flattenIterable(Stream.fromEffect(failOnError(out)))
    })
    return Stream.concat(body, tail)
  })

/**
 * Reads a small in-memory archive into entries with their payloads (views into `bytes`).
 *
 * @example
 * const entries = yield* listTar(bytes) // [{ header, data, offset }, ...]
 */
export const listTar = (
  bytes: Uint8Array,
): Effect.Effect<Array<{ header: TarHeader; data: Uint8Array; offset: number }>, TarError> =>
  Effect.suspend(() => {
    const parser = new TarParser()
    parser.push(bytes)
    parser.end()
    const out: Array<{ header: TarHeader; data: Uint8Array; offset: number }> = []
    let header: TarHeader | undefined
    let offset = 0
    let pieces: Array<Uint8Array> = []
    const flush = () => {
      if (header === undefined) return
      let data: Uint8Array
      if (pieces.length === 1) data = pieces[0]!
      else {
        data = new Uint8Array(header.size)
        let p = 0
        for (const piece of pieces) {
          data.set(piece, p)
          p += piece.length
        }
      }
      out.push({ header, data, offset })
      header = undefined
      pieces = []
    }
    for (let ev = parser.next(); ev !== undefined; ev = parser.next()) {
      switch (ev._tag) {
        case "Entry":
          flush()
          header = ev.header
          offset = ev.offset
          break
        case "Data":
          pieces.push(ev.bytes)
          break
        case "Error":
          return Effect.fail(ev.error)
        default:
          break
      }
    }
    flush()
    return Effect.succeed(out)
  })
