import * as Effect from "effect/Effect"
import { ImageError } from "@lazypull/image"

/** A parsed image reference in skopeo's transport syntax. */
export type ImageRef =
  | { readonly transport: "oci"; readonly path: string; readonly tag: string | undefined }
  | { readonly transport: "oci-archive"; readonly path: string; readonly tag: string | undefined }
  | { readonly transport: "docker-archive"; readonly path: string; readonly tag: string | undefined }
  | { readonly transport: "docker"; readonly name: string }

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

const bad = (ref: string, message: string) =>
  Effect.fail(new ImageError({ reason: "BadOption", image: ref, message }))

/**
 * Parses `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]` and `docker://NAME`
 * (a bare `HOST/REPO:TAG` means `docker://`), as skopeo does: the path ends at the first `:`.
 *
 * @example
 * yield* parseImageRef("oci:out/image:latest") // { transport: "oci", path: "out/image", tag: "latest" }
 */
export const parseImageRef = (ref: string): Effect.Effect<ImageRef, ImageError> => {
  const colon = ref.indexOf(":")
  const scheme = colon < 0 ? "" : ref.slice(0, colon)
  const rest = colon < 0 ? ref : ref.slice(colon + 1)
  switch (scheme) {
    case "oci":
    case "oci-archive": {
      const at = rest.indexOf(":")
      const path = at < 0 ? rest : rest.slice(0, at)
      const tag = at < 0 ? undefined : rest.slice(at + 1)
      if (path === "") return bad(ref, `${scheme}: needs a path (${scheme}:PATH[:TAG])`)
      if (tag !== undefined && !TAG.test(tag) && !tag.includes("/"))
        return bad(ref, `${JSON.stringify(tag)} is not a valid tag`)
      return Effect.succeed({ transport: scheme, path, tag: tag === "" ? undefined : tag })
    }
    case "docker-archive": {
      const at = rest.indexOf(":")
      const path = at < 0 ? rest : rest.slice(0, at)
      if (path === "") return bad(ref, "docker-archive: needs a file (docker-archive:FILE)")
      return Effect.succeed({
        transport: scheme,
        path,
        tag: at < 0 ? undefined : rest.slice(at + 1) || undefined,
      })
    }
    case "docker":
      if (!rest.startsWith("//")) return bad(ref, "docker: references are written docker://HOST/REPO[:TAG]")
      return Effect.succeed({ transport: "docker", name: rest.slice(2) })
    default:
      if (scheme === "" || ref.includes("/")) return Effect.succeed({ transport: "docker", name: ref })
      return bad(
        ref,
        `unknown transport ${JSON.stringify(scheme)} (oci:, oci-archive:, docker-archive:, docker://)`,
      )
  }
}

/** The reference as the user wrote it, for messages. */
export const formatImageRef = (r: ImageRef): string =>
  r.transport === "docker"
    ? `docker://${r.name}`
    : `${r.transport}:${r.path}${r.tag !== undefined ? `:${r.tag}` : ""}`
