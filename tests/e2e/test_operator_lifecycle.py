"""The operator on the real control plane: a job from apply to Succeeded, and its Pod.

The first two tests run on real kubelet nodes (`kube`): the runner Pod is a
container of the runner image (host network, restricted), the real runner downloads
an FFmpeg-made clip from the test S3 server, encodes it and uploads the outputs, and
the test checks each file's size and checksum in S3. The GPU job runs on the GPU
node, whose GPU cannot encode (there is none), so the runner's own CPU fallback is
what the status records. The fake runner (`dev.fakerunner`) stays where the real one
cannot deliver on cue: a successful GPU encode, and the kubectl plugin's quick job.
Checks what a user sees: phase, conditions, outputs and metadata in the status,
Events, and a runner Pod built the way the issue asks (owner, restricted security,
secretKeyRef credentials, GPU limits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from dev import operators as opf
from dev import realrunner
from dev.cluster.fixtures import Kube
from dev.services import s3server


def _secret(kube: Kube, ns: str, name: str = "media-s3", **data: str) -> None:
    opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels=opf.CREDENTIALS_LABELS),
        string_data=data or {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}))


def test_job_reaches_succeeded_with_outputs_metadata_and_events(
        kube: Kube, operator: Any, s3_server: s3server.S3Server,
        tmp_path: Path) -> None:
    ns = kube.namespace("op")
    realrunner.prepare(kube, ns, s3_server)
    operator(ns, **realrunner.settings())
    source = realrunner.upload_source(s3_server, tmp_path, f"{ns}/trailer.mp4", size="640x360")
    opf.apply_job(kube, ns, realrunner.job("trailer", s3_server, source, outputs=2,
                                           acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "trailer", "Succeeded", "Failed", timeout=300)
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 1 and status["podName"] == "trailer-1"
    assert [o["name"] for o in status["outputs"]] == ["out0", "out1"]
    out = status["outputs"][0]
    assert out["url"] == "s3://media-out/trailer/0.mp4"
    assert (out["width"], out["height"], out["codec"], out["encoder"]) == (
        640, 360, "h264", "libx264")
    assert abs(out["durationSeconds"] - 1.0) < 0.1
    realrunner.verify_outputs(s3_server, status, tmp_path)  # size and checksum of each file
    meta = status["metadata"]
    assert (meta["encoderUsed"], meta["fallbackReason"], meta["gpuFallback"]) == (
        "libx264", "CPURequested", False)
    assert meta["processingSpeed"] > 0
    assert status["progress"]["percent"] == 100
    assert status["startTime"] and status["completionTime"]
    assert status["observedGeneration"] == job["metadata"]["generation"]
    # the runner's own sub-object, patched by the runner with its ServiceAccount
    runner = status["runner"]
    assert (runner["podName"], runner["attempt"], runner["phase"]) == ("trailer-1", 1, "Succeeded")
    conds = opf.conditions(job)
    assert conds["Succeeded"]["status"] == "True"
    assert conds["Failed"]["status"] == "False"
    assert conds["Reconciling"]["status"] == "False"
    assert conds["Stalled"]["status"] == "False"
    assert conds["GPUAccelerated"]["status"] == "False"
    assert "kubetranscoder.io/finalizer" in job["metadata"]["finalizers"]
    reasons = [r for r, _ in opf.wait_event(kube, ns, "trailer", "Succeeded")]
    assert reasons.count("Created") == 1 and reasons.count("Succeeded") == 1

    pods = opf.pods_of(kube, ns, "trailer")
    assert [p.metadata.name for p in pods] == ["trailer-1"]
    pod = pods[0]
    owner = pod.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "TranscodeJob", "trailer", job["metadata"]["uid"], True)
    c = pod.spec.containers[0]
    assert c.image == opf.KUBELET_RUNNER["runner__image"]
    ran = pod.status.container_statuses[0]
    assert ran.container_id.startswith("containerd://")  # a real container on a kubelet
    assert ran.state.terminated.exit_code == 0
    assert pod.spec.host_network is True and pod.spec.dns_policy == "ClusterFirstWithHostNet"
    assert pod.spec.service_account_name == realrunner.SERVICE_ACCOUNT
    env = {e.name: e for e in c.env}
    assert env["AWS_SECRET_ACCESS_KEY"].value is None
    assert env["AWS_SECRET_ACCESS_KEY"].value_from.secret_key_ref.name == realrunner.SECRET
    assert json.loads(env["TRANSCODER_JOB_SPEC"].value)["outputs"][1]["name"] == "out1"
    assert env["TRANSCODER_GPU_REQUESTED"].value == "false"
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"
    assert c.security_context.read_only_root_filesystem is True
    assert c.security_context.capabilities.drop == ["ALL"]
    assert pod.spec.restart_policy == "Never"
    assert "nvidia.com/gpu" not in (c.resources.limits or {})


def test_gpu_job_without_a_usable_gpu_falls_back_in_its_pod_and_says_why(
        kube: Kube, operator: Any, s3_server: s3server.S3Server,
        tmp_path: Path) -> None:
    """The GPU Pod gets the GPU node's nvidia.com/gpu and the nvidia RuntimeClass; the real
    runner finds no usable GPU there (no NVML, NVENC's test encode fails), encodes on the
    CPU and the job says so: the in-Pod fallback, as on any node whose GPU cannot encode."""
    ns = kube.namespace("op")
    realrunner.prepare(kube, ns, s3_server)
    operator(ns, **realrunner.settings())
    source = realrunner.upload_source(s3_server, tmp_path, f"{ns}/gpu.mp4")
    opf.apply_job(kube, ns, realrunner.job("gpujob", s3_server, source,
                                           acceleration={"mode": "gpu"}))
    job = opf.wait_phase(kube, ns, "gpujob", "Succeeded", "Failed", timeout=300)
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 1  # a fallback inside the Pod is no retry
    meta = status["metadata"]
    assert (meta["gpuFallback"], meta["fallbackReason"], meta["gpuEnabled"]) == (
        True, "NVMLUnavailable", False)
    assert "h264_nvenc test encode failed" in meta["fallbackMessage"]
    assert meta["encoderTried"][0] == "h264_nvenc" and meta["encoderUsed"] == "libx264"
    gpu_cond = opf.conditions(job)["GPUAccelerated"]
    assert (gpu_cond["status"], gpu_cond["reason"]) == ("False", "NVMLUnavailable")
    realrunner.verify_outputs(s3_server, status, tmp_path)
    pod = opf.pods_of(kube, ns, "gpujob")[0]
    c = pod.spec.containers[0]
    assert c.resources.limits["nvidia.com/gpu"] == "1"
    assert pod.spec.runtime_class_name == "nvidia"
    assert pod.spec.node_name == "gpu-node-0"
    assert pod.status.container_statuses[0].container_id.startswith("containerd://")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in [
        {"key": t.key, "operator": t.operator, "effect": t.effect} for t in pod.spec.tolerations]
    env = {e.name: e.value for e in c.env}
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    assert env["TRANSCODER_GPU_REQUESTED"] == "true"


def test_gpu_encode_is_recorded_as_gpu_accelerated(kube: Kube, operator: Any) -> None:
    """A GPU encode that succeeds (the fake runner's: no GPU here can encode) sets
    GPUAccelerated=True and gpuEnabled."""
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("gpujob", acceleration={"mode": "gpu"}))
    job = opf.wait_phase(kube, ns, "gpujob", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    meta = job["status"]["metadata"]
    assert (meta["gpuEnabled"], meta["gpuFallback"], meta["encoderUsed"]) == (
        True, False, "h264_nvenc")
    assert "fallbackReason" not in meta
    assert opf.conditions(job)["GPUAccelerated"]["status"] == "True"
    pod = opf.pods_of(kube, ns, "gpujob")[0]
    assert pod.spec.node_name == "gpu-node-0"
    assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"


def test_kubectl_transcode_submit_and_follow(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "1"})
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig, "PYTHONPATH": str(opf.REPO)}
    out = subprocess.run(
        [sys.executable, "-m", "transcode_operator.app.kubectl_plugin", "-n", ns, "submit",
         "s3://media-in/Big Buck.mov", "--dest", "s3://media-out/bbb/720p.mp4",
         "--resolution", "720p", "--mode", "cpu", "--follow"],
        env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "created" in out.stdout and "100%  Succeeded" in out.stdout
    assert "s3://media-out/bbb/720p.mp4" in out.stdout
    name = out.stdout.split("/", 1)[1].split()[0]
    assert name.startswith("big-buck-")
    follow = subprocess.run([sys.executable, "-m", "transcode_operator.app.kubectl_plugin", "-n", ns,
                             "follow", name], env=env, capture_output=True, text=True, timeout=60)
    assert follow.returncode == 0 and "Succeeded" in follow.stdout
