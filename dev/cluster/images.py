"""The project's two container images in the local podman store, as the local cluster uses them.

`ensure_images()` builds `localhost/kube-transcoder-runner:<KT_IMAGE_TAG>` and
`localhost/kube-transcoder-operator:<KT_IMAGE_TAG>` once per process with
`deploy/containers/build-images.sh` (layer-cached: seconds when nothing changed;
one build at a time on the machine, under a file lock, since parallel pytest workers
each start a cluster;
`KT_IMAGE_BUILD=missing` builds only an absent image, `KT_IMAGE_BUILD=0` never);
the kubelet nodes (`dev.cluster.kubelet`) import them from the store with
`podman save`. `podman(...)` runs one podman command with the project's
`deploy/containers/containers.conf` (runc, cgroupfs, ulimits) unless the caller
set `CONTAINERS_CONF`; the image tests use it to run the images directly.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from dev import cachedir

log = logging.getLogger("images")
REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "deploy" / "containers" / "containers.conf"
BUILD_SCRIPT = REPO / "deploy" / "containers" / "build-images.sh"
IMAGE_TAG = os.environ.get("KT_IMAGE_TAG", "dev")  # as build-images.sh tags them
RUNNER_IMAGE = f"localhost/kube-transcoder-runner:{IMAGE_TAG}"
OPERATOR_IMAGE = f"localhost/kube-transcoder-operator:{IMAGE_TAG}"
PROJECT_IMAGES = (RUNNER_IMAGE, OPERATOR_IMAGE)

LOCK_FILE = cachedir.folder() / "images.lock"
_lock = threading.Lock()
_built = False


def podman_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    env.update(extra or {})
    return env


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run one podman command with the project's configuration."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env=podman_env(), stdin=subprocess.DEVNULL, check=check)


def image_exists(image: str) -> bool:
    if not image or shutil.which("podman") is None:
        return False
    try:
        return podman("image", "exists", image, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_images() -> None:
    """Build both images once per process (see the module docstring for `KT_IMAGE_BUILD`).
    Raises with the build's tail if it fails."""
    global _built
    with _lock:
        mode = os.environ.get("KT_IMAGE_BUILD", "1")
        if _built or mode == "0":
            return
        if mode == "missing" and all(image_exists(i) for i in PROJECT_IMAGES):
            _built = True
            return
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with LOCK_FILE.open("w") as held:  # another process's build: wait, then reuse its layers
            fcntl.flock(held, fcntl.LOCK_EX)
            out = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True,
                                 env=podman_env(), stdin=subprocess.DEVNULL, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(f"{BUILD_SCRIPT.name} exited {out.returncode}:\n"
                               f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
        log.info("images built:\n%s", "\n".join(
            ln for ln in out.stdout.splitlines() if ln.startswith(("build-images", "make-base"))))
        _built = True
