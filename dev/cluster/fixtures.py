"""Pytest plugin: the `kube` session fixture, a real local cluster for e2e tests.

Loaded from tests/conftest.py. The cluster (control plane + two real kubelet
nodes, `dev.cluster.kubelet`, running this checkout's images) starts once per test
session on first use and is stopped, every PID of it, when the session ends, also
on Ctrl-C or a crash; it is the only cluster of the e2e tier. Tests get a `Kube`
handle: the kubeconfig path, a `kubernetes` ApiClient, a `kubectl()` runner for the
real kubectl, `namespace()` for a fresh namespace per test, and `node()` for a
kubelet node (its container logs and volumes on disk: no `kubectl logs` here).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from dev.cluster import cluster, kubelet
from dev.services import procs
from transcode_api.admission import SCHEMA_PENDING, SCHEMA_PENDING_RETRY_SECONDS


@dataclass
class Kube:
    cluster: cluster.LocalCluster
    api_client: client.ApiClient
    namespaces: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> str:
        return str(self.cluster.kubeconfig)

    @property
    def bin_dir(self) -> Path:
        return self.cluster.bin_dir

    def node(self, name: str) -> kubelet.KubeletNode:
        """The kubelet node `name` (e.g. a Pod's `spec.nodeName`)."""
        return next(n for n in self.cluster.nodes if n.name == name)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl; a refusal because the API server has not yet published
        the CRD's schema (`transcode_api.admission.SCHEMA_PENDING`) is tried again for
        up to a minute, as a user or a GitOps controller would."""
        deadline = time.monotonic() + SCHEMA_PENDING_RETRY_SECONDS
        while True:
            out = subprocess.run(self.cluster.kubectl_cmd(*args), input=input, text=True,
                                 capture_output=True, timeout=timeout)
            if (out.returncode == 0 or SCHEMA_PENDING not in out.stderr
                    or time.monotonic() > deadline):
                break
            time.sleep(0.5)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        client.CoreV1Api(self.api_client).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        self.namespaces.append(name)
        wait_for(lambda: _has_default_sa(self.api_client, name), 60, f"default SA in {name}")
        return name


def _has_default_sa(api: client.ApiClient, ns: str) -> bool:
    try:
        client.CoreV1Api(api).read_namespaced_service_account("default", ns)
        return True
    except client.ApiException:
        return False


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll `pred` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_pod_gone(core: client.CoreV1Api, namespace: str, name: str, timeout: float,
                  what: str) -> None:
    """Poll until the Pod object is gone from the API (404); fail with `what` after `timeout` s."""
    def gone() -> bool:
        try:
            core.read_namespaced_pod(name, namespace)
            return False
        except client.ApiException as exc:
            if exc.status == 404:
                return True
            raise
    wait_for(gone, timeout, what)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[cluster.LocalCluster]:
    from dev.cluster import images
    # The nodes run this checkout's images: build them unless current (podman's layer
    # cache makes that quick); KT_IMAGE_BUILD=missing|0 and KT_IMAGE_TAG choose otherwise.
    images.ensure_images()
    yield from _running(cluster.LocalCluster(kubelet_nodes=kubelet.default_nodes()), 300)


@pytest.fixture(scope="session")
def kube(local_cluster: cluster.LocalCluster) -> Iterator[Kube]:
    yield from _client(local_cluster)


def _running(c: cluster.LocalCluster, timeout: float = 180.0) -> Iterator[cluster.LocalCluster]:
    """Start `c` for the session and stop it at the end (or at exit, if pytest dies)."""
    procs.on_exit(c.stop)
    try:
        c.start(timeout=timeout)
        yield c
    finally:
        c.stop()


def _client(c: cluster.LocalCluster) -> Iterator[Kube]:
    cfg = client.Configuration()
    config.load_kube_config(str(c.kubeconfig), client_configuration=cfg)
    api = client.ApiClient(cfg)
    yield Kube(c, api)
    api.close()
