const NEEDS_CLEAN = /^\/|\/\/|\/$|(?:^|\/)\.\.?(?:\/|$)/

/** Go's `strings.TrimPrefix(path.Clean("/"+name), "/")`: `./etc/` → `etc`, `/a/../b` → `b`, `../foo` → `foo`, `./` → `""`. */
export const cleanEntryName = (name: string): string => {
  if (!NEEDS_CLEAN.test(name)) return name
  const out: Array<string> = []
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") out.pop()
    else out.push(part)
  }
  return out.join("/")
}

/** The parent of a cleaned name: everything before its last `/`, `""` for a top-level name. */
export const parentName = (name: string): string => {
  const i = name.lastIndexOf("/")
  return i < 0 ? "" : name.slice(0, i)
}

/** The last component of a cleaned name. */
export const baseName = (name: string): string => name.slice(name.lastIndexOf("/") + 1)
