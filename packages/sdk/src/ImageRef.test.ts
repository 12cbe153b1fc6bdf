import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import fc from "fast-check"
import { formatImageRef, parseImageRef } from "./ImageRef.ts"

const parse = (s: string) => Effect.runSyncExit(parseImageRef(s))
const ok = (s: string) => {
  const e = parse(s)
  if (!Exit.isSuccess(e)) throw new Error(`rejected ${s}`)
  return e.value
}

describe("parseImageRef", () => {
  it("reads skopeo's transports", () => {
    expect(ok("oci:out/image:latest")).toEqual({ transport: "oci", path: "out/image", tag: "latest" })
    expect(ok("oci:out/image")).toEqual({ transport: "oci", path: "out/image", tag: undefined })
    expect(ok("oci-archive:/tmp/a.tar:v1.2")).toEqual({
      transport: "oci-archive",
      path: "/tmp/a.tar",
      tag: "v1.2",
    })
    expect(ok("docker-archive:app.tar")).toEqual({
      transport: "docker-archive",
      path: "app.tar",
      tag: undefined,
    })
    expect(ok("docker://ghcr.io/x/y:1")).toEqual({ transport: "docker", name: "ghcr.io/x/y:1" })
    expect(ok("localhost:5000/repo:tag")).toEqual({ transport: "docker", name: "localhost:5000/repo:tag" })
  })

  it("refuses empty paths, bad tags and unknown transports with a BadOption ImageError", () => {
    for (const bad of [
      "oci:",
      "oci::x",
      "oci:dir:bad tag!",
      "oci-archive:",
      "docker-archive:",
      "docker:x",
      "ftp:x",
    ]) {
      const e = parse(bad)
      expect(Exit.isFailure(e), bad).toBe(true)
      if (Exit.isFailure(e)) expect(JSON.stringify(e.cause)).toContain("BadOption")
    }
  })

  it("never throws, and what it accepts formats back to an equivalent reference", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const e = parse(s)
        if (Exit.isSuccess(e)) expect(Effect.runSync(parseImageRef(formatImageRef(e.value)))).toEqual(e.value)
      }),
      { numRuns: 500 },
    )
  })
})
