"""TranscodeJobs through the real Kueue: queued, admitted, preempted and quota-starved jobs.

Each test makes its own ResourceFlavor/ClusterQueue/LocalQueue objects (named
after its namespace) on the session cluster with the real Kueue running, and
real operators with the fake runner. A ClusterQueue with 1 GPU of quota shared
by two namespaces holds the second GPU job `Queued` with Kueue's words until the
first finishes; a CPU ClusterQueue without quota of its own borrows from its
cohort; a higher WorkloadPriorityClass preempts a lower job, which shows
`Preempted`, is retried without counting and still Succeeds; GPU quota kept
full past gpuPendingTimeout moves the job to the CPU queue (`GPUQuotaExhausted`),
or, without allowCpuFallback, keeps it Queued saying why.
"""

from __future__ import annotations

import json
from typing import Any

from dev import operators as opf
from dev.cluster import kueuehost
from dev.cluster.fixtures import Kube, wait_for

GROUP = "kueue.x-k8s.io/v1beta2"
GPU = {"mode": "gpu", "gpuPendingTimeout": "10m"}


def _apply(kube: Kube, *docs: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                         "items": list(docs)}))


def cluster_queue(name: str, gpus: int, cpu: str = "8", cohort: str | None = None,
                  preempt: bool = False, flavor: str = "") -> list[dict[str, Any]]:
    flavor = flavor or f"{name}-flavor"  # a cohort lends quota per flavour
    # Every resource a runner Pod requests must be covered (ephemeral-storage: its scratch).
    resources = [{"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": "64Gi"},
                 {"name": "ephemeral-storage", "nominalQuota": "1Ti"},
                 {"name": "nvidia.com/gpu", "nominalQuota": gpus}]
    spec: dict[str, Any] = {"namespaceSelector": {}, "resourceGroups": [{
        "coveredResources": ["cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"],
        "flavors": [{"name": flavor, "resources": resources}]}]}
    if cohort:
        spec["cohortName"] = cohort
    if preempt:
        spec["preemption"] = {"withinClusterQueue": "LowerPriority"}
    return [{"apiVersion": GROUP, "kind": "ResourceFlavor", "metadata": {"name": flavor}},
            {"apiVersion": GROUP, "kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec}]


def local_queue(ns: str, name: str, cq: str) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": "LocalQueue", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterQueue": cq}}


def status_of(kube: Kube, ns: str, name: str) -> dict[str, Any]:
    return dict((opf.get_job(kube, ns, name) or {}).get("status") or {})


def wait_reason(kube: Kube, ns: str, name: str, phase: str, reason: str,
                timeout: float = 90, saying: str = "") -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        st = status_of(kube, ns, name)
        ok = st.get("phase") == phase and st.get("reason") == reason
        return st if ok and saying in st.get("message", "") else None
    return dict(wait_for(check, timeout, f"{ns}/{name} to be {phase} ({reason}) {saying}"))


def test_two_namespaces_share_one_gpu_the_second_waits_queued_then_runs(
        kube: Kube, operator: Any, kueue: kueuehost.Kueue) -> None:
    a, b = kube.namespace("kqa"), kube.namespace("kqb")
    cq = f"gpu-{a}"
    _apply(kube, *cluster_queue(cq, gpus=1), local_queue(a, "gpu", cq), local_queue(b, "gpu", cq))
    for ns in (a, b):
        operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "6"})
    opf.apply_job(kube, a, opf.job_manifest("first", queueName="gpu", acceleration=GPU))
    wait_for(lambda: opf.pods_of(kube, a, "first"), 60, "the first job's Pod (admitted)")
    second = opf.job_manifest("second", acceleration=GPU)
    second["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "gpu"}  # the label works too
    opf.apply_job(kube, b, second)
    st = wait_reason(kube, b, "second", "Queued", "Queued", saying="insufficient")
    assert "nvidia.com/gpu" in st["message"], st  # Kueue's own words, from the Workload
    assert opf.conditions({"status": st})["Reconciling"]["status"] == "True"
    assert opf.pods_of(kube, b, "second") == []
    first = opf.wait_phase(kube, a, "first", "Succeeded", "Failed", timeout=120)
    assert first["status"]["phase"] == "Succeeded", first["status"]
    done = opf.wait_phase(kube, b, "second", "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded" and done["status"]["attempts"] == 1
    assert done["status"]["metadata"]["gpuEnabled"] is True


def test_a_cpu_queue_without_quota_borrows_from_its_cohort(
        kube: Kube, operator: Any, kueue: kueuehost.Kueue) -> None:
    ns = kube.namespace("kqc")
    cohort = f"co-{ns}"
    _apply(kube, *cluster_queue(f"cpu-{ns}", gpus=0, cpu="0", cohort=cohort, flavor=cohort),
           *cluster_queue(f"idle-{ns}", gpus=0, cpu="4", cohort=cohort, flavor=cohort),
           local_queue(ns, "cpu", f"cpu-{ns}"))
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("borrow", queueName="cpu",
                                             acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "borrow", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    wl = json.loads(kube.kubectl("get", "workloads.kueue.x-k8s.io", "-n", ns, "-o",
                                 "json").stdout)["items"]
    admission = wl[0]["status"]["admission"]  # admitted by its own (quota-less) ClusterQueue
    assert admission["clusterQueue"] == f"cpu-{ns}", admission


def test_a_higher_priority_job_preempts_a_lower_one_which_is_retried_uncounted(
        kube: Kube, operator: Any, kueue: kueuehost.Kueue) -> None:
    ns = kube.namespace("kqp")
    cq = f"prio-{ns}"
    _apply(kube, *cluster_queue(cq, gpus=1, preempt=True), local_queue(ns, "gpu", cq),
           {"apiVersion": GROUP, "kind": "WorkloadPriorityClass",
            "metadata": {"name": f"low-{ns}"}, "value": 10},
           {"apiVersion": GROUP, "kind": "WorkloadPriorityClass",
            "metadata": {"name": f"high-{ns}"}, "value": 1000})
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "30,1"},
             placement_policy__workload_priority_class_names=[f"*-{ns}"])
    opf.apply_job(kube, ns, opf.job_manifest(
        "low", queueName="gpu", workloadPriorityClassName=f"low-{ns}", acceleration=GPU,
        backoffLimit=0))
    wait_for(lambda: status_of(kube, ns, "low").get("phase") == "Running", 90, "low to run")
    opf.apply_job(kube, ns, opf.job_manifest(
        "high", queueName="gpu", workloadPriorityClassName=f"high-{ns}", acceleration=GPU))
    events = opf.wait_event(kube, ns, "low", "Preempted", timeout=90)
    message = next(m for r, m in events if r == "Preempted")
    assert "not counted as a failure" in message, message
    low = opf.wait_phase(kube, ns, "low", "Succeeded", "Failed", timeout=180)
    assert low["status"]["phase"] == "Succeeded", low["status"]  # backoffLimit 0: uncounted
    assert low["status"]["attempts"] == 2
    high = opf.wait_phase(kube, ns, "high", "Succeeded", "Failed", timeout=60)
    assert high["status"]["phase"] == "Succeeded"


def test_gpu_quota_full_past_the_timeout_moves_to_the_cpu_queue_or_waits_saying_why(
        kube: Kube, operator: Any, kueue: kueuehost.Kueue) -> None:
    ns = kube.namespace("kqf")
    _apply(kube, *cluster_queue(f"nogpu-{ns}", gpus=0), *cluster_queue(f"cpu-{ns}", gpus=0),
           local_queue(ns, "gpu", f"nogpu-{ns}"), local_queue(ns, "cpu", f"cpu-{ns}"))
    operator(ns, runner__command=opf.fake_runner(), queues__cpu="cpu")
    opf.apply_job(kube, ns, opf.job_manifest(
        "starved", queueName="gpu", acceleration={"mode": "auto", "gpuPendingTimeout": "4s"}))
    opf.apply_job(kube, ns, opf.job_manifest(
        "patient", queueName="gpu", acceleration={"mode": "gpu", "gpuPendingTimeout": "4s",
                                                  "allowCpuFallback": False}))
    job = opf.wait_phase(kube, ns, "starved", "Succeeded", "Failed", timeout=120)
    st = job["status"]
    assert st["phase"] == "Succeeded" and st["attempts"] == 2, st
    meta = st["metadata"]
    assert meta["gpuFallback"] is True and meta["fallbackReason"] == "GPUQuotaExhausted", meta
    assert "Kueue did not admit" in meta["fallbackMessage"]
    pods = opf.pods_of(kube, ns, "starved")
    assert len(pods) == 1 and "nvidia.com/gpu" not in (pods[0].spec.containers[0].resources.limits
                                                       or {})
    batch = json.loads(kube.kubectl("get", "job.batch", "starved-2", "-n", ns, "-o",
                                    "json").stdout)
    assert batch["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "cpu"
    waiting = wait_reason(kube, ns, "patient", "Queued", "GPUQuotaExhausted", timeout=60)
    assert "allowCpuFallback is false" in waiting["message"], waiting
    assert opf.pods_of(kube, ns, "patient") == []
