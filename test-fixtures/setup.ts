// vitest global setup (see /vitest.config.ts): makes sure the generated fixtures and the Go reference
// checker are current before any test runs (cheap when nothing changed: two small hashes), and gives the
// run a temp root for testkit's tmpDir() that the teardown removes.
import { ensureFixtures, ensureInterop } from "../packages/testkit/src/Setup.ts"
import { createRunTmpRoot } from "../packages/testkit/src/TmpDir.ts"

export default function setup(): () => void {
  const began = Date.now()
  const fixtures = ensureFixtures()
  const interop = ensureInterop()
  for (const [what, o] of [
    ["fixtures", fixtures],
    ["lazypull-interop", interop],
  ] as const) {
    if (o.action === "generated" || o.action === "built") {
      console.log(`[global setup] ${what}: ${o.action} (${o.detail})`)
    }
  }
  const ms = Date.now() - began
  if (ms > 2000) console.log(`[global setup] took ${ms} ms`)
  return createRunTmpRoot()
}
