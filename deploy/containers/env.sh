# Source this file to use the project's podman configuration:
#   . deploy/containers/env.sh
# It points CONTAINERS_CONF at deploy/containers/containers.conf (runc, cgroupfs,
# ulimits) unless the caller already chose one.
_kt_containers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$_kt_containers_dir/containers.conf}"
export KT_CACHE_DIR="${KT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-transcoder}"  # as dev/cachedir.py
unset _kt_containers_dir
