"""The failure policy on the local control plane: a real ResourceQuota refuses the runner Pod.

The API server's quota admission answers 403 "exceeded quota"; the job must wait
Pending `QuotaExceeded` (one Event) instead of failing, and start once the quota
allows a Pod.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for


def test_a_quota_refusal_waits_and_starts_when_quota_frees(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("quota")
    core = opf.core(kube)
    core.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="media"), spec=client.V1ResourceQuotaSpec(
            hard={"pods": "0"})))
    wait_for(lambda: core.read_namespaced_resource_quota("media", ns).status.hard, 30,
             "the quota controller to count the namespace")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "1"},
             failure_policy__quota_retry_seconds=1)
    opf.apply_job(kube, ns, opf.job_manifest("quota", acceleration={"mode": "cpu"}))

    def waiting() -> dict[str, Any] | None:
        st = (opf.get_job(kube, ns, "quota") or {}).get("status") or {}
        return st if st.get("reason") == "QuotaExceeded" else None
    st = wait_for(waiting, 60, "the job to wait for quota")
    assert st["phase"] == "Pending" and "exceeded quota: media" in st["message"]
    assert opf.pods_of(kube, ns, "quota") == []
    events = opf.wait_event(kube, ns, "quota", "QuotaExceeded")

    core.patch_namespaced_resource_quota("media", ns, {"spec": {"hard": {"pods": "1"}}})
    job = opf.wait_phase(kube, ns, "quota", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert [p.metadata.name for p in opf.pods_of(kube, ns, "quota")] == ["quota-1"]
    events = opf.events_of(kube, ns, "quota")
    assert [r for r, _ in events].count("QuotaExceeded") == 1, events
