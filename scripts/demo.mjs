#!/usr/bin/env node
// The quick start's main job on the bundled sample image (test-fixtures/sample/image, an OCI layout):
// convert each layer to eStargz, verify it the way a lazy-pulling snapshotter would, and show what is in
// it, all through the real `lazypull` CLI.
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const image = join(root, "test-fixtures", "sample", "image")
const out = join(root, "demo-out")
const cli = join(root, "node_modules", ".bin", "lazypull")
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })

const lazypull = (args, { json = false, quiet = false } = {}) => {
  const shown = `lazypull ${args.map((a) => (a.startsWith(root) ? a.slice(root.length + 1) : a)).join(" ")}`
  if (!quiet) console.log(`\n$ ${shown}`)
  const r = spawnSync(cli, args, { encoding: "utf8" })
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr)
    console.error(`demo: '${shown}' exited ${r.status}`)
    process.exit(1)
  }
  if (!json && !quiet) process.stdout.write(r.stdout + r.stderr)
  return json ? JSON.parse(r.stdout) : r.stdout
}

const blob = (digest) => join(image, "blobs", ...digest.split(":"))
const index = JSON.parse(readFileSync(join(image, "index.json"), "utf8"))
const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), "utf8"))
console.log(`sample image: ${manifest.layers.length} gzip layers, manifest ${index.manifests[0].digest}`)

lazypull(["--version"])
manifest.layers.forEach((layer, i) => {
  const esgz = join(out, `layer-${i}.esgz`)
  const r = lazypull(["layer", "convert", blob(layer.digest), esgz, "--json"], { json: true })
  console.log(
    `  layer ${i}: ${layer.size} bytes gzip -> ${r.blobSize} bytes eStargz, TOC ${r.tocDigest.slice(0, 19)}…, diffID ${r.diffID.slice(0, 19)}…`,
  )
  const v = lazypull(["layer", "verify", esgz, "--toc-digest", r.tocDigest, "--json"], { json: true })
  console.log(`  verified: footer, TOC digest, every chunk and the tar stream; ${v.files.length} files`)
  lazypull(["layer", "ls", esgz])
})
lazypull(["layer", "cat", join(out, "layer-0.esgz"), "etc/hostname", "--stats"])
console.log(`\nThe converted layers are in ${out}/`)
