#!/usr/bin/env node
// Makes a fresh clone usable with nothing but Node 20 and npm: installs the pinned pnpm workspace
// (once, or again when the lockfile changed) and builds the TypeScript project references.
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const PNPM = "pnpm@10.34.9"
const stampFile = join(root, "node_modules", ".lazypull-install")
const lock = readFileSync(join(root, "pnpm-lock.yaml"))
const want = createHash("sha256")
  .update(lock)
  .update(readFileSync(join(root, "pnpm-workspace.yaml")))
  .digest("hex")
const have = existsSync(stampFile) ? readFileSync(stampFile, "utf8").trim() : ""

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1" },
  })
  if (r.status !== 0) {
    console.error(`bootstrap: '${cmd} ${args.join(" ")}' failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status ?? 1)
  }
}

if (have !== want) {
  const local = join(root, "node_modules", ".bin", "pnpm")
  if (existsSync(local)) run(local, ["install", "--frozen-lockfile"])
  else run("npx", ["-y", PNPM, "install", "--frozen-lockfile"])
  writeFileSync(stampFile, want + "\n")
}
if (!process.argv.includes("--no-build")) run(join(root, "node_modules", ".bin", "tsc"), ["-b"])
