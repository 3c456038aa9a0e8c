"""Runner container resources: the job's values completed by the operator's defaults.

Through the real Pod builder: a job with only `requests` keeps the default memory
limit (raised to its request when that is larger), a job's own limits win, and
resources it does not mention get the default request; quantities compare exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.operator import helpers as h
from transcode_operator.domain import builders, pod_resources
from transcode_operator.domain import settings as settings_module

CFG = settings_module.Settings(runner={"scratch_storage_request": None, "resources": {
    "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "8Gi", "cpu": "4"}}})


def _resources(gpu: bool = False, **resources: Any) -> dict[str, Any]:
    spec = h.spec(resources=resources) if resources else h.spec()
    pod = builders.pod(h.JOB, spec, builders.PodRequest(1, gpu), CFG)
    result: dict[str, Any] = pod["spec"]["containers"][0]["resources"]
    return result


def test_requests_only_keeps_the_default_limits() -> None:
    assert _resources(requests={"cpu": "2", "memory": "2Gi"}) == {
        "requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "8Gi", "cpu": "4"}}


def test_a_request_above_the_default_limit_becomes_the_limit() -> None:
    assert _resources(requests={"memory": "12Gi", "cpu": "6000m"}) == {
        "requests": {"memory": "12Gi", "cpu": "6000m"}, "limits": {"memory": "12Gi", "cpu": "6000m"}}
    assert _resources(requests={"memory": "9000000000"})["limits"]["memory"] == "9000000000"
    assert _resources(requests={"memory": "8G"})["limits"]["memory"] == "8Gi"  # 8G < 8Gi


def test_the_jobs_own_limits_win_and_unmentioned_resources_get_default_requests() -> None:
    assert _resources(limits={"memory": "512Mi"}) == {
        "requests": {"cpu": "1"}, "limits": {"memory": "512Mi", "cpu": "4"}}
    assert _resources(requests={"ephemeral-storage": "10Gi"}) == {
        "requests": {"ephemeral-storage": "10Gi", "cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "8Gi", "cpu": "4"}}


def test_no_spec_resources_means_the_defaults_and_gpu_pods_add_the_gpu() -> None:
    assert _resources() == {"requests": {"cpu": "1", "memory": "1Gi"},
                            "limits": {"memory": "8Gi", "cpu": "4"}}
    assert _resources(gpu=True, requests={"cpu": "2"})["limits"] == {
        "memory": "8Gi", "cpu": "4", "nvidia.com/gpu": "1"}


def test_the_scratch_request_is_added_unless_the_job_names_ephemeral_storage() -> None:
    cfg = CFG.model_copy(update={"runner": CFG.runner.model_copy(
        update={"scratch_storage_request": "3Gi"})})

    def res(**resources: Any) -> dict[str, Any]:
        spec = h.spec(resources=resources) if resources else h.spec()
        out: dict[str, Any] = builders.pod(h.JOB, spec, builders.PodRequest(1, False),
                                           cfg)["spec"]["containers"][0]["resources"]
        return out
    assert res()["requests"] == {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "3Gi"}
    assert res(requests={"ephemeral-storage": "9Gi"})["requests"]["ephemeral-storage"] == "9Gi"
    assert "ephemeral-storage" not in res(limits={"ephemeral-storage": "9Gi"})["requests"]


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("2", Decimal(2)), ("1Gi", Decimal(1024 ** 3)),
    ("1.5G", Decimal("1.5e9")), ("1e3", Decimal(1000)), ("2E", Decimal("2e18")),
    ("3Ki", Decimal(3072)), ("100n", Decimal("1e-7")), (4, Decimal(4))])
def test_quantities_are_read_exactly(text: str | int, value: Decimal) -> None:
    assert pod_resources.quantity(text) == value


def test_not_a_quantity() -> None:
    assert pod_resources.quantity("lots") is None and pod_resources.quantity("1GB") is None
