"""Restart safety: SIGKILL the operator mid-job, start it again, nothing is lost or doubled.

The operator keeps no state of its own: attempts, failures and fallbacks are
read back from the job's status and its Pods. These tests kill it at awkward
moments (a Pod running; a backoff pending; jobs just applied) and check that
every job still completes with exactly one Pod per attempt.
"""

from __future__ import annotations

from typing import Any

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for


def _names(kube: Kube, ns: str, job: str) -> list[str]:
    return [p.metadata.name for p in opf.pods_of(kube, ns, job)]


def test_killed_while_the_pod_runs_adopts_it_and_completes(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    op = operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "6"})
    opf.apply_job(kube, ns, opf.job_manifest("survivor", acceleration={"mode": "cpu"}))
    wait_for(lambda: _names(kube, ns, "survivor"), 60, "the first runner Pod")
    op.kill()
    op.start()
    job = opf.wait_phase(kube, ns, "survivor", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["attempts"] == 1
    assert _names(kube, ns, "survivor") == ["survivor-1"]


def test_killed_during_backoff_retries_once(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    op = operator(ns, runner__command=opf.fake_runner(),
                  runner__extra_env={"KT_FAKE_EXIT_CODES": "75,0"},
                  retry__backoff_base_seconds=4)
    opf.apply_job(kube, ns, opf.job_manifest("backoff", acceleration={"mode": "cpu"}))
    def retrying() -> bool:
        st = (opf.get_job(kube, ns, "backoff") or {}).get("status") or {}
        return st.get("reason") == "Retrying"
    wait_for(retrying, 60, "the job to wait for its retry")
    op.kill()
    op.start()
    job = opf.wait_phase(kube, ns, "backoff", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert _names(kube, ns, "backoff") == ["backoff-1", "backoff-2"]
    reasons = [r for r, _ in opf.events_of(kube, ns, "backoff")]
    assert reasons.count("Retrying") == 1


def test_killed_right_after_many_jobs_are_applied(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    op = operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "2"})
    names = [f"burst-{i}" for i in range(12)]
    for name in names:
        opf.apply_job(kube, ns, opf.job_manifest(name, acceleration={"mode": "cpu"}))
    wait_for(lambda: any(_names(kube, ns, n) for n in names), 60, "some runner Pods")
    op.kill()
    op.start()
    for name in names:
        job = opf.wait_phase(kube, ns, name, "Succeeded", "Failed")
        assert job["status"]["phase"] == "Succeeded", (name, job["status"])
        assert _names(kube, ns, name) == [f"{name}-1"], name
