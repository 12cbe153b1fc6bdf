#!/bin/sh
# Generates lazypull's test layers into test-fixtures/out (or $1) with tools independent of lazypull:
# Python's stdlib tarfile (generate.py), GNU tar, gzip and zstd. Deterministic: running it twice gives
# byte-identical files. Builds into a temp dir beside the target and moves it into place at the end.
# Needs: python3, GNU tar >= 1.28, gzip, truncate, dd; zstd (optional outside CI: the .tar.zst files are
# then left out with a warning).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
final=${1:-$here/out}
mtime=1704164645 # 2024-01-02T03:04:05Z

die() { echo "test-fixtures/generate.sh: $*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v gzip >/dev/null 2>&1 || die "gzip is required"
command -v truncate >/dev/null 2>&1 || die "truncate (coreutils) is required"
tar --version 2>/dev/null | head -n 1 | grep -q "GNU tar" || die "GNU tar is required"
have_zstd=yes
if ! command -v zstd >/dev/null 2>&1; then
  [ "${CI:-}" = "true" ] && die "zstd is required in CI"
  have_zstd=no
  echo "test-fixtures/generate.sh: WARNING: zstd not found, the .tar.zst fixtures are NOT generated" >&2
fi

work="$final.tmp.$$"
stage="$work/.stage"
rm -rf "$work"
mkdir -p "$stage"
trap 'rm -rf "$work"' EXIT INT TERM
umask 022

# GNU tar: fixed owner, mtime and order.
gtar() {
  tar --sort=name --owner=root:0 --group=root:0 --mtime=@$mtime "$@"
}

# 1. Python-made layers.
python3 "$here/generate.py" layers "$work"
python3 "$here/generate.py" record "$work"

# 2. ustar.tar: GNU tar --format=ustar, names start with ./ (root entry ./ included).
s="$stage/ustar"
mkdir -p "$s/etc" "$s/usr/bin" "$s/var/empty"
printf 'lazypull-fixture\n' >"$s/etc/hostname"
printf 'Welcome to the ustar fixture.\n' >"$s/etc/motd"
: >"$s/etc/empty-file"
printf '#!/bin/sh\necho hello\n' >"$s/usr/bin/hello"
ln "$s/usr/bin/hello" "$s/usr/bin/hello-hard"
ln -s hello "$s/usr/bin/hi"
ln -s /etc/hostname "$s/etc/hostname-abs"
chmod 0755 "$s" "$s/etc" "$s/usr" "$s/usr/bin" "$s/var" "$s/var/empty" "$s/usr/bin/hello"
chmod 0644 "$s/etc/hostname" "$s/etc/motd" "$s/etc/empty-file"
gtar --format=ustar -C "$s" -cf "$work/ustar.tar" .

# 3. gnu.tar: GNU tar --format=gnu; a 100+ char name and 100+ char link targets (././@LongLink 'L' and 'K').
s="$stage/gnu"
long="this-file-name-is-deliberately-longer-than-one-hundred-characters-to-force-a-gnu-longlink-entry.txt"
mkdir -p "$s/srv/long"
printf 'long name content\n' >"$s/srv/long/$long"
ln "$s/srv/long/$long" "$s/srv/long/z-hardlink-to-long-name"
ln -s "../long/$long" "$s/srv/long/symlink-with-long-target"
printf 'space\n' >"$s/srv/name with space.txt"
chmod 0755 "$s/srv" "$s/srv/long"
chmod 0644 "$s/srv/long/$long" "$s/srv/name with space.txt"
gtar --format=gnu -C "$s" -cf "$work/gnu.tar" srv

# 4. unsupported-sparse.tar: a sparse file (holes made with truncate) archived with --sparse --format=pax
#    Deterministic: extended header names without the pid, no atime/ctime records, and the pid in the
#    GNUSparseFile.<pid> member name replaced by 0.
s="$stage/sparse"
mkdir -p "$s/sparse"
truncate -s 8M "$s/sparse/holes.img"
printf 'data in the middle of holes\n' | dd of="$s/sparse/holes.img" bs=4096 seek=512 conv=notrunc 2>/dev/null
chmod 0755 "$s/sparse"
chmod 0644 "$s/sparse/holes.img"
gtar --sparse --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$s" -cf "$work/unsupported-sparse.tar" sparse
python3 "$here/generate.py" normalize-sparse "$work/unsupported-sparse.tar"

# 5. Compressed copies.
for f in ustar pax big; do gzip -n -6 -c "$work/$f.tar" >"$work/$f.tar.gz"; done
if [ "$have_zstd" = yes ]; then
  for f in pax big; do zstd -q -c "$work/$f.tar" >"$work/$f.tar.zst"; done
fi

# 6. The sample OCI image layout (uses ustar.tar.gz and pax.tar.gz).
python3 "$here/generate.py" image "$work"

# 7. Stamp: the generator's own hash, so test-fixtures/setup.ts can tell whether out/ is current.
rm -rf "$stage"
cat "$here/generate.sh" "$here/generate.py" | sha256sum | cut -d' ' -f1 >"$work/.generator-sha256"

# Move into place; if another run finished first with the same generator, keep its output.
if [ -d "$final" ]; then
  if cmp -s "$final/.generator-sha256" "$work/.generator-sha256"; then
    echo "test-fixtures: $final was generated meanwhile by a concurrent run; keeping it"
    exit 0
  fi
  old="$final.old.$$"
  mv "$final" "$old"
  mv -T "$work" "$final"
  rm -rf "$old"
else
  mv -T "$work" "$final" 2>/dev/null || [ -d "$final" ] || die "cannot move $work to $final"
fi
rm -rf "$work"
echo "test-fixtures: generated $(ls "$final" | wc -l) files in $final"
