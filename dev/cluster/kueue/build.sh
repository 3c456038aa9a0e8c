#!/usr/bin/env bash
# Builds the Kueue controller manager from the pinned Go module in this folder
# into a cache folder outside the repository, keyed by version, and copies the
# CRDs and webhook manifests of the same module next to it. What is already there is not built again.
# Prints the version folder (bin/kueue, crds/*.yaml, webhooks.yaml) on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"
version="$(awk '/sigs.k8s.io\/kueue v/ {print $NF; exit}' "$here/go.mod")"
root="$cache/kueue-$version"
mkdir -p "$root/bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=mod"
if [ ! -x "$root/bin/kueue" ]; then
  echo "building kueue $version ..." >&2
  (cd "$here" && go build -ldflags="-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$version" \
    -o "$root/bin/kueue.tmp.$$" sigs.k8s.io/kueue/cmd/kueue)
  mv "$root/bin/kueue.tmp.$$" "$root/bin/kueue"
fi
if [ ! -d "$root/crds" ]; then
  src="$(cd "$here" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)/config/components"
  mkdir "$root/crds.tmp.$$"
  cp "$src"/crd/bases/*.yaml "$root/crds.tmp.$$/"
  cp "$src/webhook/manifests.yaml" "$root/webhooks.yaml.tmp.$$"
  chmod u+w "$root/crds.tmp.$$"/*.yaml "$root/webhooks.yaml.tmp.$$"
  mv "$root/webhooks.yaml.tmp.$$" "$root/webhooks.yaml"
  mv "$root/crds.tmp.$$" "$root/crds"
fi
echo "$root"
