import { gzipEngineSuite, sha256Suite } from "@lazypull/codec/testing"
import { PortableEngine } from "./index.ts"

gzipEngineSuite("fflate", PortableEngine.layerGzip)
sha256Suite("@noble/hashes", PortableEngine.layerSha256)
