#!/usr/bin/env node
// The quick start's main job on the bundled sample image (test-fixtures/sample/image, an OCI layout):
// convert the image to eStargz, check that every layer is lazy-pullable (and that the original is not), and
// show what is in it, all through the real `lazypull` CLI.
import { spawnSync } from "node:child_process"
import { mkdirSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const image = join(root, "test-fixtures", "sample", "image")
const out = join(root, "demo-out")
const cli = join(root, "node_modules", ".bin", "lazypull")
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

const lazypull = (args, { json = false, quiet = false, expect = 0 } = {}) => {
  const shown = `lazypull ${args.map((a) => (a.startsWith(root) ? a.slice(root.length + 1) : a)).join(" ")}`
  if (!quiet) console.log(`\n$ ${shown}`)
  const r = spawnSync(cli, args, { encoding: "utf8" })
  if (r.status !== expect) {
    process.stderr.write(r.stdout + r.stderr)
    console.error(`demo: '${shown}' exited ${r.status}, expected ${expect}`)
    process.exit(1)
  }
  if (!json && !quiet) process.stdout.write(r.stdout + r.stderr)
  return json ? JSON.parse(r.stdout) : r.stdout
}

const rel = (p) => (p.startsWith(root) ? p.slice(root.length + 1) : p)
const src = `oci:${image}:latest`
const dst = `oci:${join(out, "esgz")}:latest-esgz`
lazypull(["--version"])
console.log("\nThe sample image is a plain gzip image; a lazy-pulling runtime cannot use it:")
lazypull(["check", src], { expect: 1 })
console.log("\nConvert it to eStargz (as `ctr-remote image convert --estargz --oci` would):")
lazypull(["convert", src, dst, "--oci"])
console.log("\nProve every layer lazy-pullable: annotations, footer, TOC digest, every chunk, diffID, size:")
lazypull(["check", dst])
console.log(`\nThe converted image is the OCI layout ${rel(join(out, "esgz"))}/ (tag latest-esgz).`)
