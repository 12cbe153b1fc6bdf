/** Which header flavour an entry was read from: PAX when it had an 'x' record, else the block's magic. */
export type TarFormat = "v7" | "ustar" | "pax" | "gnu"

/**
 * One tar entry's metadata after merging its extension headers (PAX 'x', GNU 'L'/'K').
 *
 * @example
 * if (header.typeflag === "0") console.log(header.name, header.size, header.xattrs.get("user.mime"))
 */
export interface TarHeader {
  /** Path after PAX `path` / GNU 'L'; ustar prefix joined with "/"; UTF-8 decoded (invalid bytes become U+FFFD). */
  readonly name: string
  /** One character: NUL becomes "0" (or "5" when the name ends in "/"); accepted entries have "0".."6". */
  readonly typeflag: string
  /** The mode field as stored: permissions, setuid/setgid/sticky and possibly S_IFMT bits. */
  readonly mode: number
  /** Owner user id (PAX `uid` overrides). */
  readonly uid: number
  /** Owner group id (PAX `gid` overrides). */
  readonly gid: number
  /** Payload bytes that follow the header (PAX `size` overrides); 0 for links, dirs, devices and FIFOs. */
  readonly size: number
  /** Seconds since the epoch; fractional when PAX `mtime` has a fraction. */
  readonly mtime: number
  /** Link target after PAX `linkpath` / GNU 'K'. */
  readonly linkname: string
  /** Owner user name (empty for v7 headers). */
  readonly uname: string
  /** Owner group name (empty for v7 headers). */
  readonly gname: string
  /** Device major number (char/block devices). */
  readonly devmajor: number
  /** Device minor number (char/block devices). */
  readonly devminor: number
  /** Header flavour. */
  readonly format: TarFormat
  /** PAX `SCHILY.xattr.<name>` records by name, values as raw bytes (binary-safe; empty values kept). */
  readonly xattrs: ReadonlyMap<string, Uint8Array>
  /** Every PAX record of this entry by key, values as raw bytes. */
  readonly pax: ReadonlyMap<string, Uint8Array>
}
