#!/usr/bin/env bash
# Installs the Debian packages a fresh machine lacks for `make demo` and `make test`
# (FFmpeg, Redis, Prometheus/promtool, Lua, podman/runc, debootstrap, and Chromium + npm for
# the streaming player tests: dev/players.py fetches hls.js/dash.js) and checks for
# the tools it cannot install (Go, unshare). Called by .ci/run and `make deps`.
set -euo pipefail
need=()
for pkg in ffmpeg redis-server prometheus lua5.4 podman runc debootstrap chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# npm often comes with a Node.js that is not Debian's (whose nodejs package then holds the
# npm command and conflicts with Debian's npm package): install it only when missing.
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
command -v go >/dev/null || { echo "Go is required (it builds the control plane)" >&2; exit 1; }
command -v unshare >/dev/null || { echo "unshare (util-linux) is required" >&2; exit 1; }
