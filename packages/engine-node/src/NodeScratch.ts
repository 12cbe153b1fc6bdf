import { randomBytes } from "node:crypto"
import { open, rm, type FileHandle } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { LayerError, Scratch, type ScratchFile } from "@lazypull/codec"
import type { RangeReader, RangeStats } from "@lazypull/range"
import { RangeReadError, checkBounds } from "@lazypull/range"

const ioFail = (message: string) => new LayerError({ reason: "Io", format: "scratch", message })

/**
 * Scratch space in temp files (deleted when the scope closes), for converters that spool a
 * decompressed layer for their second pass.
 *
 * @example
 * Effect.provide(program, layerScratchFile(os.tmpdir()))
 */
export const layerScratchFile = (dir: string = tmpdir()): Layer.Layer<Scratch> =>
  Layer.succeed(
    Scratch,
    Scratch.of({
      create: () =>
        Effect.gen(function* () {
          const path = join(dir, `lazypull-scratch-${randomBytes(8).toString("hex")}`)
          const fh = yield* Effect.acquireRelease(
            Effect.tryPromise({
              try: () => open(path, "w+", 0o600),
              catch: (e) => ioFail(`create ${path}: ${String(e)}`),
            }),
            (h: FileHandle) =>
              Effect.promise(() =>
                h
                  .close()
                  .catch(() => undefined)
                  .then(() => rm(path, { force: true })),
              ),
          )
          let size = 0
          let sealed: RangeReader | undefined
          const file: ScratchFile = {
            append: (bytes) =>
              sealed
                ? Effect.fail(ioFail("append after seal"))
                : Effect.tryPromise({
                    try: async () => {
                      let done = 0
                      while (done < bytes.length) {
                        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, size + done)
                        done += bytesWritten
                      }
                      size += bytes.length
                    },
                    catch: (e) => ioFail(`write ${path}: ${String(e)}`),
                  }),
            seal: () =>
              Effect.sync(() => {
                if (!sealed) {
                  const total = size
                  const stats: RangeStats = { reads: 0, bytes: 0 }
                  const readFully = async (buf: Uint8Array, offset: number) => {
                    let got = 0
                    while (got < buf.length) {
                      const { bytesRead } = await fh.read(buf, got, buf.length - got, offset + got)
                      if (bytesRead === 0) break
                      got += bytesRead
                    }
                    stats.reads++
                    stats.bytes += got
                    if (got < buf.length) throw new Error(`short read: ${got} of ${buf.length}`)
                  }
                  sealed = {
                    source: path,
                    size: total,
                    stats,
                    readInto: (offset, target) =>
                      Effect.flatMap(checkBounds(path, total, offset, target.length), () =>
                        Effect.tryPromise({
                          try: () => readFully(target, offset),
                          catch: (e) =>
                            new RangeReadError({
                              reason: "Io",
                              source: path,
                              offset,
                              length: target.length,
                              message: String(e),
                            }),
                        }),
                      ),
                    readAt: (offset, length) =>
                      Effect.flatMap(checkBounds(path, total, offset, length), () =>
                        Effect.tryPromise({
                          try: async () => {
                            const buf = new Uint8Array(length)
                            let got = 0
                            while (got < length) {
                              const { bytesRead } = await fh.read(buf, got, length - got, offset + got)
                              if (bytesRead === 0) break
                              got += bytesRead
                            }
                            stats.reads++
                            stats.bytes += got
                            if (got < length) throw new Error(`short read: ${got} of ${length}`)
                            return buf
                          },
                          catch: (e) =>
                            new RangeReadError({
                              reason: "Io",
                              source: path,
                              offset,
                              length,
                              message: String(e),
                            }),
                        }),
                      ),
                  }
                }
                return sealed
              }),
          }
          return file
        }),
    }),
  )
