import { LayerError } from "@lazypull/codec"
import { cleanEntryName } from "@lazypull/toc"

/**
 * Reads a ctr-remote record file (`--estargz-record-in`): newline-delimited JSON objects with a `path`;
 * returns the paths in first-access order without duplicates. A plain list (one path per line, not JSON)
 * is accepted too.
 */
export const parseRecordFile = (text: string): ReadonlyArray<string> | LayerError => {
  const seen = new Set<string>()
  const out: Array<string> = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === "" || line.startsWith("#")) continue
    let path: string
    if (line.startsWith("{")) {
      let v: unknown
      try {
        v = JSON.parse(line)
      } catch {
        return new LayerError({
          reason: "BadOption",
          format: "record",
          message: `record line ${i + 1} is not JSON`,
        })
      }
      const p = (v as { path?: unknown }).path
      if (typeof p !== "string")
        return new LayerError({
          reason: "BadOption",
          format: "record",
          message: `record line ${i + 1} has no "path"`,
        })
      path = p
    } else {
      path = line
    }
    if (!seen.has(path)) {
      seen.add(path)
      out.push(path)
    }
  }
  return out
}

/** What ordering needs to know about one input entry. */
export interface OrderEntry {
  readonly clean: string
  readonly isHardlink: boolean
  readonly linkClean: string
}

const parentOf = (clean: string): string => {
  const i = clean.lastIndexOf("/")
  return i < 0 ? "" : clean.slice(0, i)
}

/**
 * Moves prioritized entries (with their parent directories and hardlink targets) to the front, as the
 * reference's `moveRec` does (FORMATS §5.3). One deliberate difference: a parent directory without a tar
 * entry of its own is skipped instead of making the whole path "not found" (ERRATA 2a), so files under
 * implicit directories can be prioritized too.
 *
 * Returns the indexes of moved entries in order, and the requested paths that were not found.
 */
export const prioritize = (
  entries: ReadonlyArray<OrderEntry>,
  paths: ReadonlyArray<string>,
): { moved: ReadonlyArray<number>; missed: ReadonlyArray<string> } => {
  const byName = new Map<string, number>()
  entries.forEach((e, i) => {
    byName.set(e.clean, i)
  })
  const moved = new Set<number>()
  const order: Array<number> = []
  const missed: Array<string> = []

  const move = (clean: string, depth: number): boolean => {
    if (depth > 4096) return false
    const idx = byName.get(clean)
    if (clean === "") {
      if (idx !== undefined && !moved.has(idx)) {
        moved.add(idx)
        order.push(idx)
      }
      return true
    }
    if (idx === undefined) return false
    if (moved.has(idx)) return true
    const parent = parentOf(clean)
    if (byName.has(parent) || parent === "") move(parent, depth + 1)
    else {
      // implicit parent: walk further up so that any ancestor that does have an entry still comes first
      let p = parentOf(parent)
      while (p !== "" && !byName.has(p)) p = parentOf(p)
      move(p, depth + 1)
    }
    const e = entries[idx]!
    if (e.isHardlink && e.linkClean !== clean) {
      if (!move(e.linkClean, depth + 1)) return false
    }
    if (!moved.has(idx)) {
      moved.add(idx)
      order.push(idx)
    }
    return true
  }

  for (const p of paths) {
    const clean = cleanEntryName(p)
    const mark = order.length
    if (!move(clean, 0)) {
      // undo partial moves of a path that failed (its parents stay only if another path moved them)
      for (const i of order.splice(mark)) moved.delete(i)
      missed.push(p)
    }
  }
  return { moved: order, missed }
}
