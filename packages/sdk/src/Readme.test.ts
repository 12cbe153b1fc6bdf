import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot, runCommand, tmpDir } from "@lazypull/testkit"

const dir = join(repoRoot(), "packages", "sdk")
const example = join(dir, "examples", "convert-and-check.mjs")

describe("the README example", () => {
  it("is the example file, verbatim", () => {
    const readme = readFileSync(join(dir, "README.md"), "utf8")
    const block = /```js\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBe(readFileSync(example, "utf8"))
  })

  it("runs against the built package and converts and checks the sample image", async () => {
    // the example imports "@lazypull/sdk" as a user would: resolved to packages/sdk/dist through node_modules
    expect(existsSync(join(dir, "dist", "index.js"))).toBe(true)
    const out = tmpDir()
    const r = await runCommand(
      process.execPath,
      [
        example,
        `oci:${join(repoRoot(), "test-fixtures", "sample", "image")}:latest`,
        `oci:${join(out, "img")}:esgz`,
      ],
      { cwd: dir },
    )
    expect(r.code, r.stderr).toBe(0)
    const lines = r.stdout.toString("utf8").trim().split("\n")
    expect(lines[0]).toMatch(/^converted .* sha256:[0-9a-f]{64}$/)
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^layer 0: ok estargz, \d+ chunks$/),
      expect.stringMatching(/^layer 1: ok estargz, \d+ chunks$/),
    ])
  })
})
