"""e2e tier: tests against the real local control plane and node agent.

The `kube` fixture (tests/cluster/fixtures.py) starts etcd, kube-apiserver,
kube-scheduler, kube-controller-manager (built from pinned Go modules) and the
node agent once per session. Every test here is marked `cluster`.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)
