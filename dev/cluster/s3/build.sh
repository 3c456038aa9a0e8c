#!/usr/bin/env bash
# Builds versitygw, the S3-compatible server the tests run (posix backend on a
# temp folder), from the module pinned in this folder's go.mod into a cache
# folder outside the repository, keyed by version. Nothing is built when the
# binary is already there. Prints the binary's path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"
version="$(awk '/github.com\/versity\/versitygw v/ {print $NF; exit}' "$here/go.mod")"
bin="$cache/versitygw-$version/bin"
if [ ! -x "$bin/versitygw" ]; then
  mkdir -p "$bin"
  echo "building versitygw $version ..." >&2
  export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=mod"
  (cd "$here" && nice go build -ldflags="-s -w -X main.Version=$version" \
    -o "$bin/versitygw.tmp.$$" github.com/versity/versitygw/cmd/versitygw)
  mv "$bin/versitygw.tmp.$$" "$bin/versitygw"
fi
echo "$bin/versitygw"
