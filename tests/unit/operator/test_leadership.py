"""Leader election: the Lease rules (domain.leadership) and the elector's loop (adapters.leader).

The elector runs against an in-memory Lease store that behaves like the API server
(resourceVersion compare-and-swap, Conflict on a stale write), with a settable clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from transcode_operator.adapters import leader
from transcode_operator.domain import errors, leadership
from transcode_operator.domain import settings as settings_module

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def sync(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body in a fresh event loop."""
    return functools.wraps(fn)(lambda: asyncio.run(fn()))


def lease(holder: str | None, renewed: dt.datetime, duration: int = 15) -> dict[str, Any]:
    return {"metadata": {"name": "l", "namespace": "ns", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "renewTime": leadership.format_time(renewed), "leaseTransitions": 2}}


@pytest.mark.parametrize(("current", "at", "expected"), [
    (None, T0, "create"),
    (lease("a", T0), T0 + dt.timedelta(seconds=5), "renew"),
    (lease("b", T0), T0 + dt.timedelta(seconds=14), "wait"),
    (lease("b", T0), T0 + dt.timedelta(seconds=15), "take"),
    (lease(None, T0), T0, "take"),  # released
    (lease("b", T0) | {"spec": {"holderIdentity": "b"}}, T0, "take"),  # no renewTime
])
def test_decide(current: dict[str, Any] | None, at: dt.datetime, expected: str) -> None:
    assert leadership.decide(current, "a", at) == expected


def test_taking_over_counts_a_transition_and_keeps_the_resource_version() -> None:
    body = leadership.lease_body(lease("b", T0), name="l", namespace="ns", identity="a",
                                 duration_seconds=15, now=T0 + dt.timedelta(seconds=20))
    assert body["metadata"]["resourceVersion"] == "7"  # the write is a compare-and-swap
    assert body["spec"]["holderIdentity"] == "a" and body["spec"]["leaseTransitions"] == 3
    assert leadership.parse_time(body["spec"]["acquireTime"]) == T0 + dt.timedelta(seconds=20)
    renewed = leadership.lease_body(body, name="l", namespace="ns", identity="a",
                                    duration_seconds=15, now=T0 + dt.timedelta(seconds=22))
    assert renewed["spec"]["leaseTransitions"] == 3
    assert renewed["spec"]["acquireTime"] == body["spec"]["acquireTime"]


def test_a_released_lease_is_taken_at_once() -> None:
    gone = leadership.released(lease("a", T0), T0)
    assert leadership.holder(gone) == "" and leadership.decide(gone, "b", T0) == "take"


class Store:
    """Leases as the API server keeps them: resourceVersion checked on replace."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.fail = False

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        self.leases[(body["metadata"]["namespace"], body["metadata"]["name"])] = body
        return body

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.fail:
            raise errors.ApiError(0, "ConnectionRefused")
        found = self.leases.get((namespace, name))
        await asyncio.sleep(0)  # a round trip: other replicas run in between
        return found

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if (namespace, body["metadata"]["name"]) in self.leases:
            raise errors.Conflict(409, "AlreadyExists")
        return self._stamp(body)

    async def replace_lease(self, namespace: str, name: str,
                            body: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise errors.ApiError(0, "ConnectionRefused")
        if body["metadata"].get("resourceVersion") != \
                self.leases[(namespace, name)]["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict")
        return self._stamp(body)


CFG = settings_module.LeaderElectionSettings(
    lease_name="l", lease_duration_seconds=3, renew_deadline_seconds=0.2,
    retry_period_seconds=0.02)


def elector(store: Store, name: str, now: list[dt.datetime],
            events: list[str]) -> leader.LeaderElector:
    async def started() -> None:
        events.append(f"{name} started")

    async def stopped() -> None:
        events.append(f"{name} stopped")

    return leader.LeaderElector(store, CFG, namespace="ns", identity=name,
                                on_started=started, on_stopped=stopped, clock=lambda: now[0])


@sync
async def test_one_of_two_replicas_leads_and_the_other_takes_over_after_expiry() -> None:
    store, now, events = Store(), [T0], []
    a, b = elector(store, "a", now, events), elector(store, "b", now, events)
    assert await a.try_once() == "held"
    assert await b.try_once() == "other"
    assert await a.try_once() == "held"  # renewing
    now[0] = T0 + dt.timedelta(seconds=3)  # a stopped renewing: expired
    assert await b.try_once() == "held"
    assert leadership.holder(store.leases[("ns", "l")]) == "b"
    assert events == []  # try_once never calls the callbacks; run() does


@sync
async def test_two_replicas_taking_an_expired_lease_at_once_cannot_both_win() -> None:
    store, now, events = Store(), [T0], []
    await elector(store, "old", now, events).try_once()
    now[0] = T0 + dt.timedelta(seconds=10)
    a, b = elector(store, "a", now, events), elector(store, "b", now, events)
    outcomes = await asyncio.gather(a.try_once(), b.try_once())
    assert sorted(outcomes) == ["conflict", "held"]


@sync
async def test_a_leader_that_cannot_renew_stops_within_the_renew_deadline() -> None:
    store, now, events = Store(), [T0], []
    a = elector(store, "a", now, events)
    run = asyncio.create_task(a.run())
    await asyncio.sleep(0.1)
    assert events == ["a started"] and a.leading
    store.fail = True  # the API server is unreachable
    await asyncio.wait_for(run, timeout=2)
    assert events == ["a started", "a stopped"] and not a.leading


@sync
async def test_a_leader_whose_lease_was_taken_stops_at_once() -> None:
    store, now, events = Store(), [T0], []
    a = elector(store, "a", now, events)
    run = asyncio.create_task(a.run())
    await asyncio.sleep(0.1)
    held = store.leases[("ns", "l")]
    store._stamp(leadership.lease_body(held, name="l", namespace="ns", identity="b",
                                       duration_seconds=3, now=T0))
    await asyncio.wait_for(run, timeout=2)
    assert events == ["a started", "a stopped"]


@sync
async def test_release_lets_a_standby_take_over_without_waiting() -> None:
    store, now, events = Store(), [T0], []
    a, b = elector(store, "a", now, events), elector(store, "b", now, events)
    run = asyncio.create_task(a.run())
    await asyncio.sleep(0.1)
    run.cancel()
    await a.release()
    assert await b.try_once() == "held"  # same clock: no expiry needed


def test_the_lease_namespace_and_identity_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = settings_module.LeaderElectionSettings()
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    assert leader.lease_namespace(cfg, ["jobs-*", "team-a"]) == "team-a"
    assert leader.lease_namespace(cfg, []) == "default"
    monkeypatch.setenv("POD_NAMESPACE", "kube-transcoder")
    assert leader.lease_namespace(cfg, ["team-a"]) == "kube-transcoder"
    monkeypatch.setenv("POD_NAME", "op-7f9")
    assert leader.identity(cfg).startswith("op-7f9_")


def test_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="retryPeriodSeconds < renewDeadlineSeconds"):
        settings_module.LeaderElectionSettings(lease_duration_seconds=5,
                                               renew_deadline_seconds=6)
