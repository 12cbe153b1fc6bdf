// `lazypull --version` and `--help` must start fast: the start path loads single effect modules and the
// command definitions only; the SDK (codecs, engines, estargz) loads when a command runs. Checked by
// recording every module the real CLI resolves, through a module hook.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { fixture, runCommand, tmpDir } from "@lazypull/testkit"
import { BIN, assertBuilt } from "./cli.test-utils.ts"

beforeAll(() => assertBuilt())

const dir = tmpDir()
writeFileSync(
  join(dir, "hooks.mjs"),
  `import { appendFileSync } from "node:fs"
let log
export function initialize(data) { log = data.log }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(log, r.url + "\\n")
  return r
}
`,
)
writeFileSync(
  join(dir, "register.mjs"),
  `import { register } from "node:module"
register(new URL("./hooks.mjs", import.meta.url), { data: { log: process.env.LAZYPULL_MODULE_LOG } })
`,
)

let runs = 0
/** Every module URL the CLI resolved while running with `args`. */
const modulesOf = async (args: ReadonlyArray<string>) => {
  const log = join(dir, `modules-${runs++}.log`)
  writeFileSync(log, "")
  const r = await runCommand(
    process.execPath,
    ["--import", pathToFileURL(join(dir, "register.mjs")).href, BIN, ...args],
    { cwd: dir, env: { LAZYPULL_MODULE_LOG: log } },
  )
  return {
    code: r.code,
    stderr: r.stderr,
    modules: [...new Set(readFileSync(log, "utf8").split("\n").filter(Boolean))],
  }
}

const SDK = /\/packages\/[^/]+\/(dist|src)\//
const EFFECT_BARREL = /\/effect\/dist\/index\.js$/

describe("start path", () => {
  for (const args of [
    ["--version"],
    ["--help"],
    ["layer", "convert", "--help"],
    ["layer", "cat", "--help"],
  ]) {
    it(`lazypull ${args.join(" ")} loads no SDK module and no effect barrel`, async () => {
      const { code, stderr, modules } = await modulesOf(args)
      expect(code, stderr).toBe(0)
      expect(modules.some((m) => m.endsWith("/apps/cli/dist/commands/layerCommand.js"))).toBe(true)
      expect(modules.filter((m) => SDK.test(m))).toEqual([])
      expect(modules.filter((m) => m.endsWith("/commands/layerImpl.js"))).toEqual([])
      expect(modules.filter((m) => EFFECT_BARREL.test(m))).toEqual([])
      expect(modules).not.toContain("node:zlib")
    })
  }

  it("a command loads the SDK on demand (the hook sees it)", async () => {
    const { code, stderr, modules } = await modulesOf(["layer", "ls", fixture("pax.tar")])
    expect(code, stderr).toBe(3)
    expect(modules.some((m) => m.endsWith("/commands/layerImpl.js"))).toBe(true)
    expect(modules.some((m) => SDK.test(m))).toBe(true)
  })
})
