#!/usr/bin/env bash
# Make the local base image `localhost/debian:bookworm-slim` from Debian's packages.
#
# No container registry is reachable from the machines here, so the base that the
# Dockerfiles start FROM is built locally: `debootstrap --variant=minbase bookworm`
# (the same Debian release and package set family as the upstream
# `debian:bookworm-slim`), then `podman import`. Cached twice:
#   - the image itself: skipped when `podman image exists` says it is there;
#   - the rootfs tarball in ${KT_CACHE_DIR:-$HOME/.cache/kube-transcoder}/, so a
#     fresh podman store (another machine state) re-imports in seconds.
# Set KT_BASE_REBUILD=1 to ignore both caches. Needs root (debootstrap, podman).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/env.sh"

IMAGE="${KT_BASE_IMAGE:-localhost/debian:bookworm-slim}"
SUITE=bookworm
MIRROR="${KT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$KT_CACHE_DIR"
TARBALL="$KT_CACHE_DIR/debian-$SUITE-minbase-$(dpkg --print-architecture).tar"

if [ "${KT_BASE_REBUILD:-0}" != 1 ] && podman image exists "$IMAGE"; then
  echo "make-base: $IMAGE exists (cached)"
  exit 0
fi

if [ "${KT_BASE_REBUILD:-0}" = 1 ] || [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { echo "make-base: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  work="$(mktemp -d "${TMPDIR:-/tmp}/kt-debootstrap.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  rootfs="$work/rootfs"
  echo "make-base: debootstrap --variant=minbase $SUITE ($MIRROR)"
  t0=$(date +%s)
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    echo "make-base: debootstrap failed; last lines of its log:" >&2
    tail -n 30 "$work/debootstrap.log" >&2
    exit 1
  }
  # Trim it the way the upstream slim image is trimmed: no apt lists, caches,
  # docs or man pages; and the apt settings that keep later installs lean.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  mkdir -p "$rootfs/etc/apt/apt.conf.d" "$rootfs/etc/dpkg/dpkg.cfg.d"
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  cat >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  # The same sources the upstream image has (deb822, main only).
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"
  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  echo "make-base: rootfs tarball $TARBALL ($(du -h "$TARBALL" | cut -f1), $(( $(date +%s) - t0 ))s)"
else
  echo "make-base: re-importing cached rootfs $TARBALL"
fi

podman import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --message "debootstrap --variant=minbase $SUITE" - "$IMAGE" <"$TARBALL" >/dev/null
echo "make-base: imported $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
