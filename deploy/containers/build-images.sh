#!/usr/bin/env bash
# Build the operator and runner images with podman, on the local Debian base.
#
#   deploy/containers/build-images.sh [operator|runner ...]
#
# Makes `localhost/debian:bookworm-slim` first (make-base.sh; cached), then builds
#   localhost/kube-transcoder-operator:${KT_IMAGE_TAG:-dev}  (Dockerfile.operator)
#   localhost/kube-transcoder-runner:${KT_IMAGE_TAG:-dev}    (Dockerfile.runner)
# with `podman build --network host` (pip reaches PyPI from the builder stage),
# using the project's containers.conf (runc, cgroupfs, ulimits) via CONTAINERS_CONF.
# Layer caching makes a rebuild without changes take seconds. Prints each image's size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/env.sh"

TAG="${KT_IMAGE_TAG:-dev}"
BASE="${KT_BASE_IMAGE:-localhost/debian:bookworm-slim}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(operator runner)

command -v podman >/dev/null || { echo "build-images: podman is not installed (apt-get install podman runc)" >&2; exit 1; }
KT_BASE_IMAGE="$BASE" bash "$here/make-base.sh"

# pip in the builder stage trusts what pip trusts here (a TLS-inspecting proxy's CA
# included): the host's CA bundle goes in as a build secret, never into a layer.
secret=()
for ca in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$ca" ] && [ -s "$ca" ]; then secret=(--secret "id=build_ca,src=$ca"); break; fi
done

for t in "${targets[@]}"; do
  case "$t" in operator|runner) ;; *) echo "build-images: unknown image '$t' (operator|runner)" >&2; exit 2 ;; esac
  image="localhost/kube-transcoder-$t:$TAG"
  echo "build-images: building $image from Dockerfile.$t"
  t0=$(date +%s)
  podman build --network host --layers "${secret[@]}" \
    --build-arg "BASE_IMAGE=$BASE" \
    -f "$root/Dockerfile.$t" -t "$image" "$root"
  size=$(podman image inspect --format '{{.Size}}' "$image")
  echo "build-images: $image built in $(( $(date +%s) - t0 ))s, size $size bytes ($(( size / 1024 / 1024 )) MiB)"
done
