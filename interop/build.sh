#!/bin/sh
# Builds interop/bin/lazypull-interop against Debian's packaged Go libraries (GOPATH mode, no network).
# Needs the Debian packages: golang-go golang-github-containerd-stargz-snapshotter-dev
#   golang-github-klauspost-compress-dev golang-github-opencontainers-go-digest-dev
#   golang-github-vbatts-tar-split-dev golang-golang-x-sync-dev
# Usage: interop/build.sh [--check]   (--check: only report whether the toolchain is present; exit 0/1)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gopath=/usr/share/gocode
lib=$gopath/src/github.com/containerd/stargz-snapshotter/estargz

missing=""
command -v go >/dev/null 2>&1 || missing="$missing golang-go"
for dir in \
  "$lib:golang-github-containerd-stargz-snapshotter-dev" \
  "$gopath/src/github.com/klauspost/compress/zstd:golang-github-klauspost-compress-dev" \
  "$gopath/src/github.com/opencontainers/go-digest:golang-github-opencontainers-go-digest-dev" \
  "$gopath/src/github.com/vbatts/tar-split/archive/tar:golang-github-vbatts-tar-split-dev" \
  "$gopath/src/golang.org/x/sync/errgroup:golang-golang-x-sync-dev"; do
  [ -d "${dir%%:*}" ] || missing="$missing ${dir#*:}"
done
if [ -n "$missing" ]; then
  echo "interop/build.sh: missing Debian packages:$missing (apt-get install -y$missing)" >&2
  exit 1
fi
[ "${1:-}" = "--check" ] && exit 0

mkdir -p "$here/bin"
cache=${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/go-build}
tmp="$here/bin/.lazypull-interop.$$"
trap 'rm -f "$tmp"' EXIT INT TERM
(cd "$here/lazypull-interop" &&
  GO111MODULE=off GOPATH=$gopath GOFLAGS= GOCACHE=$cache CGO_ENABLED=0 go build -trimpath -o "$tmp" .)
mv -f "$tmp" "$here/bin/lazypull-interop"
# Stamp read by test-fixtures/setup.ts (via @lazypull/testkit) to tell whether the binary is current.
cd "$here" && LC_ALL=C && export LC_ALL && cat build.sh lazypull-interop/*.go | sha256sum | cut -d' ' -f1 >bin/.source-sha256
echo "built $here/bin/lazypull-interop"
