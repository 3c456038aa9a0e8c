#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl) from the pinned Go modules in k8s/ and etcd/
# into a cache folder outside the repository, keyed by version. A binary that is
# already there is not built again. Prints the bin folder on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"
k8s_version="$(awk '/k8s.io\/kubernetes v/ {print $NF; exit}' "$here/k8s/go.mod")"
etcd_version="$(awk '/go.etcd.io\/etcd\/server\/v3 v/ {print $NF; exit}' "$here/etcd/go.mod")"
bin="$cache/k8s-$k8s_version-etcd-$etcd_version/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=mod"
build() { # build <name> <module dir> <package>
  local name="$1" dir="$2" pkg="$3"
  if [ -x "$bin/$name" ]; then return 0; fi
  echo "building $name ($pkg) ..." >&2
  (cd "$dir" && go build -ldflags="-s -w $ldflags" -o "$bin/$name.tmp.$$" "$pkg")
  mv "$bin/$name.tmp.$$" "$bin/$name"
}
ldflags=""
build etcd "$here/etcd" .
# The version the API server reports (kubectl, Helm and kopf read it).
minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for cmd in kube-apiserver kube-scheduler kube-controller-manager kubectl; do
  build "$cmd" "$here/k8s" "k8s.io/kubernetes/cmd/$cmd"
done
echo "$bin"
