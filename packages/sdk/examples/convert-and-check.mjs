import { checkImage, convertImage } from "@lazypull/sdk"

const [src = "oci:test-fixtures/sample/image:latest", dst = "oci:demo-out/sdk:latest-esgz"] =
  process.argv.slice(2)

// Convert to eStargz (zstd:chunked: { format: "zstdchunked" }); DST appears only when complete and verified.
const result = await convertImage(src, dst, { oci: true })
console.log(`converted ${src} -> ${dst}: ${result.descriptor.digest}`)

// Prove every layer lazy-pullable: annotations, footer, TOC digest, every chunk, diffID and size.
const { ok, images } = await checkImage(dst)
for (const layer of images[0].layers)
  console.log(
    `layer ${layer.index}: ${layer.lazy ? `ok ${layer.format}, ${layer.chunks} chunks` : layer.reason}`,
  )
process.exitCode = ok ? 0 : 1
