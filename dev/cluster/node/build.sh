#!/usr/bin/env bash
# Builds what a real kubelet node of the local cluster runs, into a cache folder
# outside the repository keyed by version: kubelet (from the same pinned
# k8s.io/kubernetes module as the control plane, ../k8s), containerd, ctr and
# containerd-shim-runc-v2 (containerd/), the CNI loopback plugin (cni/), the
# pause binary from the kubernetes module's own build/pause/linux/pause.c (static
# gcc) and, where podman is installed, the pause image as an OCI archive for
# `ctr images import`. Runc is Debian's (.ci/install-deps.sh). Anything already
# built is skipped. Called by `make cluster-bin`. Prints the bin folder last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"
k8s_version="$(awk '/k8s.io\/kubernetes v/ {print $NF; exit}' "$here/../k8s/go.mod")"
ctd_version="$(awk '/github.com\/containerd\/containerd\/v2 v/ {print $NF; exit}' "$here/containerd/go.mod")"
cni_version="$(awk '/github.com\/containernetworking\/plugins v/ {print $NF; exit}' "$here/cni/go.mod")"
bin="$cache/node-k8s-$k8s_version-containerd-$ctd_version-cni-$cni_version/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=mod"
build() { # build <name> <module dir> <package> [go build args...]
  local name="$1" dir="$2" pkg="$3"; shift 3
  if [ -x "$bin/$name" ]; then return 0; fi
  echo "building $name ($pkg) ..." >&2
  (cd "$dir" && nice -n 19 go build "$@" -o "$bin/$name.tmp.$$" "$pkg")
  mv "$bin/$name.tmp.$$" "$bin/$name"
}
minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
build kubelet "$here/../k8s" k8s.io/kubernetes/cmd/kubelet -ldflags="$ldflags"
ctd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$ctd_version"
ctd_ldflags="$ctd_ldflags -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
for cmd in containerd ctr containerd-shim-runc-v2; do
  build "$cmd" "$here/containerd" "github.com/containerd/containerd/v2/cmd/$cmd" \
    -tags no_btrfs -ldflags="$ctd_ldflags"
done
build loopback "$here/cni" github.com/containernetworking/plugins/plugins/main/loopback \
  -ldflags="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_version"
# The pause container, built from the source the kubelet's own module ships.
pause_tag="$(awk '/^TAG \?=/ {print $3; exit}' "$(cd "$here/../k8s" && go env GOMODCACHE)/k8s.io/kubernetes@$k8s_version/build/pause/Makefile")"
if [ ! -x "$bin/pause" ]; then
  src="$(cd "$here/../k8s" && go env GOMODCACHE)/k8s.io/kubernetes@$k8s_version/build/pause/linux/pause.c"
  echo "building pause $pause_tag ($src) ..." >&2
  gcc -Os -Wall -Werror -static -DVERSION="v$pause_tag-$k8s_version" -o "$bin/pause.tmp.$$" "$src"
  mv "$bin/pause.tmp.$$" "$bin/pause"
fi
archive="$bin/../pause-$pause_tag.oci.tar"
if [ ! -s "$archive" ] && command -v podman >/dev/null; then
  echo "building the pause image registry.k8s.io/pause:$pause_tag (FROM scratch) ..." >&2
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  cp "$bin/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/Containerfile"
  podman build -q -t "registry.k8s.io/pause:$pause_tag" "$ctx" >&2
  podman save -q --format oci-archive -o "$archive.tmp.$$" "registry.k8s.io/pause:$pause_tag"
  mv "$archive.tmp.$$" "$archive"
fi
echo "$bin"
