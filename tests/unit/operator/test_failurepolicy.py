"""The failure policy: disruptions capped, scratch overflow, OOM retries, image pulls, quota.

Each row of batch/v1 Job's podFailurePolicy that the operator applies, decided by
`reconcile.plan` from the job's Pods alone (so a restarted operator decides the same).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.operator import helpers as h
from transcode_operator.domain import actions, builders, failurepolicy, reconcile

EVICTED = "The node was low on resource: memory."
OVERFLOW = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Gi". '


def _plan(obs: Any) -> actions.Plan:
    return reconcile.plan(obs, h.CFG)


def _reasons(p: actions.Plan) -> list[str]:
    return [e.reason for e in p.events]


def _evicted(attempt: int, message: str = EVICTED) -> Any:
    return h.view(attempt=attempt, phase="Failed", exit_code=137, reason="Evicted",
                  status_message=message)


def test_disruptions_retry_without_counting_up_to_the_cap() -> None:
    cap = h.CFG.failure_policy.max_disruptions
    pods = [_evicted(i) for i in range(1, cap + 1)]
    p = _plan(h.observed(*pods, s=h.spec(backoffLimit=0), status=h.running_status(cap)))
    assert p.create is not None and p.create.attempt == cap + 1
    assert _reasons(p) == ["Disrupted", "Created"]
    assert f"disruption {cap} of {cap}" in p.events[0].message


def test_one_disruption_more_fails_too_many_disruptions() -> None:
    cap = h.CFG.failure_policy.max_disruptions
    pods = [_evicted(i) for i in range(1, cap + 2)]
    p = _plan(h.observed(*pods, status=h.running_status(cap + 1)))
    assert p.create is None and p.status is not None
    assert (p.status.phase.value, p.status.reason) == ("Failed", "TooManyDisruptions")
    assert f"{cap + 1} disruptions exceed failurePolicy.maxDisruptions={cap}" in p.status.message
    assert _reasons(p) == ["TooManyDisruptions"]


def test_a_scratch_overflow_eviction_fails_source_too_large_at_once() -> None:
    p = _plan(h.observed(_evicted(1, OVERFLOW), status=h.running_status(1)))
    assert p.create is None and p.status is not None and p.status.reason == "SourceTooLarge"
    assert 'EmptyDir volume "scratch" exceeds the limit "1Gi"' in p.status.message
    assert _reasons(p) == ["SourceTooLarge"]


@pytest.mark.parametrize("message", [
    OVERFLOW,
    'Container runner exceeded its local ephemeral storage limit "2Gi". ',
    "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ",
])
def test_the_kubelets_storage_eviction_messages_are_overflows(message: str) -> None:
    assert failurepolicy.scratch_overflow(_evicted(1, message))
    assert not failurepolicy.scratch_overflow(_evicted(1))


def _oom(attempt: int, factor: float = 1.0) -> Any:
    return h.view(attempt=attempt, phase="Failed", exit_code=137, term_reason="OOMKilled",
                  memory_factor=factor)


def test_oom_killed_retries_once_with_a_raised_memory_limit() -> None:
    p = _plan(h.observed(_oom(1), s=h.spec(backoffLimit=0), status=h.running_status(1)))
    assert p.create is not None and p.create.attempt == 2 and p.create.memory_factor == 2.0
    assert _reasons(p) == ["OOMKilled", "Created"]
    assert "memory limit x2" in p.events[0].message
    pod = builders.pod(h.JOB, h.spec(), p.create, h.CFG)
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "16384Mi"  # the default 8Gi, doubled


def test_a_second_oom_fails_out_of_memory() -> None:
    p = _plan(h.observed(_oom(1), _oom(2, 2.0), status=h.running_status(2)))
    assert p.status is not None and p.status.reason == "OutOfMemory"
    assert "OOMKilled in 2 attempts" in p.status.message
    assert "spec.resources.limits.memory" in p.status.message


def test_oom_retries_do_not_use_up_the_backoff_limit() -> None:
    pods = [_oom(1), h.view(attempt=2, phase="Failed", exit_code=75)]
    p = _plan(h.observed(*pods, s=h.spec(backoffLimit=1), status=h.running_status(2)))
    assert p.status is not None and p.status.reason == "Retrying"  # 1 failure ≤ backoffLimit


@pytest.mark.parametrize(("resources", "factor", "expected"), [
    ({"limits": {"memory": "8Gi"}}, 2.0, "16384Mi"),
    ({"limits": {"memory": "1500M"}}, 2.0, "2862Mi"),
    ({"limits": {"memory": "512Mi"}, "requests": {"memory": "512Mi"}}, 4.0, "2048Mi"),
    ({"limits": {"memory": "8Gi"}}, 1.0, "8Gi"),
])
def test_scaled_resources(resources: dict[str, dict[str, str]], factor: float,
                          expected: str) -> None:
    scaled = failurepolicy.scaled_resources(resources, factor)
    assert scaled["limits"]["memory"] == expected
    assert scaled.get("requests") == resources.get("requests")  # requests never shrink/grow


def test_image_pull_errors_fail_after_the_timeout_with_the_kubelets_message() -> None:
    timeout = h.CFG.failure_policy.image_pull_timeout_seconds
    why = ('Back-off pulling image "ghcr.io/x/runner:nope": ErrImagePull: not found')
    waiting = h.view(phase="Pending", scheduled=True, waiting=("ImagePullBackOff", why),
                     created=h.ago(timeout - 10))
    p = _plan(h.observed(waiting, status=h.running_status(phase="Scheduling")))
    assert p.status is None or p.status.phase.value != "Failed"
    assert p.requeue is not None and p.requeue <= 10
    late = h.view(phase="Pending", scheduled=True, waiting=("ImagePullBackOff", why),
                  created=h.ago(timeout + 1))
    p = _plan(h.observed(late, status=h.running_status(phase="Scheduling")))
    assert p.status is not None and p.status.reason == "ImagePullFailed"
    assert why in p.status.message and [d.name for d in p.delete] == ["trailer-1"]


def test_a_quota_refusal_waits_pending_then_tries_again() -> None:
    words = 'pods "trailer-1" is forbidden: exceeded quota: media, requested: pods=1'
    retry = h.CFG.failure_policy.quota_retry_seconds
    p = _plan(h.observed(quota=(words, 1.0)))
    assert p.create is None and p.status is not None
    assert (p.status.phase.value, p.status.reason) == ("Pending", "QuotaExceeded")
    assert words in p.status.message and _reasons(p) == ["QuotaExceeded"]
    assert p.requeue == pytest.approx(retry - 1.0)
    again = _plan(h.observed(quota=(words, 5.0), status={"phase": "Pending",
                                                         "reason": "QuotaExceeded"}))
    assert again.events == []  # one Event per wait, not per turn
    retried = _plan(h.observed(quota=(words, retry + 1)))
    assert retried.create is not None and retried.create.attempt == 1


@pytest.mark.parametrize(("message", "expected"), [
    ('pods "x" is forbidden: exceeded quota: gpu-quota, requested: nvidia.com/gpu=1', True),
    ('pods "x" is forbidden: unable to validate against any pod security policy', False),
])
def test_quota_refusal(message: str, expected: bool) -> None:
    assert failurepolicy.quota_refusal(message) is expected
