"""GPU scheduling fallback on the real scheduler: the only GPU is busy, what happens?

Each test first occupies the GPU node's single `nvidia.com/gpu` with a sleeping
GPU Pod of its own, so the job's GPU Pod is really Unschedulable. With
fallback allowed the operator replaces it with a CPU Pod after
`gpuPendingTimeout` and records `gpuFallback`/`GPUUnschedulable`: on real kubelet
nodes, where the CPU Pod runs the real runner, encodes and uploads a real file, and
the scheduling reason must win over what that runner reports. Without fallback the
job waits in Pending saying why, and runs on the GPU node once it is free: that needs
a GPU encode that succeeds, which only the fake runner (in the runner image) can
deliver on a machine without a GPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from dev import operators as opf
from dev import realrunner
from dev.cluster import kubelet
from dev.cluster.fixtures import Kube, wait_for, wait_pod_gone
from dev.services import s3server


def _hold_the_gpu(kube: Kube) -> Iterator[str]:
    """A namespace whose sleeping Pod (the runner image) holds the cluster's only GPU
    (deleted afterwards)."""
    image = kubelet.PROJECT_IMAGES[0]
    ns = kube.namespace("gpuhog")
    hog = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hog"}, "spec": {
        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "hostNetwork": True,
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", "import time; time.sleep(900)"],
                        "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "64Mi"}}}]}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(hog))
    wait_for(lambda: opf.core(kube).read_namespaced_pod("hog", ns).status.phase == "Running",
             300, "the GPU hog to run")  # a loaded node starts containers slowly
    yield ns
    free_the_gpu(kube, ns)


def free_the_gpu(kube: Kube, ns: str) -> None:
    """Delete the hog; return once its Pod object is gone (its GPU is free to schedule)."""
    core = opf.core(kube)
    try:
        core.delete_namespaced_pod("hog", ns, grace_period_seconds=0)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    wait_pod_gone(core, ns, "hog", 60, "the GPU hog to be gone")


@pytest.fixture
def busy_gpu(kube: Kube) -> Iterator[str]:
    """The session cluster's GPU held."""
    yield from _hold_the_gpu(kube)


def test_unschedulable_gpu_pod_falls_back_to_cpu_and_says_so(
        kube: Kube, operator: Any, busy_gpu: str,
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    ns = kube.namespace("op")
    realrunner.prepare(kube, ns, s3_server)
    operator(ns, **realrunner.settings())
    source = realrunner.upload_source(s3_server, tmp_path, f"{ns}/fallback.mp4")
    opf.apply_job(kube, ns, realrunner.job(
        "fallback", s3_server, source,
        acceleration={"mode": "auto", "gpuPendingTimeout": "3s"}))
    job = opf.wait_phase(kube, ns, "fallback", "Succeeded", "Failed", timeout=300)
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 2 and status["podName"] == "fallback-2"
    # the scheduling fallback outranks what the CPU Pod's runner found (no NVML there)
    meta = status["metadata"]
    assert meta["gpuFallback"] is True and meta["fallbackReason"] == "GPUUnschedulable"
    assert meta["gpuEnabled"] is False and meta["encoderUsed"] == "libx264"
    assert "Unschedulable" in meta["fallbackMessage"]
    gpu_cond = opf.conditions(job)["GPUAccelerated"]
    assert (gpu_cond["status"], gpu_cond["reason"]) == ("False", "GPUUnschedulable")
    realrunner.verify_outputs(s3_server, status, tmp_path)
    pods = opf.pods_of(kube, ns, "fallback")
    assert [p.metadata.name for p in pods] == ["fallback-2"]  # the GPU Pod was deleted
    cpu = pods[0]
    assert "nvidia.com/gpu" not in (cpu.spec.containers[0].resources.limits or {})
    assert cpu.metadata.annotations["kubetranscoder.io/fallback-reason"] == "GPUUnschedulable"
    assert cpu.spec.node_name == "cpu-node-0"  # it does not tolerate the GPU node's taint
    assert cpu.status.container_statuses[0].container_id.startswith("containerd://")
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

    free_the_gpu(kube, busy_gpu)
    job = opf.wait_phase(kube, ns, "patient", "Succeeded", "Failed", timeout=120)
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["attempts"] == 1
    assert job["status"]["metadata"]["gpuEnabled"] is True
