#!/usr/bin/env bash
# Builds the Helm CLI from the module pinned in this folder's go.mod into a
# cache folder outside the repository, keyed by version, for the chart tests
# (tests/unit/ship, tests/e2e/test_ship_*.py). Nothing is built when the binary
# is already there. Prints the binary's path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"
version="$(awk '/helm.sh\/helm\/v3 v/ {print $NF; exit}' "$here/go.mod")"
k8s="$(awk '/k8s.io\/client-go v/ {print $2; exit}' "$here/go.mod")"   # v0.37.0
k8s_minor="$(echo "$k8s" | cut -d. -f2)"
bin="$cache/helm-$version/bin"
if [ ! -x "$bin/helm" ]; then
  mkdir -p "$bin"
  echo "building helm $version ..." >&2
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
  ldflags="$ldflags -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  # The Kubernetes version `helm lint` / `helm template` assume (as Helm's Makefile sets it).
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
  done
  export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=mod"
  (cd "$here" && nice go build -ldflags="$ldflags" -o "$bin/helm.tmp.$$" helm.sh/helm/v3/cmd/helm)
  mv "$bin/helm.tmp.$$" "$bin/helm"
fi
echo "$bin/helm"
