"""The tenant policy of `spec.storage`: allowed endpoints and where ambient credentials may run.

Rules checked on the pure `domain.tenancy` functions, then one queue turn against
the in-memory API proves the order a user relies on: a refused job fails at once
with the specific reason and message, and neither a Secret is read nor a Pod created.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.control import reconciler
from transcode_operator.domain import settings as settings_module
from transcode_operator.domain import tenancy

AWS_ONLY = settings_module.StoragePolicySettings()
LOCAL = settings_module.StoragePolicySettings(endpoints=["127.0.0.1", ".svc.cluster.local",
                                                         "[::1]", "MinIO.Example.com."])
SECRET = {"credentialsSecretRef": {"name": "s3"}}


def _endpoint(endpoint: str | None, policy: settings_module.StoragePolicySettings) -> str | None:
    storage: dict[str, Any] = dict(SECRET)
    if endpoint is not None:
        storage["endpoint"] = endpoint
    return tenancy.endpoint_problem(h.spec(storage=storage), policy)


@pytest.mark.parametrize("endpoint", [
    None, "https://s3.amazonaws.com", "https://s3.eu-west-1.amazonaws.com",
    "https://s3-fips.dualstack.us-gov-west-1.amazonaws.com/", "https://s3.cn-north-1.amazonaws.com.cn",
    "https://s3-us-west-2.amazonaws.com", "https://S3.US-EAST-1.AMAZONAWS.COM."])
def test_aws_s3_is_allowed_by_default(endpoint: str | None) -> None:
    assert _endpoint(endpoint, AWS_ONLY) is None


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:9000", "https://bucket.s3.amazonaws.com", "https://s3.amazonaws.com.evil.io",
    "https://s3.evil.amazonaws.com", "http://169.254.169.254", "http://minio.media.svc:9000"])
def test_every_other_endpoint_is_refused_by_default(endpoint: str) -> None:
    assert _endpoint(endpoint, AWS_ONLY) is not None


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.1:9000", "http://minio.media.svc.cluster.local:9000",
    "http://[::1]:9000", "http://[0:0::1]:9000", "https://minio.example.com/base",
    "https://s3.amazonaws.com"])
def test_listed_hosts_and_suffixes_are_allowed(endpoint: str) -> None:
    assert _endpoint(endpoint, LOCAL) is None


@pytest.mark.parametrize("endpoint", [
    "http://127.0.0.2:9000", "http://svc.cluster.local", "http://evilsvc.cluster.local.io",
    "http://minio.example.com.evil.io", "http://localhost:9000"])
def test_a_suffix_needs_its_dot_and_hosts_match_exactly(endpoint: str) -> None:
    assert _endpoint(endpoint, LOCAL) is not None


def test_the_refusal_names_the_host_never_userinfo_or_query() -> None:
    # CEL refuses userinfo at admission; the message never shows it even if it got through
    valid = h.spec(storage=SECRET)
    storage = valid.storage.model_copy(
        update={"endpoint": "https://user:hunter2@evil.example/path?X-Amz-Signature=abc"})
    spec = valid.model_copy(update={"storage": storage})
    message = tenancy.endpoint_problem(spec, AWS_ONLY)
    assert message == ("spec.storage.endpoint https://evil.example/path is not allowed: host "
                       "evil.example is not AWS S3 nor in the operator's storagePolicy.endpoints; "
                       "ask the operator's administrator to allow it")
    assert "hunter2" not in message and "Signature" not in message


def test_aws_can_be_turned_off() -> None:
    policy = settings_module.StoragePolicySettings(allow_aws_s3=False, endpoints=["127.0.0.1"])
    assert _endpoint(None, policy) is not None and "required" in str(_endpoint(None, policy))
    assert _endpoint("https://s3.amazonaws.com", policy) is not None
    assert _endpoint("http://127.0.0.1:9000", policy) is None


def test_ambient_credentials_only_in_the_listed_namespaces() -> None:
    policy = settings_module.StoragePolicySettings(ambient_credentials_namespaces=["media-*", "ops"])
    ambient = h.spec()
    assert tenancy.credentials_problem("media-eu", ambient, policy) is None
    assert tenancy.credentials_problem("ops", ambient, policy) is None
    message = tenancy.credentials_problem("studio", ambient, policy)
    assert message == (
        "spec.storage.credentialsSecretRef is required in namespace studio: the operator does "
        "not let jobs here use the runner's ambient credentials; name a Secret labelled "
        "kubetranscoder.io/credentials=true that holds AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    assert tenancy.credentials_problem("studio", ambient, AWS_ONLY) is not None  # default: nowhere
    assert tenancy.credentials_problem("studio", h.spec(storage=SECRET), AWS_ONLY) is None


def test_the_endpoint_is_checked_first_then_credentials_then_placement() -> None:
    cfg = settings_module.Settings()
    bad = h.spec(storage={"endpoint": "http://10.0.0.1"}, tolerations=[{"operator": "Exists"}])
    assert tenancy.problem("media", bad, cfg)[0] == "EndpointNotAllowed"  # type: ignore[index]
    bad = h.spec(tolerations=[{"operator": "Exists"}])
    assert tenancy.problem("media", bad, cfg)[0] == "CredentialsRequired"  # type: ignore[index]
    bad = h.spec(storage=SECRET, tolerations=[{"operator": "Exists"}])
    assert tenancy.problem("media", bad, cfg)[0] == "PlacementNotAllowed"  # type: ignore[index]
    assert tenancy.problem("media", h.spec(storage=SECRET), cfg) is None


class _CountingApi(fakes.FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.secret_reads = 0

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.secret_reads += 1
        return await super().get_secret(namespace, name)


@pytest.mark.parametrize(("storage", "reason"), [
    ({**SECRET, "endpoint": "http://attacker.example:9000"}, "EndpointNotAllowed"),
    ({}, "CredentialsRequired")])
def test_a_refused_job_fails_before_any_secret_read_or_pod(storage: dict[str, Any],
                                                           reason: str) -> None:
    api = _CountingApi()
    api.add_job(fakes.job_body(storage=storage))
    api.jobs[("media", "trailer")]["metadata"]["namespace"] = "media"
    d = fakes.deps_for(api, cfg=settings_module.Settings())  # the defaults: AWS, no ambient
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, ("media", "trailer")))
    status = api.jobs[("media", "trailer")]["status"]
    assert (status["phase"], status["reason"]) == ("Failed", reason)
    assert api.pods == {} and api.secret_reads == 0
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [(e.type, e.reason) for _, e in poster.posted] == [("Warning", reason)]
