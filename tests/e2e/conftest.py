"""e2e tier: tests against the real local control plane and its real kubelet nodes.

The `kube` fixture (dev/cluster/fixtures.py) starts etcd, kube-apiserver,
kube-scheduler, kube-controller-manager and two kubelet + containerd nodes (built
from pinned Go modules) once per session: the only cluster of this tier. The
`operator` fixture is a factory: `operator(namespace, **settings)` starts a real
`transcode-operator` for that namespace (dev/operators.py) whose runner Pods are
containers of the local runner image on the host network, and stops it at the end
of the test, printing its log when the test failed; each operator serves only its
test's namespace, so tests never see each other's jobs. `kueue` starts the real
Kueue (dev/cluster/kueuehost.py) on that cluster once, for the tests that ask for
it. Every test here is marked `cluster`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dev import operators as opf
from dev.cluster import kueuehost
from dev.cluster.fixtures import Kube
from dev.services import procs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture
def operator(kube: Kube, tmp_path: Path, request: pytest.FixtureRequest
             ) -> Iterator[Callable[..., opf.OperatorProcess]]:
    """Factory: `operator(namespace, **settings)` starts an operator for that namespace."""
    yield from _operators(kube, tmp_path, request)


def _operators(kube: Kube, tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Callable[..., opf.OperatorProcess]]:
    opf.install_crd(kube)
    started: list[opf.OperatorProcess] = []
    failures_before = request.session.testsfailed

    def factory(namespace: str, kubeconfig: str | None = None,
                **settings: Any) -> opf.OperatorProcess:
        op = opf.OperatorProcess(kube, namespace, tmp_path / f"operator-{namespace}.log", settings,
                                 kubeconfig=kubeconfig)
        started.append(op)
        procs.on_exit(op.stop)
        return op.start()

    yield factory
    failed = request.session.testsfailed > failures_before
    for op in started:
        op.stop()
        if failed:  # straight to the terminal: teardown output is not shown otherwise
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                print(f"\n----- operator log ({op.namespace}, {op.log_path}) -----\n"
                      f"{op.log_tail()}")


@pytest.fixture(scope="session")
def kueue(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[kueuehost.Kueue]:
    """The real Kueue on the session's cluster (its webhooks are removed when it stops)."""
    k = kueuehost.Kueue(tmp_path_factory.mktemp("kueue"), Path(kube.kubeconfig),
                        kube.bin_dir / "kubectl")
    procs.on_exit(k.stop)
    try:
        yield k.start()
    finally:
        k.stop()
