// Cross-checks against independent implementations: GNU tar and Python's tarfile.
import { assert, describe, it } from "@effect/vitest"
import { type ExecFileSyncOptions, execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { listTar } from "./Stream.ts"
import { TarParser } from "./TarParser.ts"
import { type TarEntryInput, writeTar } from "./TarWriter.ts"

const QUIET: ExecFileSyncOptions = { stdio: ["ignore", "pipe", "pipe"] }
const have = (cmd: string, args: ReadonlyArray<string>) => spawnSync(cmd, args).status === 0
const HAVE_TOOLS = have("tar", ["--version"]) && have("python3", ["--version"])

/** Prints the facts Python's tarfile reports for every member, as JSON. */
const PY_FACTS = `
import sys, json, tarfile, hashlib, base64
out = []
with tarfile.open(sys.argv[1], "r:") as tf:
    for m in tf:
        data = tf.extractfile(m).read() if m.isreg() else b""
        xattrs = {}
        for k, v in m.pax_headers.items():
            if k.startswith("SCHILY.xattr."):
                xattrs[k[len("SCHILY.xattr."):]] = base64.b64encode(v.encode("utf-8", "surrogateescape")).decode()
        t = m.type.decode("latin-1")
        out.append({"name": m.name, "type": "0" if t == "\\x00" else t, "size": m.size if m.isreg() else 0,
                    "mode": m.mode, "uid": m.uid, "gid": m.gid, "mtime": m.mtime, "linkname": m.linkname,
                    "uname": m.uname, "gname": m.gname, "devmajor": m.devmajor, "devminor": m.devminor,
                    "xattrs": xattrs, "sha256": hashlib.sha256(data).hexdigest()})
print(json.dumps(out))
`

/** Writes archives with Python's tarfile: devices, binary xattrs (hdrcharset=BINARY), fractional mtimes. */
const PY_MAKE = `
import sys, io, tarfile
fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[sys.argv[2]]
def info(name, type=tarfile.REGTYPE, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti
with tarfile.open(sys.argv[1], "w", format=fmt) as tf:
    tf.addfile(info("etc/", tarfile.DIRTYPE, mode=0o755))
    body = b"hello tar\\n" * 70
    tf.addfile(info("etc/motd", size=len(body), mode=0o644, uid=1000, gid=1000, uname="app", gname="app"), io.BytesIO(body))
    tf.addfile(info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666))
    tf.addfile(info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0))
    tf.addfile(info("run/fifo", tarfile.FIFOTYPE))
    tf.addfile(info("etc/link", tarfile.SYMTYPE, linkname="motd"))
    tf.addfile(info("etc/hard", tarfile.LNKTYPE, linkname="etc/motd"))
    tf.addfile(info("empty", size=0))
    if fmt != tarfile.USTAR_FORMAT:
        name = "deep/" + "d" * 120 + "/" + "f" * 110
        tf.addfile(info(name, size=3), io.BytesIO(b"abc"))
        tf.addfile(info("sym", tarfile.SYMTYPE, linkname="t" * 165))
    if fmt == tarfile.PAX_FORMAT:
        bin = info("bin/tool", size=2, mode=0o755)
        bin.pax_headers = {
            "SCHILY.xattr.security.capability": bytes([1, 0, 0, 2, 0xc0, 0xff, 0, 0, 0xfe]).decode("utf-8", "surrogateescape"),
            "SCHILY.xattr.user.empty": "",
            "SCHILY.xattr.user.mime_type": "text/plain",
        }
        tf.addfile(bin, io.BytesIO(b"#!"))
        frac = info("frac", size=0)
        frac.mtime = 1700000000.25
        tf.addfile(frac)
        tf.addfile(info("ünïcödé/naïve.txt", size=1, uname="ädmin", uid=3000000), io.BytesIO(b"u"))
`

interface Facts {
  name: string
  type: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: number
  linkname: string
  uname: string
  gname: string
  devmajor: number
  devminor: number
  xattrs: Record<string, string>
  sha256: string
}

const pyFacts = (dir: string, path: string): Array<Facts> => {
  const script = join(dir, "facts.py")
  writeFileSync(script, PY_FACTS)
  return JSON.parse(execFileSync("python3", [script, path], { encoding: "utf8" })) as Array<Facts>
}

const ourFacts = (bytes: Uint8Array) =>
  Effect.map(listTar(bytes), (entries) =>
    entries.map(
      ({ header: h, data }): Facts => ({
        // Python strips the trailing "/" of directory names
        name: h.typeflag === "5" ? h.name.replace(/\/+$/, "") : h.name,
        type: h.typeflag,
        size: h.size,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        mtime: h.mtime,
        linkname: h.linkname,
        uname: h.uname,
        gname: h.gname,
        devmajor: h.devmajor,
        devminor: h.devminor,
        xattrs: Object.fromEntries([...h.xattrs].map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
        sha256: createHash("sha256").update(data).digest("hex"),
      }),
    ),
  )

/** Every byte accounted for and a clean End. */
const assertLossless = (bytes: Uint8Array) => {
  const p = new TarParser()
  p.push(bytes)
  p.end()
  const parts: Array<Uint8Array> = []
  let last: string | undefined
  for (let ev = p.next(); ev !== undefined; ev = p.next()) {
    last = ev._tag
    if (ev._tag === "Entry") parts.push(ev.raw)
    else if (ev._tag === "Data" || ev._tag === "Padding" || ev._tag === "Trailer") parts.push(ev.bytes)
  }
  assert.strictEqual(last, "End")
  assert.isTrue(Buffer.concat(parts).equals(bytes))
}

const withTmp = <A>(f: (dir: string) => A): A => {
  const dir = mkdtempSync(join(tmpdir(), "lazypull-tar-"))
  try {
    return f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A directory tree with the shapes real layers have. `long` adds names only GNU/PAX can hold. */
const makeTree = (root: string, long: boolean) => {
  const w = (p: string, data: string | Uint8Array) => {
    mkdirSync(join(root, p, ".."), { recursive: true })
    writeFileSync(join(root, p), data)
  }
  w("etc/hostname", "box\n")
  w("etc/empty", "")
  w("data/block512", new Uint8Array(512).fill(0x5a))
  w(
    "data/odd",
    Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff),
  )
  w("dir with space/file name.txt", "spaces")
  w("ünïcödé/naïve.txt", "utf8")
  w(`${"p".repeat(95)}/${"f".repeat(90)}`, "splittable") // ustar prefix
  symlinkSync("hostname", join(root, "etc/link"))
  execFileSync("ln", [join(root, "etc/hostname"), join(root, "etc/hard")])
  spawnSync("mkfifo", [join(root, "fifo")])
  if (long) {
    w(`long/${"x".repeat(150)}`, "long name")
    symlinkSync(`../${"t".repeat(150)}`, join(root, "long/longlink"))
  }
  utimesSync(join(root, "etc/hostname"), 1700000000.5, 1700000000.5)
}

describe.skipIf(!HAVE_TOOLS)("interop with GNU tar and Python tarfile", () => {
  for (const format of ["gnu", "pax", "ustar"] as const) {
    it.effect(`GNU tar --format=${format}: our parse equals Python's`, () =>
      Effect.gen(function* () {
        const { py, bytes } = withTmp((dir) => {
          const tree = join(dir, "tree")
          makeTree(tree, format !== "ustar")
          const out = join(dir, "t.tar")
          execFileSync(
            "tar",
            [`--format=${format}`, "--owner=app:1000", "--group=grp:2000", "-C", tree, "-cf", out, "."],
            QUIET,
          )
          const bytes = new Uint8Array(readFileSync(out))
          return { bytes, py: pyFacts(dir, out) }
        })
        const mine = yield* ourFacts(bytes)
        assert.isAtLeast(mine.length, 12)
        assert.deepStrictEqual(mine, py)
        const names = mine.map((f) => f.name)
        assert.include(names, "./ünïcödé/naïve.txt")
        assert.include(names, `./${"p".repeat(95)}/${"f".repeat(90)}`)
        if (format !== "ustar") assert.include(names, `./long/${"x".repeat(150)}`)
        assert.deepStrictEqual(
          mine.filter((f) => f.type === "1").map((f) => f.linkname),
          [mine.find((f) => f.type === "1")!.linkname],
        )
        assert.includeMembers(
          mine.map((f) => f.type),
          ["0", "1", "2", "5", "6"],
        )
        assertLossless(bytes)
      }),
    )

    it.effect(
      `Python tarfile ${format} (devices, xattrs, hdrcharset=BINARY): our parse equals Python's`,
      () =>
        Effect.gen(function* () {
          const { bytes, py } = withTmp((dir) => {
            const script = join(dir, "make.py")
            writeFileSync(script, PY_MAKE)
            const out = join(dir, "p.tar")
            execFileSync("python3", [script, out, format], QUIET)
            return { bytes: new Uint8Array(readFileSync(out)), py: pyFacts(dir, out) }
          })
          const mine = yield* ourFacts(bytes)
          assert.deepStrictEqual(mine, py)
          assert.isAtLeast(mine.length, 8)
          if (format === "pax") {
            const tool = mine.find((f) => f.name === "bin/tool")!
            assert.deepStrictEqual(tool.xattrs, {
              "security.capability": Buffer.from([1, 0, 0, 2, 0xc0, 0xff, 0, 0, 0xfe]).toString("base64"),
              "user.empty": "",
              "user.mime_type": Buffer.from("text/plain").toString("base64"),
            })
            assert.isTrue(new TextDecoder().decode(bytes).includes("hdrcharset=BINARY"))
            assert.strictEqual(mine.find((f) => f.name === "frac")!.mtime, 1700000000.25)
          }
          assertLossless(bytes)
        }),
    )
  }

  const ourEntries: Array<{ entry: TarEntryInput; data?: Uint8Array }> = [
    { entry: { name: "etc/", typeflag: "5", mode: 0o755, mtime: 1700000000 } },
    {
      entry: {
        name: "etc/hostname",
        typeflag: "0",
        mode: 0o644,
        uid: 1000,
        gid: 1000,
        uname: "app",
        gname: "app",
        mtime: 1700000000,
      },
      data: new TextEncoder().encode("box\n"),
    },
    { entry: { name: "etc/link", typeflag: "2", linkname: "hostname", mode: 0o777 } },
    { entry: { name: "etc/hard", typeflag: "1", linkname: "etc/hostname" } },
    {
      entry: { name: `deep/${"d".repeat(120)}/${"f".repeat(110)}`, typeflag: "0", mode: 0o600 },
      data: new Uint8Array(1000).fill(3),
    },
    { entry: { name: "sym", typeflag: "2", linkname: "t".repeat(170) } },
    { entry: { name: "ünïcödé/naïve.txt", typeflag: "0", mode: 0o644 }, data: new Uint8Array([0xc3]) },
    { entry: { name: "big-ids", typeflag: "0", uid: 2 ** 31 + 5, gid: 2 ** 22, mtime: 2 ** 34 } },
    { entry: { name: "fifo", typeflag: "6" } },
  ]
  const devices: Array<{ entry: TarEntryInput; data?: Uint8Array }> = [
    { entry: { name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 } },
    { entry: { name: "dev/big", typeflag: "4", devmajor: 259, devminor: 2 ** 21 } },
    {
      entry: {
        name: "bin/ping",
        typeflag: "0",
        xattrs: {
          "security.capability": new Uint8Array([1, 0, 0, 2, 0xff, 0xfe]),
          "user.empty": new Uint8Array(0),
        },
        mtime: 1700000000.75,
      },
      data: new Uint8Array([1, 2, 3]),
    },
  ]

  for (const format of [undefined, "ustar", "pax", "gnu"] as const) {
    it.effect(
      `our writeTar (${format ?? "default"}) is read by Python tarfile and GNU tar with the same facts`,
      () =>
        Effect.gen(function* () {
          const bytes = writeTar([...ourEntries, ...devices], format === undefined ? {} : { format })
          const mine = yield* ourFacts(bytes)
          const py = withTmp((dir) => {
            const out = join(dir, "ours.tar")
            writeFileSync(out, bytes)
            return pyFacts(dir, out)
          })
          assert.deepStrictEqual(py, mine)
          assert.strictEqual(py.length, ourEntries.length + devices.length)
          assert.deepStrictEqual(py.find((f) => f.name === "bin/ping")!.xattrs, {
            "security.capability": Buffer.from([1, 0, 0, 2, 0xff, 0xfe]).toString("base64"),
            "user.empty": "",
          })
          assert.strictEqual(py.find((f) => f.name === "bin/ping")!.mtime, 1700000000.75)
          assert.strictEqual(py.find((f) => f.name === "big-ids")!.uid, 2 ** 31 + 5)

          // GNU tar: list names, then extract (no device nodes) and compare contents and links
          withTmp((dir) => {
            const out = join(dir, "ours.tar")
            writeFileSync(out, bytes)
            const listed = execFileSync("tar", ["--quoting-style=literal", "-tf", out], {
              encoding: "utf8",
              env: { ...process.env, LC_ALL: "C.UTF-8" },
              stdio: ["ignore", "pipe", "pipe"],
            })
            assert.deepStrictEqual(
              listed.trimEnd().split("\n"),
              [...ourEntries, ...devices].map((e) => e.entry.name),
            )
            const verbose = spawnSync("tar", ["-tvf", out])
            assert.strictEqual(verbose.status, 0, verbose.stderr.toString())
            const plain = join(dir, "plain.tar")
            writeFileSync(
              plain,
              writeTar(
                ourEntries.filter((e) => e.entry.typeflag !== "6"),
                format === undefined ? {} : { format },
              ),
            )
            const x = join(dir, "x")
            mkdirSync(x)
            execFileSync("tar", ["-C", x, "--no-same-owner", "-xf", plain], QUIET)
            for (const { entry, data } of ourEntries) {
              if (entry.typeflag === "0")
                assert.isTrue(readFileSync(join(x, entry.name)).equals(data ?? new Uint8Array(0)), entry.name)
              if (entry.typeflag === "2")
                assert.strictEqual(readlinkSync(join(x, entry.name)), entry.linkname)
              if (entry.typeflag === "1")
                assert.isTrue(
                  readFileSync(join(x, entry.name)).equals(readFileSync(join(x, entry.linkname!))),
                )
            }
          })
        }),
    )
  }
})
