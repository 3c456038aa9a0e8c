"""Runs the real operator (`transcode-operator`) as a local process against the local cluster.

Imported by the e2e tests (tests/e2e, whose conftest.py turns it into the
`operator` fixture) and by bench/operator_scale.py. `install_crd(kube)` applies
the generated CRD (and the `nvidia` RuntimeClass GPU Pods name); `create_job` creates
a TranscodeJob, retrying the API server's 503 while it publishes the CRD's schema.
`OperatorProcess(kube, namespace, log, settings).start()` starts
`transcode-operator -n NAMESPACE` with `TRANSCODER_*` settings (nested ones as
`runner__command=[...]`; the test S3 on 127.0.0.1 is an allowed endpoint and the
served namespace may use ambient credentials unless a test says otherwise) and
waits until its liveness endpoint answers; on a cluster of real kubelet nodes its
runner Pods get `KUBELET_RUNNER` first (the local runner image, host network, small
CPU requests);
`.kill()` sends SIGKILL (the restart test), `.stop()` ends it. The operator's
log goes to a file (`log_tail()` for failure reports).

`fake_runner()` is the runner command the operator-focused tests use in
place of `transcode-runner run` where they need an outcome on cue
(`dev.fakerunner`: exit codes, sleeps and progress per attempt, a result
document built from the real `RunnerResult`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from dev import fakerunner
from dev.cluster import kubelet
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs
from transcode_api import admission, contract

REPO = Path(__file__).resolve().parents[1]
CRD = REPO / "crds" / "transcodejobs.kubetranscoder.io.yaml"
CREDENTIALS_LABELS = {contract.CREDENTIALS_LABEL: contract.CREDENTIALS_LABEL_VALUE}
"""The labels a Secret needs before a job may use it as S3 credentials."""
GROUP, VERSION, PLURAL = "kubetranscoder.io", "v1alpha1", "transcodejobs"
KUBELET_RUNNER: dict[str, Any] = {
    "runner__image": kubelet.PROJECT_IMAGES[0],  # localhost/kube-transcoder-runner:<tag>
    "runner__image_pull_policy": "IfNotPresent",  # imported from podman's store: no pull
    "runner__host_network": True,  # no pod network: S3, Redis and the API on 127.0.0.1
    "runner__resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"memory": "1Gi"}},  # each node has 2 CPUs
}
"""Runner Pod settings of every operator on a cluster of real kubelet nodes (tests may
override them): the local runner image, the host network, small requests."""


def fake_runner() -> list[str]:
    """The fake runner (`dev.fakerunner`) as a container command: its source for `python3 -c`."""
    return ["python3", "-c", Path(fakerunner.__file__).read_text()]


def install_crd(kube: Kube) -> None:
    """Apply the generated CRD, the finalizer's MutatingAdmissionPolicy (as the chart and
    manifests/ install it) and the `nvidia` RuntimeClass; wait until established."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    policy = {"apiVersion": "v1", "kind": "List", "items": admission.objects()}
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                 input=json.dumps(policy))
    def established() -> bool:
        crd = client.ApiextensionsV1Api(kube.api_client).read_custom_resource_definition(
            "transcodejobs.kubetranscoder.io")
        return any(c.type == "Established" and c.status == "True"
                   for c in (crd.status and crd.status.conditions) or [])
    wait_for(established, 60, "the TranscodeJob CRD to be established")

    def served() -> bool:  # Established can come before the API server creates the kind
        try:
            custom(kube).create_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, job_manifest("served-probe"), dry_run="All")
        except client.ApiException as exc:
            if exc.status in (404, 503):
                return False
            raise
        return True
    wait_for(served, 60, "the API server to serve TranscodeJobs")
    runtime_class = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                     "metadata": {"name": "nvidia"}, "handler": "nvidia"}
    kube.kubectl("apply", "-f", "-", input=json.dumps(runtime_class))


def _env_name(key: str) -> str:
    return "TRANSCODER_" + key.upper()


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass
class OperatorProcess:
    """One `transcode-operator` process serving one namespace ("" serves all)."""

    kube: Kube
    namespace: str
    log_path: Path
    settings: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    liveness_port: int = 0
    kubeconfig: str | None = None
    """Another identity's kubeconfig (the RBAC test); default: the cluster admin's."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """Environment set last (a bench's PYTHONPATH with its measuring hook)."""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSCODER_")}
        env.update({"KUBECONFIG": self.kubeconfig or self.kube.kubeconfig, "PYTHONPATH": procs.PYTHONPATH,
                    "TRANSCODER_HTTP__PORT": "0"})
        # The test S3 and HTTP servers are on 127.0.0.1, which the runner's SSRF guard
        # refuses unless the operator forwards an allowlist naming it.
        env[_env_name("runner__network_allow")] = json.dumps(["127.0.0.1"])
        # Leader election stays on (the Lease is in the served namespace), with short
        # timings: an operator started after a SIGKILLed one acts within 4 s.
        env.update({_env_name("leader_election__lease_duration_seconds"): "4",
                    _env_name("leader_election__renew_deadline_seconds"): "3",
                    _env_name("leader_election__retry_period_seconds"): "0.5"})
        # The same S3 server as a job's storage.endpoint must be on the operator's endpoint
        # allowlist; and most operator tests' jobs name no credentials Secret (the fake
        # runner needs none), so the test namespace may use ambient credentials. Tests of
        # the tenant policy override both.
        env[_env_name("storage_policy__endpoints")] = json.dumps(["127.0.0.1"])
        env[_env_name("storage_policy__ambient_credentials_namespaces")] = json.dumps(
            [self.namespace or "*"])  # the served namespace (a glob too; "": all of them)
        if self.kube.cluster.nodes:  # real kubelet nodes: the runner image, as a real cluster
            env.update({_env_name(k): _env_value(v) for k, v in KUBELET_RUNNER.items()})
        env.update({_env_name(k): _env_value(v) for k, v in self.settings.items()})
        return {**env, **self.extra_env}

    def start(self, timeout: float = 60) -> OperatorProcess:
        self.liveness_port = procs.free_port()
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        scope = ["-n", self.namespace] if self.namespace else []  # "": all namespaces
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "transcode_operator", "-v", *scope,
             f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz"],
            cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        wait_for(self.alive, timeout, "the operator's liveness endpoint")
        return self

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"operator exited ({self.proc and self.proc.returncode}):\n"
                                 + self.log_tail())
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no graceful shutdown (the restart test)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        procs.stop_process(self.proc, grace=15)
        self.proc = None

    def log_tail(self, n: int = 12000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


def custom(kube: Kube) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube.api_client)


def core(kube: Kube) -> client.CoreV1Api:
    return client.CoreV1Api(kube.api_client)


def job_manifest(name: str, *, outputs: int = 1, **spec: Any) -> dict[str, Any]:
    """A TranscodeJob with `outputs` h264 renditions; `spec` overrides fields."""
    body: dict[str, Any] = {
        "source": "s3://media-in/trailer.mov",
        "outputs": [{"name": f"out{i}", "destination": f"s3://media-out/{name}/{i}.mp4",
                     "video": {"codec": "h264", "resolution": "720p"}}
                    for i in range(outputs)],
    }
    body.update(spec)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TranscodeJob",
            "metadata": {"name": name}, "spec": body}


def apply_job(kube: Kube, namespace: str, manifest: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def create_job(kube: Kube, namespace: str, manifest: dict[str, Any]) -> Any:
    """Create a TranscodeJob through the API, retrying the API server's 503 while it
    publishes the CRD's schema (`admission.retry_while_schema_pending`)."""
    return admission.retry_while_schema_pending(
        lambda: custom(kube).create_namespaced_custom_object(GROUP, VERSION, namespace,
                                                             PLURAL, manifest))


def get_job(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return dict(custom(kube).get_namespaced_custom_object(GROUP, VERSION, namespace,
                                                              PLURAL, name))
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def wait_phase(kube: Kube, namespace: str, name: str, *phases: str,
               timeout: float = 180) -> dict[str, Any]:
    """The job once `status.phase` is one of `phases` (a timeout names its last status)."""
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        job = get_job(kube, namespace, name)
        last["status"] = (job or {}).get("status") or {}
        return job if last["status"].get("phase") in phases else None
    try:
        return wait_for(check, timeout, f"{namespace}/{name} to reach {'/'.join(phases)}")  # type: ignore[no-any-return]
    except AssertionError as exc:
        seen = {k: last.get("status", {}).get(k) for k in ("phase", "reason", "message", "attempts")}
        raise AssertionError(f"{exc}; last status {seen}") from None


def pods_of(kube: Kube, namespace: str, name: str) -> list[client.V1Pod]:
    """The job's runner Pods by attempt (its cleanup Pod, which has no attempt, is not one)."""
    items = core(kube).list_namespaced_pod(
        namespace, label_selector=f"kubetranscoder.io/job={name}").items
    attempts = [p for p in items if "kubetranscoder.io/attempt" in p.metadata.labels]
    return sorted(attempts, key=lambda p: int(p.metadata.labels["kubetranscoder.io/attempt"]))


def conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions", [])}


def events_of(kube: Kube, namespace: str, name: str) -> list[tuple[str, str]]:
    """(reason, message) of the Events on a job, oldest first."""
    items = core(kube).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=TranscodeJob"
    ).items
    items.sort(key=lambda e: (e.first_timestamp or e.event_time or e.metadata.creation_timestamp))
    return [(e.reason, e.message) for e in items]


def wait_event(kube: Kube, namespace: str, name: str, reason: str,
               timeout: float = 30) -> list[tuple[str, str]]:
    """All Events of the job, once one with `reason` exists."""
    def check() -> list[tuple[str, str]] | None:
        found = events_of(kube, namespace, name)
        return found if any(r == reason for r, _ in found) else None
    return wait_for(check, timeout, f"a {reason} Event on {namespace}/{name}")  # type: ignore[no-any-return]
