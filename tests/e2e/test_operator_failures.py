"""Failed runs on the real control plane: retries with backoff, bad input, refused Secrets.

The fake runner exits with the code chosen per attempt (`KT_FAKE_EXIT_CODES`),
so these tests drive the operator's classification exactly as the real runner
will: 75 retries with backoff up to backoffLimit; bad input is the real runner's
own (a missing source object in S3, on a kubelet node) and fails at once; and a
credentials Secret that is missing, unlabelled or lacks a key fails the job
`CredentialsNotAllowed` before any Pod is created, with one message that names
the Secret and never tells which rule it broke.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from typing import Any

from kubernetes import client

from dev import operators as opf
from dev import realrunner
from dev.cluster.fixtures import Kube
from dev.services import s3server

FAST_BACKOFF = {"retry__backoff_base_seconds": 1, "retry__backoff_cap_seconds": 4}


def _created_at(pod: client.V1Pod) -> float:
    return float(pod.metadata.creation_timestamp.timestamp())


def test_transient_failures_retry_with_backoff_then_fail_after_backoff_limit(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(),
             runner__extra_env={"KT_FAKE_EXIT_CODES": "75"}, **FAST_BACKOFF)
    opf.apply_job(kube, ns, opf.job_manifest("flaky", backoffLimit=2,
                                             acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "flaky", "Succeeded", "Failed")
    status = job["status"]
    assert status["phase"] == "Failed"
    assert status["reason"] == "BackoffLimitExceeded"
    assert status["attempts"] == 3
    assert "exit 75" in status["message"]
    conds = opf.conditions(job)
    assert conds["Failed"]["status"] == "True" and conds["Stalled"]["status"] == "True"
    assert conds["Reconciling"]["status"] == "False"
    pods = opf.pods_of(kube, ns, "flaky")
    assert [p.metadata.name for p in pods] == ["flaky-1", "flaky-2", "flaky-3"]
    # backoff 1 s then 2 s after each failure (creation times are whole seconds)
    gaps = [_created_at(b) - _created_at(a) for a, b in zip(pods, pods[1:], strict=False)]
    assert gaps[0] >= 1 and gaps[1] >= 2, gaps
    reasons = [r for r, _ in opf.wait_event(kube, ns, "flaky", "BackoffLimitExceeded")]
    assert reasons.count("Retrying") == 2 and reasons.count("Created") == 3


def test_transient_failure_then_success(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner(),
             runner__extra_env={"KT_FAKE_EXIT_CODES": "75,0"}, **FAST_BACKOFF)
    opf.apply_job(kube, ns, opf.job_manifest("second", acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "second", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    assert job["status"]["attempts"] == 2 and job["status"]["podName"] == "second-2"
    assert job["status"]["outputs"][0]["bytes"] == 1002  # the second attempt's report


def test_bad_input_fails_at_once_with_the_runners_reason(
        kube: Kube, operator: Any, s3_server: s3server.S3Server) -> None:
    """The real runner, in its container on a kubelet node, finds no source object in S3:
    exit 65, no retry, its reason and message in the status."""
    ns = kube.namespace("op")
    realrunner.prepare(kube, ns, s3_server)
    operator(ns, **realrunner.settings(**FAST_BACKOFF))
    source = f"s3://media-in/{ns}/missing.mov"
    opf.apply_job(kube, ns, realrunner.job("badinput", s3_server, source, backoffLimit=5,
                                           acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "badinput", "Succeeded", "Failed", timeout=180)
    status = job["status"]
    assert (status["phase"], status["reason"], status["attempts"]) == (
        "Failed", "BadInput", 1), status
    assert f"{source} does not exist" in status["message"]
    pods = opf.pods_of(kube, ns, "badinput")
    assert [p.metadata.name for p in pods] == ["badinput-1"]
    assert pods[0].status.container_statuses[0].state.terminated.exit_code == 65


def _refused(kube: Kube, ns: str, name: str, secret: str) -> dict[str, Any]:
    """The job `name` failed CredentialsNotAllowed with the one message, before any Pod."""
    job = opf.wait_phase(kube, ns, name, "Succeeded", "Failed")
    status = job["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "CredentialsNotAllowed"), status
    assert status["message"] == (
        f'Secret "{secret}" cannot be used as S3 credentials: it must exist in this namespace, '
        "carry the label kubetranscoder.io/credentials=true and hold the keys "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    assert opf.pods_of(kube, ns, name) == []
    return job


def test_missing_secret_fails_naming_it_without_creating_a_pod(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest(
        "nocreds", storage={"credentialsSecretRef": {"name": "absent-s3"}}))
    _refused(kube, ns, "nocreds", "absent-s3")
    assert any(r == "ConfigError" for r, _ in opf.wait_event(kube, ns, "nocreds", "ConfigError"))


def test_missing_secret_key_fails_with_the_same_message(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    operator(ns, runner__command=opf.fake_runner())
    opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="half", labels=opf.CREDENTIALS_LABELS),
        string_data={"AWS_ACCESS_KEY_ID": "AKIA"}))
    opf.apply_job(kube, ns, opf.job_manifest(
        "halfcreds", storage={"credentialsSecretRef": {"name": "half"}}))
    _refused(kube, ns, "halfcreds", "half")


class _Recorder(http.server.BaseHTTPRequestHandler):
    """An attacker's "S3 endpoint": records every request it gets (headers included)."""

    seen: list[str] = []

    def _record(self) -> None:
        self.seen.append(f"{self.command} {self.path}\n{self.headers}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = do_HEAD = _record

    def log_message(self, *_: Any) -> None:
        pass


def test_unlabelled_secret_is_refused_without_a_pod_or_its_values(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    operator(ns, runner__command=opf.fake_runner())
    values = {"AWS_ACCESS_KEY_ID": "AKIAUNLABELLED7q3z",
              "AWS_SECRET_ACCESS_KEY": "n0t-f0r-j0bs-9x2w"}
    opf.core(kube).create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="app-db"), string_data=values))
    endpoint = f"http://127.0.0.1:{attacker.server_address[1]}"
    try:
        opf.apply_job(kube, ns, opf.job_manifest(
            "borrowed", storage={"credentialsSecretRef": {"name": "app-db"},
                                 "endpoint": endpoint}))
        job = _refused(kube, ns, "borrowed", "app-db")
        events = opf.wait_event(kube, ns, "borrowed", "ConfigError")
    finally:
        attacker.shutdown()
    seen = json.dumps(job["status"]) + json.dumps(events)
    for value in values.values():
        assert value not in seen
        assert base64.b64encode(value.encode()).decode() not in seen
    assert opf.pods_of(kube, ns, "borrowed") == []
    # Nothing ever connected to the job's endpoint, so no request carried the values.
    assert _Recorder.seen == []


def test_secret_deleted_after_the_check_fails_from_the_pods_config_error(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("op")
    # The pre-check is off here, so only the kubelet's CreateContainerConfigError can tell.
    operator(ns, runner__command=opf.fake_runner(), status__check_credentials_secret="false",
             status__config_error_grace_seconds=1)
    opf.apply_job(kube, ns, opf.job_manifest(
        "kubeletsays", storage={"credentialsSecretRef": {"name": "gone"}},
        acceleration={"mode": "cpu"}))
    job = opf.wait_phase(kube, ns, "kubeletsays", "Succeeded", "Failed")
    assert job["status"]["reason"] == "CredentialsNotAllowed"
    assert job["status"]["message"].startswith(
        'Secret "gone" cannot be used as S3 credentials: it must exist')
    assert "not found" not in job["status"]["message"]
    assert job["status"]["attempts"] == 1
