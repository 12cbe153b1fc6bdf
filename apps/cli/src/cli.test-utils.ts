// Helpers for the end-to-end tests: run the built CLI as a child process and look inside its outputs
// with nothing but node:zlib and node:crypto (no lazypull code), so the checks are independent.
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { gunzipSync } from "node:zlib"
import { type CommandOptions, repoRoot, runCommand } from "@lazypull/testkit"

/** The CLI entry point the tests spawn (it imports apps/cli/dist/main.js). */
export const BIN = join(repoRoot(), "apps", "cli", "bin", "lazypull.js")

/** What one CLI run printed and how it exited. */
export interface CliResult {
  readonly code: number
  readonly stdout: Buffer
  readonly stderr: string
  /** stdout as UTF-8. */
  readonly out: string
}

/** Runs `node apps/cli/bin/lazypull.js ...args` in `cwd` (no shell). */
export const lazypull = async (
  args: ReadonlyArray<string>,
  options: CommandOptions & { readonly cwd: string },
): Promise<CliResult> => {
  const r = await runCommand(process.execPath, [BIN, ...args], options)
  return { ...r, out: r.stdout.toString("utf8") }
}

/** stdout parsed as JSON; throws with the run's stderr when it is not JSON. */
export const jsonOf = (r: CliResult): any => {
  try {
    return JSON.parse(r.out)
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}): ${r.out.slice(0, 200)} / stderr: ${r.stderr}`)
  }
}

/** `sha256:<hex>` of some bytes. */
export const sha256 = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`

/** The first file of a ustar/PAX tar whose header names `name` (PAX headers skipped), as bytes. */
const firstTarFile = (tar: Uint8Array): { name: string; data: Uint8Array } => {
  let at = 0
  for (;;) {
    const header = tar.subarray(at, at + 512)
    const name = Buffer.from(header.subarray(0, 100)).toString("latin1").replace(/\0.*$/s, "")
    const size = Number.parseInt(Buffer.from(header.subarray(124, 136)).toString("latin1").trim() || "0", 8)
    const type = String.fromCharCode(header[156]!)
    const data = tar.subarray(at + 512, at + 512 + size)
    if (type === "x" || type === "g") {
      at += 512 + Math.ceil(size / 512) * 512
      continue
    }
    return { name, data }
  }
}

/** A TOC as the tests read it: the raw JSON (for its digest) and the parsed document. */
export interface TocFile {
  readonly json: Uint8Array
  readonly toc: { version: number; entries: Array<Record<string, any>> }
}

/**
 * The TOC of an eStargz blob, read independently of lazypull: the 51-byte footer's hex TOC offset, the
 * gzip member from there to the footer, the tar inside it. With `externalToc`, the TOC blob is read instead.
 */
export const tocOf = (blobPath: string, externalToc?: string): TocFile => {
  let tar: Uint8Array
  if (externalToc !== undefined) tar = gunzipSync(readFileSync(externalToc))
  else {
    const blob = readFileSync(blobPath)
    const footer = blob.subarray(blob.length - 51)
    if (footer.subarray(32, 38).toString("latin1") !== "STARGZ")
      throw new Error(`${blobPath}: no eStargz footer`)
    const tocOffset = Number.parseInt(footer.subarray(16, 32).toString("latin1"), 16)
    tar = gunzipSync(blob.subarray(tocOffset, blob.length - 51))
  }
  const { name, data } = firstTarFile(tar)
  if (name !== "stargz.index.json") throw new Error(`TOC tar holds ${name}, want stargz.index.json`)
  return { json: data, toc: JSON.parse(Buffer.from(data).toString("utf8")) }
}

/** Files in a directory whose name contains the atomic writer's temp marker. */
export const leftovers = (dir: string): Array<string> =>
  readdirSync(dir).filter((n) => n.includes(".lazypull-tmp-"))

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith(".ts") && !/\.(test|test-utils|bench)\.ts$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  )

/**
 * Throws when apps/cli was not built since its sources last changed: the tests spawn the built CLI, so
 * they would test stale code. `npm test` builds first; by hand run `node_modules/.bin/tsc -b`.
 */
export const assertBuilt = (): void => {
  const cli = join(repoRoot(), "apps", "cli")
  const stamp = join(cli, "tsconfig.tsbuildinfo")
  const built = existsSync(join(cli, "dist", "main.js")) && existsSync(stamp) ? statSync(stamp).mtimeMs : 0
  for (const src of sources(join(cli, "src")))
    if (statSync(src).mtimeMs > built)
      throw new Error(
        `apps/cli/${relative(cli, src)} changed after the last build: run node_modules/.bin/tsc -b`,
      )
}
