"""The real Kueue, built from its pinned module, runs on the local control plane.

The feasibility check of issue 14: Kueue's webhooks (served on 127.0.0.1 with a
generated CA, registered by `url:`) suspend a queued batch/v1 Job, its
Workload says why it waits (Kueue's own words), and once a ClusterQueue has
quota for it Kueue admits it: the Job is unsuspended and its Pod runs.
"""

from __future__ import annotations

import json
from typing import Any

from dev.cluster import kubelet, kueuehost
from dev.cluster.fixtures import Kube, wait_for


def _get(kube: Kube, *args: str) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", *args, "-o", "json").stdout)


def _apply(kube: Kube, *docs: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                         "items": list(docs)}))


def _queues(ns: str, name: str, cpu: str) -> list[dict[str, Any]]:
    group = "kueue.x-k8s.io/v1beta2"
    return [
        {"apiVersion": group, "kind": "ResourceFlavor", "metadata": {"name": f"{name}-flavor"}},
        {"apiVersion": group, "kind": "ClusterQueue", "metadata": {"name": name},
         "spec": {"namespaceSelector": {}, "resourceGroups": [{
             "coveredResources": ["cpu", "memory"],
             "flavors": [{"name": f"{name}-flavor", "resources": [
                 {"name": "cpu", "nominalQuota": cpu},
                 {"name": "memory", "nominalQuota": "1Gi"}]}]}]}},
        {"apiVersion": group, "kind": "LocalQueue", "metadata": {"name": "lq", "namespace": ns},
         "spec": {"clusterQueue": name}},
    ]


def _job(ns: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "probe", "namespace": ns,
                         "labels": {"kueue.x-k8s.io/queue-name": "lq"}},
            "spec": {"parallelism": 1, "backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "hostNetwork": True, "containers": [{
                    "name": "c", "image": kubelet.PROJECT_IMAGES[0], "command": ["true"],
                    "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}}]}}}}


def test_kueue_holds_a_job_without_quota_and_admits_it_once_quota_exists(
        kube: Kube, kueue: kueuehost.Kueue) -> None:
    ns = kube.namespace("kq")
    name = f"cq-{ns}"
    _apply(kube, *_queues(ns, name, cpu="100m"))  # 100m of CPU: the 500m Job cannot fit
    _apply(kube, _job(ns))
    job = _get(kube, "job", "probe", "-n", ns)
    assert job["spec"]["suspend"] is True, "Kueue's webhook did not suspend the queued Job"

    def pending_message() -> str | None:
        items = _get(kube, "workloads.kueue.x-k8s.io", "-n", ns)["items"]
        for wl in items:
            for c in wl.get("status", {}).get("conditions", []):
                if c["type"] == "QuotaReserved" and c["status"] == "False" and c.get("message"):
                    return str(c["message"])
        return None
    message = wait_for(pending_message, 60, "a Workload saying why it waits")
    assert "insufficient" in message.lower() or "quota" in message.lower(), message

    cq = _queues(ns, name, cpu="2")[1]
    _apply(kube, cq)  # now there is room
    wait_for(lambda: _get(kube, "job", "probe", "-n", ns)["spec"].get("suspend") is False,
             60, "Kueue to admit (unsuspend) the Job")
    pod = wait_for(lambda: [p for p in _get(kube, "pods", "-n", ns, "-l", "job-name=probe")[
        "items"] if p["status"].get("phase") in ("Succeeded", "Failed")], 120,
        "the admitted Job's Pod to run to its end")[0]
    assert pod["status"]["phase"] == "Succeeded", pod["status"]
