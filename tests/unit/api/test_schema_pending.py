"""A create answered 503 while the API server publishes the CRD's schema is tried again."""

from __future__ import annotations

import pytest

from transcode_api import admission

PENDING_BODY = ('{"kind":"Status","message":"Resource kind kubetranscoder.io/v1alpha1, '
                'Kind=TranscodeJob not found. There can be a delay between when '
                'CustomResourceDefinitions are created and when they are available.",'
                '"reason":"ServiceUnavailable","code":503}')


class ApiError(Exception):
    """The shape of `kubernetes.client.ApiException`: status and body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"({status})")
        self.status, self.body = status, body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def attempts(*outcomes: Exception | str) -> tuple[list[int], object]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return calls, attempt


def test_the_pending_503_is_tried_again_until_the_create_goes_through() -> None:
    clock = Clock()
    calls, attempt = attempts(ApiError(503, PENDING_BODY), ApiError(503, PENDING_BODY), "made")
    assert admission.retry_while_schema_pending(attempt, sleep=clock.sleep, clock=clock) == "made"
    assert len(calls) == 3 and clock.sleeps == [0.5, 0.5]


@pytest.mark.parametrize("error", [
    ApiError(503, '{"message":"etcdserver: request timed out"}'),  # another 503
    ApiError(422, PENDING_BODY),
    ApiError(409, '{"reason":"AlreadyExists"}'),
    ValueError("not an API error"),
], ids=["other-503", "422", "409", "not-api"])
def test_any_other_error_is_raised_at_once(error: Exception) -> None:
    clock = Clock()
    calls, attempt = attempts(error, "made")
    with pytest.raises(type(error)):
        admission.retry_while_schema_pending(attempt, sleep=clock.sleep, clock=clock)
    assert len(calls) == 1 and clock.sleeps == []


def test_the_pending_503_is_raised_after_a_minute() -> None:
    clock = Clock()
    calls, attempt = attempts(ApiError(503, PENDING_BODY))
    with pytest.raises(ApiError) as raised:
        admission.retry_while_schema_pending(attempt, sleep=clock.sleep, clock=clock)
    assert admission.SCHEMA_PENDING in raised.value.body
    assert clock.now == pytest.approx(admission.SCHEMA_PENDING_RETRY_SECONDS, abs=0.5)
    assert len(calls) == int(admission.SCHEMA_PENDING_RETRY_SECONDS / 0.5) + 2
