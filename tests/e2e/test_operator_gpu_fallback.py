"""GPU scheduling fallback on the real scheduler: the only GPU is busy, what happens?

Each test first occupies the GPU node's single `nvidia.com/gpu` with a sleeping
GPU Pod of its own, so the job's GPU Pod is really Unschedulable. With
fallback allowed the operator replaces it with a CPU Pod after
`gpuPendingTimeout` and records `gpuFallback`/`GPUUnschedulable`; without it
the job waits in Pending saying why, and runs on the GPU once it is free.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for


@pytest.fixture
def busy_gpu(kube: Kube) -> Iterator[str]:
    """A namespace whose sleeping Pod holds the cluster's only GPU (deleted afterwards)."""
    ns = kube.namespace("gpuhog")
    hog = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hog"}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "main", "image": "python:3.11",
                        "command": ["python3", "-c", "import time; time.sleep(900)"],
                        "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(hog))
    wait_for(lambda: opf.core(kube).read_namespaced_pod("hog", ns).status.phase == "Running",
             60, "the GPU hog to run")
    yield ns
    kube.kubectl("delete", "pod", "hog", "-n", ns, "--grace-period=0", "--force",
                 "--wait=true", check=False)


def test_unschedulable_gpu_pod_falls_back_to_cpu_and_says_so(
        kube: Kube, operator: Any, busy_gpu: str) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest(
        "fallback", acceleration={"mode": "auto", "gpuPendingTimeout": "3s"}))
    job = opf.wait_phase(kube, ns, "fallback", "Succeeded", "Failed", timeout=120)
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 2 and status["podName"] == "fallback-2"
    meta = status["metadata"]
    assert meta["gpuFallback"] is True and meta["fallbackReason"] == "GPUUnschedulable"
    assert meta["gpuEnabled"] is False
    assert "Unschedulable" in meta["fallbackMessage"]
    gpu_cond = opf.conditions(job)["GPUAccelerated"]
    assert (gpu_cond["status"], gpu_cond["reason"]) == ("False", "GPUUnschedulable")
    pods = opf.pods_of(kube, ns, "fallback")
    assert [p.metadata.name for p in pods] == ["fallback-2"]  # the GPU Pod was deleted
    cpu = pods[0]
    assert "nvidia.com/gpu" not in (cpu.spec.containers[0].resources.limits or {})
    assert cpu.metadata.annotations["kubetranscoder.io/fallback-reason"] == "GPUUnschedulable"
    assert cpu.spec.node_name == "cpu-node-0" or cpu.spec.node_name == "gpu-node-0"
    events = opf.wait_event(kube, ns, "fallback", "FallbackToCPU")
    message = next(m for r, m in events if r == "FallbackToCPU")
    assert "stayed Unschedulable for 3s" in message
    assert "Retrying" not in [r for r, _ in events]  # a fallback is not a failure


def test_without_fallback_the_job_waits_for_a_gpu_and_says_why(
        kube: Kube, operator: Any, busy_gpu: str) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest(
        "patient", acceleration={"mode": "gpu", "gpuPendingTimeout": "2s",
                                 "allowCpuFallback": False}))
    def waiting() -> dict[str, Any] | None:
        job = opf.get_job(kube, ns, "patient")
        st = (job or {}).get("status") or {}
        return job if st.get("reason") == "GPUUnschedulable" else None
    job = wait_for(waiting, 60, "the job to wait for a GPU")
    assert job["status"]["phase"] == "Pending"
    assert "allowCpuFallback is false" in job["status"]["message"]
    assert "nvidia.com/gpu" in job["status"]["message"]  # the scheduler's own words
    opf.wait_event(kube, ns, "patient", "GPUUnschedulable")
    assert [p.metadata.name for p in opf.pods_of(kube, ns, "patient")] == ["patient-1"]

    kube.kubectl("delete", "pod", "hog", "-n", busy_gpu, "--grace-period=0", "--force",
                 "--wait=true")
    job = opf.wait_phase(kube, ns, "patient", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["attempts"] == 1
    assert job["status"]["metadata"]["gpuEnabled"] is True
