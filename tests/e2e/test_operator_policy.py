"""The operator's tenant policy and unknown spec fields, on the real control plane.

A real `transcode-operator` (dev/operators.py: the test S3 on 127.0.0.1 is its
only allowed endpoint besides AWS, and its namespace may use ambient credentials
unless a test says otherwise) serves each test's namespace. A job naming another
endpoint, omitting credentials where ambient ones are not allowed, or tolerating
every taint is Failed with the specific reason before any Pod (and, for the
endpoint, before its Secret is read: the named Secret does not even exist); the
GPU taint's toleration is allowed and the job runs. Unknown spec fields: the API
server refuses them with fieldValidation Strict and warns with Warn, both naming
the field, and for a job stored anyway the operator sets `UnknownFields` and posts
one Warning Event naming it while the job still succeeds.
"""

from __future__ import annotations

import json
from typing import Any

from dev import operators as opf
from dev.cluster.fixtures import Kube

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _failed(kube: Kube, ns: str, name: str, reason: str) -> dict[str, Any]:
    job = opf.wait_phase(kube, ns, name, "Succeeded", "Failed", "Running")
    status = job["status"]
    assert (status["phase"], status["reason"]) == ("Failed", reason), status
    assert opf.pods_of(kube, ns, name) == []
    events = opf.wait_event(kube, ns, name, reason)
    assert [m for r, m in events if r == reason] == [status["message"]]
    return job


def test_an_endpoint_outside_the_allowlist_fails_before_any_secret_read_or_pod(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("pol")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("exfil", storage={
        "endpoint": "http://198.51.100.7:9000/base?token=t0ps3cret",
        "credentialsSecretRef": {"name": "absent-s3"}}))  # a Secret read would say so
    job = _failed(kube, ns, "exfil", "EndpointNotAllowed")
    assert job["status"]["message"] == (
        "spec.storage.endpoint http://198.51.100.7:9000/base is not allowed: host 198.51.100.7 "
        "is not AWS S3 nor in the operator's storagePolicy.endpoints; ask the operator's "
        "administrator to allow it")
    assert "t0ps3cret" not in json.dumps(job["status"])


def test_ambient_credentials_in_a_namespace_not_allowed_fail_the_job(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("pol")
    operator(ns, runner__command=opf.fake_runner(),
             storage_policy__ambient_credentials_namespaces=["media-*"])
    opf.apply_job(kube, ns, opf.job_manifest("ambient", acceleration={"mode": "cpu"}))
    job = _failed(kube, ns, "ambient", "CredentialsRequired")
    assert job["status"]["message"].startswith(
        f"spec.storage.credentialsSecretRef is required in namespace {ns}:")
    assert "kubetranscoder.io/credentials=true" in job["status"]["message"]


def test_a_keyless_exists_toleration_fails_placement_not_allowed(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("pol")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("everywhere", acceleration={"mode": "cpu"},
                                             tolerations=[GPU_TOLERATION, {"operator": "Exists"}]))
    job = _failed(kube, ns, "everywhere", "PlacementNotAllowed")
    assert job["status"]["message"] == (
        "spec.tolerations[1] {key=, operator=Exists, effect=(all)} is not allowed by the "
        "operator's placementPolicy")


def test_the_gpu_toleration_is_allowed_and_the_job_runs(kube: Kube, operator: Any) -> None:
    ns = kube.namespace("pol")
    operator(ns, runner__command=opf.fake_runner())
    opf.apply_job(kube, ns, opf.job_manifest("gputol", acceleration={"mode": "cpu"},
                                             tolerations=[GPU_TOLERATION]))
    job = opf.wait_phase(kube, ns, "gputol", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]
    pod = opf.pods_of(kube, ns, "gputol")[0]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in [
        {"key": t.key, "operator": t.operator, "effect": t.effect} for t in pod.spec.tolerations]


def _with_typo(name: str) -> str:
    manifest = opf.job_manifest(name, acceleration={"mode": "cpu"}, outptus=[],
                                affinity={"podAntiAffinity": {"preferredTerms": []}})
    return json.dumps(manifest)


def test_unknown_fields_are_refused_strict_warned_and_reported_by_the_operator(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("pol")
    strict = kube.kubectl("apply", "--validate=strict", "-n", ns, "-f", "-",
                          input=_with_typo("strict"), check=False)
    assert strict.returncode != 0 and 'unknown field "spec.outptus"' in strict.stderr
    assert opf.get_job(kube, ns, "strict") is None
    warn = kube.kubectl("apply", "--validate=warn", "-n", ns, "-f", "-", input=_with_typo("typo"))
    assert 'unknown field "spec.outptus"' in warn.stderr  # the API server's warning header
    assert "outptus" not in opf.get_job(kube, ns, "typo")["spec"]  # type: ignore[index]
    operator(ns, runner__command=opf.fake_runner())
    job = opf.wait_phase(kube, ns, "typo", "Succeeded", "Failed")
    assert job["status"]["phase"] == "Succeeded", job["status"]  # the job still runs
    cond = opf.conditions(job)["UnknownFields"]
    expected = ("the job runs without these spec fields, which the TranscodeJob schema does not "
                "know (check their spelling): spec.affinity.podAntiAffinity.preferredTerms, "
                "spec.outptus")
    assert (cond["status"], cond["reason"], cond["message"]) == ("True", "FieldsIgnored", expected)
    events = opf.wait_event(kube, ns, "typo", "UnknownFields")
    assert [m for r, m in events if r == "UnknownFields"] == [expected]
