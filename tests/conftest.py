"""Root of the test tiers: the session fixtures that start real servers, and how
`make test` spreads the tests over parallel pytest-xdist workers.

`dev.cluster.fixtures` starts the local Kubernetes control plane and its kubelet
nodes; `dev.services.fixtures` starts the S3-compatible server and Redis. Each tier
(unit/, functional/, e2e/) has its own conftest.py; unit tests use none of these.
`make test` runs `pytest -n 3` with the scheduler below: every e2e module belongs to
one of two cluster groups (`E2E_SECOND_CLUSTER` lists the second), so two workers each
start one local cluster and run their half of the e2e tier in file order on it,
while the unit and functional modules go, each whole (its module fixtures are made
once), to the third worker and then to whichever worker is free. Without `-n` the groups are
ignored and one cluster serves the whole e2e tier, as before.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["dev.cluster.fixtures", "dev.services.fixtures"]

# About half of the e2e tier's time (measured with --durations=0 on a serial run): the
# Kueue modules stay together (one Kueue per cluster), new modules go to the first group.
E2E_SECOND_CLUSTER = frozenset({
    "test_kueue_jobs.py", "test_kueue_cluster.py", "test_redis_e2e.py",
    "test_redis_tenancy.py", "test_kubelet_smoke.py", "test_operator_restart.py",
    "test_operator_failures.py", "test_operator_notify.py", "test_cluster_smoke.py",
    "test_operator_gpu_fallback.py", "test_operator_policy.py", "test_kubelet_cleanup.py",
    "test_operator_rbac.py", "test_operator_faults.py", "test_images_run.py",
})


def xdist_group(nodeid: str) -> str:
    """The work unit of the test `nodeid` on the xdist workers (see the module docstring)."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if "e2e" in parts:
        return "cluster-2" if parts[-1] in E2E_SECOND_CLUSTER else "cluster-1"
    return path


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's load-scope scheduler with `xdist_group` as the scope: each unit goes whole
    to one worker, the biggest first (the two cluster halves)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return ByGroup(config, log)
