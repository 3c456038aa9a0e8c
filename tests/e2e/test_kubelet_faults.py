"""The failure policy produced for real: the operator and the real runner image on kubelet nodes.

Runs on the `kube` cluster (real kubelet + containerd, `dev.cluster.kubelet`)
with a real `transcode-operator` process (`dev.operators.OperatorProcess`) whose runner
Pods run the runner image (`localhost/kube-transcoder-runner:$KT_IMAGE_TAG`) as real
containers on the host network (`runner.hostNetwork`: there is no Pod network), against
the session's real S3 server with a generated source. Each test makes a node do what
production nodes do and asserts what a user sees on the job (phase, reason, message,
Events) and on its Pods: the kernel OOM-kills a runner and the next attempt gets twice
the memory limit; the runner refuses a source larger than the scratch sizeLimit before
downloading it; the kubelet evicts a runner whose outputs overflow that sizeLimit; a
missing image fails the job with the kubelet's words; and a job whose Pod's kubelet was
stopped (the Node goes NotReady) is deleted within the configured timeouts, its Pod
forced with grace 0, and one held by a foreign finalizer let go with a Warning.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from dev import media
from dev import operators as opf
from dev.cluster import kubelet
from dev.cluster.fixtures import Kube, wait_for, wait_pod_gone
from dev.services import procs, s3server
from transcode_api import constants, contract

RUNNER = kubelet.PROJECT_IMAGES[0]
ROOT = Path(__file__).resolve().parents[2]
SMALL = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}}
HOLD = "example.com/hold"  # another controller's finalizer on a runner Pod


@pytest.fixture(scope="module")
def sources(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, int]:
    """Sources in s3://media-in/faults/: `short.mp4` (2 s) and `long.mp4` (6 s); sizes."""
    s3 = s3_server.client()
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in ("media-in", "media-out"):
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    tmp = tmp_path_factory.mktemp("faults")
    sizes = {}
    for name, seconds in (("short.mp4", 2), ("long.mp4", 6)):
        path = media.make_sample(tmp / name, seconds, bitrate="4M")
        s3.upload_file(str(path), "media-in", f"faults/{name}")
        sizes[name] = path.stat().st_size
    return sizes


@pytest.fixture
def operator_on_kubelets(kube: Kube, s3_server: s3server.S3Server, tmp_path: Path,
                         request: pytest.FixtureRequest
                         ) -> Iterator[Callable[..., tuple[str, opf.OperatorProcess]]]:
    """Factory: a fresh namespace with the S3 Secret and the runner's RBAC, and an operator
    serving it whose runner Pods run the real image on the host network."""
    opf.install_crd(kube)
    kube.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac" / "runner.yaml"))
    started: list[opf.OperatorProcess] = []
    failures_before = request.session.testsfailed

    def factory(**settings: Any) -> tuple[str, opf.OperatorProcess]:
        ns = kube.namespace("faults")
        opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
            metadata=client.V1ObjectMeta(name="media-s3", labels=opf.CREDENTIALS_LABELS),
            string_data={constants.DEFAULT_ACCESS_KEY_ID_KEY: s3_server.access_key,
                         constants.DEFAULT_SECRET_ACCESS_KEY_KEY: s3_server.secret_key}))
        client.RbacAuthorizationV1Api(kube.api_client).create_namespaced_role_binding(
            ns, {"metadata": {"name": "runner"}, "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "kube-transcoder-runner"},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})
        config = {"runner__image": RUNNER, "runner__image_pull_policy": "IfNotPresent",
                  "runner__host_network": True, "runner__resources": SMALL,
                  "runner__termination_grace_period_seconds": 5,
                  "runner__scratch_storage_request": "64Mi", **settings}
        op = opf.OperatorProcess(kube, ns, tmp_path / f"operator-{ns}.log", config)
        started.append(op)
        procs.on_exit(op.stop)
        return ns, op.start()

    yield factory
    failed = request.session.testsfailed > failures_before
    for op in started:
        op.stop()
        if failed:
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled():
                print(f"\n----- operator log ({op.namespace}) -----\n{op.log_tail()}")


def _job(s3: s3server.S3Server, name: str, source: str = "short.mp4", *,
         outputs: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": f"s3://media-in/faults/{source}",
        "storage": {"endpoint": s3.endpoint, "pathStyle": True,
                    "credentialsSecretRef": {"name": "media-s3"}},
        "acceleration": {"mode": "cpu"}, "backoffLimit": 0,
        "outputs": outputs or [{"name": "360p", "destination": f"s3://media-out/faults/{name}.mp4",
                                "video": {"codec": "h264", "preset": "ultrafast",
                                          "resolution": "360p"}}],
        **spec}
    return {"apiVersion": f"{opf.GROUP}/{opf.VERSION}", "kind": "TranscodeJob",
            "metadata": {"name": name}, "spec": body}


def _why(kube: Kube, ns: str, name: str) -> str:
    """The job's status and its runner containers' logs (for a failed assertion)."""
    job = opf.get_job(kube, ns, name) or {}
    logs = "".join(n.container_log(ns, p.metadata.name, contract.CONTAINER_NAME)[-3000:]
                   for p in opf.pods_of(kube, ns, name) for n in kube.cluster.nodes
                   if isinstance(n, kubelet.KubeletNode))
    return f"status: {job.get('status')}\nrunner logs:\n{logs}"


def _reasons(kube: Kube, ns: str, name: str, last: str) -> list[str]:
    """The job's Event reasons once the `last` one is posted (Events follow the status)."""
    return [r for r, _ in opf.wait_event(kube, ns, name, last)]


def test_an_oom_killed_runner_is_retried_with_twice_the_memory_limit(
        kube: Kube, operator_on_kubelets: Any, s3_server: s3server.S3Server,
        sources: dict[str, int]) -> None:
    ns, _ = operator_on_kubelets()
    # 40Mi: the runner's Python with boto3 alone needs more (~50 MB resident)
    tight = {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "40Mi"}}
    opf.apply_job(kube, ns, _job(s3_server, "hog", resources=tight))
    job = opf.wait_phase(kube, ns, "hog", "Succeeded", "Failed", timeout=300)
    pods = opf.pods_of(kube, ns, "hog")
    first = pods[0].status.container_statuses[0].state.terminated
    assert first is not None and first.reason == "OOMKilled", _why(kube, ns, "hog")
    assert [p.spec.containers[0].resources.limits["memory"] for p in pods] == ["40Mi", "80Mi"]
    status = job["status"]
    assert status["phase"] == "Succeeded" or status["reason"] == "OutOfMemory", \
        _why(kube, ns, "hog")
    reasons = _reasons(kube, ns, "hog",
                       "Succeeded" if status["phase"] == "Succeeded" else "OutOfMemory")
    assert reasons.count("OOMKilled") == 1 and reasons.count("Created") == 2, reasons
    if status["phase"] == "Failed":
        assert "OOMKilled in 2 attempts" in status["message"] and "OutOfMemory" in reasons


def test_the_runner_refuses_a_source_larger_than_scratch_before_downloading(
        kube: Kube, operator_on_kubelets: Any, s3_server: s3server.S3Server,
        sources: dict[str, int]) -> None:
    ns, _ = operator_on_kubelets(runner__scratch_size_limit="1Mi")
    opf.apply_job(kube, ns, _job(s3_server, "huge"))
    job = opf.wait_phase(kube, ns, "huge", "Succeeded", "Failed", timeout=180)
    status = job["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "SourceTooLarge"), \
        _why(kube, ns, "huge")
    assert re.search(r"the scratch volume has [01]\.\d MiB free", status["message"]), status
    assert "runner.scratchSizeLimit" in status["message"]
    pod = opf.pods_of(kube, ns, "huge")[0]
    assert pod.spec.volumes[0].empty_dir.size_limit == "1Mi"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 65
    assert pod.status.reason is None  # the runner's refusal, not an eviction


def test_outputs_overflowing_the_scratch_size_limit_are_evicted_source_too_large(
        kube: Kube, operator_on_kubelets: Any, s3_server: s3server.S3Server,
        sources: dict[str, int]) -> None:
    # the runner's check passes (outputs estimated at 0 x the source), then the output,
    # encoded slowly at 0.2 CPU, grows past the 256 KiB left on scratch
    limit = str(sources["long.mp4"] + (256 << 10))
    ns, _ = operator_on_kubelets(runner__scratch_size_limit=limit,
                                 runner__extra_env={"TRANSCODER_SCRATCH_OUTPUT_FACTOR": "0"})
    slow = {"requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "200m", "memory": "1Gi"}}
    opf.apply_job(kube, ns, _job(s3_server, "overflow", "long.mp4", resources=slow,
                                         outputs=[{"name": "720p",
                                                   "destination": "s3://media-out/faults/of.mp4",
                                                   "video": {"codec": "h264", "resolution": "720p",
                                                             "bitrate": 20000000}}]))
    job = opf.wait_phase(kube, ns, "overflow", "Succeeded", "Failed", timeout=300)
    status = job["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "SourceTooLarge"), \
        _why(kube, ns, "overflow")
    pod = opf.pods_of(kube, ns, "overflow")[0]
    assert pod.status.reason == "Evicted"
    assert 'Usage of EmptyDir volume "scratch" exceeds the limit' in pod.status.message
    assert status["attempts"] == 1 and "SourceTooLarge" in _reasons(kube, ns, "overflow",
                                                                       "SourceTooLarge")


def test_a_missing_image_fails_image_pull_failed_with_the_kubelets_message(
        kube: Kube, operator_on_kubelets: Any, s3_server: s3server.S3Server) -> None:
    image = "ghcr.io/kube-transcoder/missing:v0"  # every registry is a closed loopback port
    ns, _ = operator_on_kubelets(runner__image=image,
                                 failure_policy__image_pull_timeout_seconds=15)
    opf.apply_job(kube, ns, _job(s3_server, "ghost"))
    job = opf.wait_phase(kube, ns, "ghost", "Succeeded", "Failed", timeout=180)
    status = job["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "ImagePullFailed"), status
    assert "could not pull its image for 15s" in status["message"]
    assert image in status["message"], status["message"]
    assert "ImagePullFailed" in _reasons(kube, ns, "ghost", "ImagePullFailed")
    wait_for(lambda: opf.pods_of(kube, ns, "ghost") == [], 60, "the Pod to be stopped")


def _node_ready(core: client.CoreV1Api, name: str) -> str:
    conds = core.read_node(name).status.conditions or []
    return next((c.status for c in conds if c.type == "Ready"), "Unknown")


@contextlib.contextmanager
def _stopped_kubelet(kube: Kube, name: str) -> Iterator[None]:
    """SIGSTOP the node's kubelet (it stops reporting; containerd keeps running), then
    SIGCONT it and wait until the Node is Ready again."""
    node = next(n for n in kube.cluster.nodes if n.name == name)
    assert isinstance(node, kubelet.KubeletNode)
    proc = node.procs["kubelet"]
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)
        core = opf.core(kube)
        wait_for(lambda: _node_ready(core, name) == "True", 120, f"{name} Ready again")


def test_deleting_jobs_on_a_not_ready_node_finishes_within_the_timeouts(
        kube: Kube, operator_on_kubelets: Any, s3_server: s3server.S3Server,
        sources: dict[str, int]) -> None:
    ns, _ = operator_on_kubelets(failure_policy__force_delete_after_seconds=5,
                                 failure_policy__release_finalizer_after_seconds=10)
    core = opf.core(kube)
    slow = {"requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "200m", "memory": "1Gi"}}
    for name in ("lost", "held"):
        opf.apply_job(kube, ns, _job(s3_server, name, "long.mp4", resources=slow))

    def running(name: str) -> client.V1Pod | None:
        pods = opf.pods_of(kube, ns, name)
        return pods[0] if pods and pods[0].status.phase == "Running" else None
    pods = {n: wait_for(lambda n=n: running(n), 180, f"{n}'s runner running") for n in
            ("lost", "held")}
    assert {p.spec.node_name for p in pods.values()} == {"cpu-node-0"}
    held = pods["held"].metadata.name
    core.patch_namespaced_pod(held, ns, {"metadata": {"finalizers": [HOLD]}})
    try:
        with _stopped_kubelet(kube, "cpu-node-0"):
            wait_for(lambda: _node_ready(core, "cpu-node-0") != "True", 120,
                     "cpu-node-0 to turn NotReady")
            for name in ("lost", "held"):
                opf.custom(kube).delete_namespaced_custom_object(
                    opf.GROUP, opf.VERSION, ns, opf.PLURAL, name)
            # grace 5 s + forceDeleteAfter 5 s (+ releaseFinalizerAfter 10 s), polled
            for name in ("lost", "held"):
                wait_for(lambda name=name: opf.get_job(kube, ns, name) is None, 90,
                         f"job {name} to be gone")
            wait_pod_gone(core, ns, pods["lost"].metadata.name, 10, "the forced Pod")
            assert core.read_namespaced_pod(held, ns).metadata.deletion_grace_period_seconds == 0
    finally:
        with contextlib.suppress(client.ApiException):
            core.patch_namespaced_pod(held, ns, {"metadata": {"finalizers": None}})
    lost = opf.events_of(kube, ns, "lost")
    forced = [m for r, m in lost if r == "PodForceDeleted"]
    assert len(forced) == 1 and "Node cpu-node-0, which is not Ready" in forced[0], lost
    assert "PodNotConfirmedGone" not in [r for r, _ in lost]
    kept = opf.events_of(kube, ns, "held")
    assert [r for r, _ in kept].count("PodForceDeleted") == 1, kept
    released = [m for r, m in kept if r == "PodNotConfirmedGone"]
    assert len(released) == 1 and held in released[0], kept
