#!/usr/bin/env bash
# Runs the build scripts of `make cluster-bin` side by side, in lanes, and with
# `--images` also deploy/containers/build-images.sh (the podman images the kubelet
# nodes run). A cold build spends part of its time waiting for module and package
# downloads and on single-threaded links; lanes fill those gaps on the other cores.
# The control plane and the kubelet node share one lane, in that order, because
# both compile the same k8s.io/kubernetes packages and the second reuses the first's
# Go build cache (two concurrent builds would compile them twice). Each lane's output
# goes to a log in a temp folder made here; a lane that fails prints its tail and
# makes this script fail after every lane has ended. Warm, every lane is a no-op.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lanes=(
  "control plane + kubelet node|bash '$here/build.sh' && bash '$here/node/build.sh'"
  "kueue|bash '$here/kueue/build.sh'"
  "s3 server|bash '$here/s3/build.sh'"
  "helm|bash '$here/helm/build.sh'"
)
[ "${1:-}" = "--images" ] && lanes+=("images|bash '$root/deploy/containers/build-images.sh'")
logs="$(mktemp -d "${TMPDIR:-/tmp}/kt-build-all.XXXXXX")"
trap 'rm -rf "$logs"' EXIT
t0=$(date +%s)
pids=()
for i in "${!lanes[@]}"; do
  cmd="${lanes[$i]#*|}"
  ( bash -c "$cmd" >"$logs/$i.log" 2>&1; rc=$?; echo $(( $(date +%s) - t0 )) >"$logs/$i.s"; exit $rc ) &
  pids+=("$!")
done
failed=0
for i in "${!lanes[@]}"; do
  name="${lanes[$i]%%|*}"
  if wait "${pids[$i]}"; then
    echo "build-all: $name ready ($(cat "$logs/$i.s")s)"
  else
    failed=1
    echo "build-all: $name FAILED after $(cat "$logs/$i.s")s; last lines of its log:" >&2
    tail -n 40 "$logs/$i.log" >&2
  fi
done
exit "$failed"
