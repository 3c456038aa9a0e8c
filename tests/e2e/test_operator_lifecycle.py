"""The operator on the real control plane: a job from apply to Succeeded, and its Pod.

A fake runner command (see `dev.operators.FAKE_RUNNER`) stands in for
`transcode-runner run`: it writes a RunnerResult to the termination message,
which is all the operator reads. Checks what a user sees: phase, conditions,
outputs and metadata in the status, Events, and a runner Pod built the way the
issue asks (owner, restricted security, secretKeyRef credentials, GPU limits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from kubernetes import client

from dev import operators as opf
from dev.cluster.fixtures import Kube


def _secret(kube: Kube, ns: str, name: str = "media-s3", **data: str) -> None:
    opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels=opf.CREDENTIALS_LABELS),
        string_data=data or {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}))


def test_job_reaches_succeeded_with_outputs_metadata_and_events(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(), runner__extra_env={"KT_FAKE_SLEEP": "1"})
    _secret(kube, ns)
    opf.apply_job(kube, ns, opf.job_manifest(
        "trailer", outputs=2, storage={"credentialsSecretRef": {"name": "media-s3"}},
        acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "trailer", "Succeeded", "Failed")
    status = job["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 1 and status["podName"] == "trailer-1"
    assert [o["name"] for o in status["outputs"]] == ["out0", "out1"]
    assert status["outputs"][0]["url"] == "s3://media-out/trailer/0.mp4"
    assert status["metadata"]["encoderUsed"] == "libx264"
    assert status["progress"]["percent"] == 100
    assert status["startTime"] and status["completionTime"]
    assert status["observedGeneration"] == job["metadata"]["generation"]
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
    env = {e.name: e for e in c.env}
    assert env["AWS_SECRET_ACCESS_KEY"].value is None
    assert env["AWS_SECRET_ACCESS_KEY"].value_from.secret_key_ref.name == "media-s3"
    assert json.loads(env["TRANSCODER_JOB_SPEC"].value)["outputs"][1]["name"] == "out1"
    assert env["TRANSCODER_GPU_REQUESTED"].value == "false"
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"
    assert c.security_context.read_only_root_filesystem is True
    assert c.security_context.capabilities.drop == ["ALL"]
    assert pod.spec.restart_policy == "Never"
    assert "nvidia.com/gpu" not in (c.resources.limits or {})


def test_gpu_job_asks_for_a_gpu_and_records_where_it_ran(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("gpujob", acceleration={"mode": "gpu"}))
    job = opf.wait_phase(kube, ns, "gpujob", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["metadata"]["gpuEnabled"] is True
    assert opf.conditions(job)["GPUAccelerated"]["status"] == "True"
    pod = opf.pods_of(kube, ns, "gpujob")[0]
    c = pod.spec.containers[0]
    assert c.resources.limits["nvidia.com/gpu"] == "1"
    assert pod.spec.runtime_class_name == "nvidia"
    assert pod.spec.node_name == "gpu-node-0"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in [
        {"key": t.key, "operator": t.operator, "effect": t.effect} for t in pod.spec.tolerations]
    env = {e.name: e.value for e in c.env}
    assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility,video"
    assert env["TRANSCODER_GPU_REQUESTED"] == "true"


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
