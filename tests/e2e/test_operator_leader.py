"""One active operator: two replicas share a Lease, only the leader acts, a standby takes over.

Two real `transcode-operator` processes serve one namespace on the local control
plane with leader election on (dev/operators.py: lease 4 s, renew deadline 3 s,
retry 0.5 s). Which replica did the work is read from the Events it posted:
their `reportingInstance` is the replica's identity.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubernetes import client

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs

LEASE = "kube-transcoder-operator"


def _replica(kube: Kube, ns: str, tmp_path: Path, identity: str) -> opf.OperatorProcess:
    op = opf.OperatorProcess(kube, ns, tmp_path / f"operator-{identity}.log", {
        "runner__command": opf.fake_runner(), "runner__extra_env": {"KT_FAKE_SLEEP": "1"},
        "leader_election__identity": identity})
    procs.on_exit(op.stop)
    return op.start()


def _holder(kube: Kube, ns: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(kube.api_client).read_namespaced_lease(LEASE, ns)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity


def _reporters(kube: Kube, ns: str, job: str) -> set[str]:
    """The replicas that posted Events about `job`."""
    items = opf.core(kube).list_namespaced_event(
        ns, field_selector=f"involvedObject.name={job},involvedObject.kind=TranscodeJob").items
    return {e.reporting_instance for e in items}


def _run_job(kube: Kube, ns: str, name: str) -> None:
    opf.apply_job(kube, ns, opf.job_manifest(name, acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, name, "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    opf.wait_event(kube, ns, name, "Succeeded")


def test_only_the_leader_acts_and_a_standby_takes_over(
        kube: Kube, operator: Any, tmp_path: Path) -> None:
    opf.install_crd(kube)
    ns = kube.namespace("leader")
    first = _replica(kube, ns, tmp_path, "replica-a")
    wait_for(lambda: _holder(kube, ns) == "replica-a", 30, "replica-a to hold the Lease")
    second = _replica(kube, ns, tmp_path, "replica-b")
    try:
        jobs = [f"led-{i}" for i in range(3)]
        for name in jobs:
            _run_job(kube, ns, name)
            assert _reporters(kube, ns, name) == {"replica-a"}  # the standby did nothing
            assert [p.metadata.name for p in opf.pods_of(kube, ns, name)] == [f"{name}-1"]
        assert _holder(kube, ns) == "replica-a"
        assert "waiting for Lease" in second.log_tail(100_000)

        first.kill()  # SIGKILL: no release, the standby waits for the lease to expire
        killed = time.monotonic()
        wait_for(lambda: _holder(kube, ns) == "replica-b", 30, "replica-b to take the Lease")
        # Within the lease duration (4 s) plus a retry period and scheduling slack.
        assert time.monotonic() - killed < 4 + 0.5 + 6
        _run_job(kube, ns, "after-failover")
        assert _reporters(kube, ns, "after-failover") == {"replica-b"}

        second.stop()  # SIGTERM: the Lease is released, a new replica takes it at once
        assert _holder(kube, ns) in (None, "")
        third = _replica(kube, ns, tmp_path, "replica-c")
        wait_for(lambda: _holder(kube, ns) == "replica-c", 3, "replica-c to take the Lease")
        _run_job(kube, ns, "after-release")
        assert _reporters(kube, ns, "after-release") == {"replica-c"}
        third.stop()
    finally:
        first.stop()
        second.stop()
