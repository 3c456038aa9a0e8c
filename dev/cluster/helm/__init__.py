"""The Helm CLI for the chart tests, built from the module pinned in this folder.

`binary()` returns the path of `helm` (v3, version from go.mod), running
build.sh once when the cached binary is missing (a few minutes, then cached
under ${KT_CACHE_DIR:-~/.cache/kube-transcoder}/helm-<version>/bin). `env()` is
an environment that keeps Helm's config, cache and data out of the user's home.
`Helm` runs it against a cluster (`install`/`uninstall` of charts/kube-transcoder),
`local_cluster_values` adds what a release needs on the local cluster's kubelet
nodes (this checkout's images from the local store, the host network for every
Pod: there is no pod network), and `adoption_metadata` lets a release take over an
object created without Helm (the shared test cluster's CRD). Used by tests/unit/ship
(lint, template) and tests/e2e/test_ship_*.py, test_images_helm.py (install).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
IMAGE_TAG = os.environ.get("KT_IMAGE_TAG", "dev")  # as deploy/containers/build-images.sh tags them


@functools.cache
def binary() -> Path:
    """Path of the pinned helm binary, built (and cached) on first use."""
    out = subprocess.run(["bash", str(HERE / "build.sh")], capture_output=True, text=True,
                         timeout=1800, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"building helm failed (dev/cluster/helm/build.sh):\n{out.stderr[-4000:]}")
    path = Path(out.stdout.strip().splitlines()[-1])
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"build.sh printed {path}, which is not an executable")
    return path


def env(home: Path, kubeconfig: str | None = None) -> dict[str, str]:
    """Environment for helm: config, cache and data under `home`; optional kubeconfig."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    out.update({"HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
                "HELM_DATA_HOME": str(home / "data")})
    if kubeconfig:
        out["KUBECONFIG"] = kubeconfig
    return out


CHART = HERE.parents[2] / "charts/kube-transcoder"


@dataclasses.dataclass
class Helm:
    """The pinned helm pointed at one cluster (kubeconfig), with its state under `home`."""

    kubeconfig: str
    home: Path
    binary: Path = dataclasses.field(default_factory=binary)

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(self.binary), *args], capture_output=True, text=True,
                             env=env(self.home, self.kubeconfig), timeout=timeout, check=False)
        if check and out.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def install(self, release: str, namespace: str, values: dict[str, Any],
                timeout: str = "180s") -> subprocess.CompletedProcess[str]:
        """`helm install --wait` of charts/kube-transcoder with `values`."""
        values_file = self.home / f"{release}-values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        return self.run("install", release, str(CHART), "--namespace", namespace,
                        "--values", str(values_file), "--wait", "--timeout", timeout)

    def uninstall(self, release: str, namespace: str) -> subprocess.CompletedProcess[str]:
        """`helm uninstall --wait`: returns once the release's objects are deleted."""
        return self.run("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "180s")


def adoption_metadata(release: str, namespace: str) -> dict[str, Any]:
    """Labels and annotations that let `release` adopt an object created outside Helm."""
    return {"metadata": {
        "labels": {"app.kubernetes.io/managed-by": "Helm"},
        "annotations": {"meta.helm.sh/release-name": release,
                        "meta.helm.sh/release-namespace": namespace},
    }}


def local_image(repository: str) -> dict[str, str]:
    """Chart image values of a local image (`make images`), never pulled."""
    return {"registry": "localhost", "repository": repository, "tag": IMAGE_TAG,
            "pullPolicy": "Never"}


def local_cluster_values(values: dict[str, Any]) -> dict[str, Any]:
    """`values` plus what the local cluster needs: local images, host-network Pods.

    The operator, its runner Pods and the GPU probe reach the API server, Redis and
    S3 on 127.0.0.1 only from the host network; `values` wins where it sets the same.
    """
    base: dict[str, Any] = {
        "operator": {"image": local_image("kube-transcoder-operator"), "hostNetwork": True,
                     "config": {"runner": {"hostNetwork": True}}},
        "runner": {"image": local_image("kube-transcoder-runner")},
        "gpuProbe": {"hostNetwork": True},
    }
    return _merged(base, values)


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (_merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out
