"""The notification planner and its retry rules: which events are due, and what an answer means.

`reconcile.plan` on hand-built observations (pure), and `notifications.record`
/ `backoff` with the settings' numbers: an event is due once the stored status
proves it, exactly once per type, again only at its next attempt time; a sink
outside the allowlist is refused with the host named while the job runs; a 4xx
stops, a 5xx backs off exponentially (capped, Retry-After honoured), and 24 h
after the first POST the event is given up.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from tests.unit.operator import helpers as h
from transcode_api import notify
from transcode_operator.domain import actions, notifications, reconcile
from transcode_operator.domain import settings as settings_module

T = notify.EventType
D = notify.DeliveryState
SINK = "https://hooks.example.com/tj?token=s3cr3t"
CFG = settings_module.Settings(storage_policy={"ambient_credentials_namespaces": ["media"]},
                               notifications={"sinks": [".example.com"]})
NCFG = CFG.notifications


def _spec(url: str = SINK) -> Any:
    return h.spec(notify={"url": url, "secretRef": {"name": "hook-key"}})


def _plan(status: dict[str, Any], *pods: Any, url: str = SINK, cfg: settings_module.Settings = CFG,
          **extra: Any) -> actions.Plan:
    return reconcile.plan(h.observed(*pods, s=_spec(url), status=status, **extra), cfg)


def _types(plan: actions.Plan) -> list[notify.EventType]:
    return [d.event.type for d in plan.notify]


def _entry(type_: notify.EventType, state: notify.DeliveryState, **fields: Any) -> dict[str, Any]:
    return {"type": type_.value, "id": f"uid-1234-{type_.value.lower()}", "state": state.value,
            "attempts": 1, **fields}


def _done(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "phase": "Succeeded", "completionTime": h.stamp(h.ago(2)),
            "metadata": {"gpuFallback": True, "fallbackReason": "NVENCInitFailed"}}


def test_nothing_is_sent_before_a_pod_exists_nor_without_spec_notify() -> None:
    assert _plan({}).notify == []  # this turn creates the first Pod: Started is not stored yet
    running = h.running_status()
    plain = reconcile.plan(h.observed(h.view(phase="Running"), status=running), CFG)
    assert plain.notify == []


def test_started_is_due_once_the_status_counts_a_pod() -> None:
    plan = _plan(h.running_status(), h.view(phase="Running"))
    assert _types(plan) == [T.STARTED]
    delivery = plan.notify[0]
    assert delivery.url == SINK and delivery.secret_ref is not None
    assert delivery.current is None
    assert delivery.event.time == h.ago(60)  # the fact's time: status.startTime


def test_the_turn_that_stores_a_new_fact_wakes_the_key_to_announce_it() -> None:
    # The Pod ended: this turn writes Succeeded; nothing else may wake the key (our own
    # status write is no news to the informer), so the plan asks for the next turn itself.
    done = h.view(phase="Succeeded", exit_code=0, message=h.result())
    status = h.running_status(notifications=[_entry(T.STARTED, D.DELIVERED)])
    plan = _plan(status, done)
    assert plan.status is not None and plan.status.phase is not None
    assert plan.status.phase.value == "Succeeded" and plan.notify == []
    assert plan.requeue == 0.0
    again = _plan(plan.status.to_dict(), done)
    assert _types(again) == [T.SUCCEEDED]


def test_a_delivered_or_failed_event_is_never_sent_again() -> None:
    for state in (D.DELIVERED, D.FAILED):
        status = h.running_status(notifications=[_entry(T.STARTED, state)])
        assert _plan(status, h.view(phase="Running")).notify == []


def test_a_pending_event_waits_for_its_next_attempt_and_the_key_wakes_then() -> None:
    later = _entry(T.STARTED, D.PENDING, nextAttemptTime=h.stamp(h.NOW + datetime.timedelta(seconds=40)),
                   time=h.stamp(h.ago(60)))
    plan = _plan(h.running_status(notifications=[later]), h.view(phase="Running"))
    assert plan.notify == [] and plan.requeue is not None and plan.requeue <= 40
    due = {**later, "nextAttemptTime": h.stamp(h.ago(1))}
    plan = _plan(h.running_status(notifications=[due]), h.view(phase="Running"))
    assert _types(plan) == [T.STARTED]
    assert plan.notify[0].current is not None and plan.notify[0].current.attempts == 1


def test_a_finished_job_after_a_fallback_sends_fell_back_then_the_terminal_event() -> None:
    status = _done(h.running_status(notifications=[_entry(T.STARTED, D.DELIVERED)]))
    plan = _plan(status, h.view(phase="Succeeded", exit_code=0))
    assert _types(plan) == [T.FELL_BACK, T.SUCCEEDED]
    failed = {**h.running_status(), "phase": "Failed", "reason": "SourceNotFound"}
    assert _types(_plan(failed, h.view(exit_code=65))) == [T.STARTED, T.FAILED]


def test_a_sink_outside_the_allowlist_is_refused_naming_the_host_and_the_job_runs() -> None:
    plan = _plan(h.running_status(), h.view(phase="Running"), url="https://10.0.0.7/hook?k=v")
    assert plan.notify == []
    assert plan.status is not None
    entry = plan.status.notifications[0]
    assert (entry.type, entry.state, entry.attempts) == (T.STARTED, D.FAILED, 0)
    assert entry.last_error is not None and "host 10.0.0.7" in entry.last_error
    assert "notifications.sinks" in entry.last_error and "k=v" not in entry.last_error
    assert [e.reason for e in plan.events] == ["NotificationFailed"]
    new_job = _plan({}, url="https://elsewhere.test/x")
    assert new_job.create is not None  # the job itself still starts its Pod


def test_nothing_is_sent_for_a_job_being_deleted() -> None:
    plan = _plan(h.running_status(), h.view(phase="Running"), deleting=True)
    assert plan.notify == []


def test_the_ttl_waits_while_an_event_is_due_or_pending() -> None:
    s = h.spec(notify={"url": SINK}, ttlSecondsAfterFinished=0)
    status = {**h.running_status(), "phase": "Succeeded", "completionTime": h.stamp(h.ago(5)),
              "notifications": [_entry(T.STARTED, D.DELIVERED)]}
    plan = reconcile.plan(h.observed(s=s, status=status), CFG)
    assert _types(plan) == [T.SUCCEEDED] and not plan.delete_job
    status["notifications"].append(_entry(T.SUCCEEDED, D.DELIVERED))
    assert reconcile.plan(h.observed(s=s, status=status), CFG).delete_job


# --- what one POST's outcome means ---------------------------------------------------------
def _delivery(current: dict[str, Any] | None = None) -> Any:
    plan = _plan(h.running_status(notifications=[current] if current else []),
                 h.view(phase="Running"))
    return plan.notify[0]


def test_a_2xx_is_delivered_with_the_attempt_counted() -> None:
    entry = notifications.record(_delivery(), notifications.Outcome(True), h.NOW, NCFG)
    assert (entry.state, entry.attempts, entry.id) == (D.DELIVERED, 1, "uid-1234-started")
    assert entry.first_attempt_time == h.NOW and entry.last_error is None


def test_a_4xx_stops_at_once_and_says_so() -> None:
    outcome = notifications.Outcome(False, "sink hooks.example.com:443 answered HTTP 410 Gone",
                                    permanent=True)
    entry = notifications.record(_delivery(), outcome, h.NOW, NCFG)
    assert entry.state == D.FAILED and entry.next_attempt_time is None
    assert entry.last_error == "sink hooks.example.com:443 answered HTTP 410 Gone; not retried"


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    delays = [notifications.backoff(n, NCFG) for n in range(1, 12)]
    assert delays[:4] == [10.0, 20.0, 40.0, 80.0]
    assert delays[-1] == NCFG.retry_cap_seconds and max(delays) == NCFG.retry_cap_seconds
    outcome = notifications.Outcome(False, "cannot connect to sink h:443: Connection refused")
    first = notifications.record(_delivery(), outcome, h.NOW, NCFG)
    assert first.state == D.PENDING
    assert first.next_attempt_time == h.NOW + datetime.timedelta(seconds=10)
    again = notifications.record(dataclasses.replace(_delivery(), current=first), outcome,
                                 h.NOW + datetime.timedelta(seconds=10), NCFG)
    assert again.attempts == 2 and again.first_attempt_time == h.NOW
    assert again.next_attempt_time == h.NOW + datetime.timedelta(seconds=30)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    slow = notifications.Outcome(False, "HTTP 429", retry_after=120)
    assert notifications.record(_delivery(), slow, h.NOW, NCFG).next_attempt_time == \
        h.NOW + datetime.timedelta(seconds=120)
    greedy = notifications.Outcome(False, "HTTP 503", retry_after=10 ** 6)
    assert notifications.record(_delivery(), greedy, h.NOW, NCFG).next_attempt_time == \
        h.NOW + datetime.timedelta(seconds=NCFG.retry_cap_seconds)


def test_after_the_retry_window_the_event_is_given_up() -> None:
    day = datetime.timedelta(seconds=NCFG.retry_for_seconds)
    current = _entry(T.STARTED, D.PENDING, attempts=40, firstAttemptTime=h.stamp(h.NOW - day),
                     nextAttemptTime=h.stamp(h.ago(1)))
    outcome = notifications.Outcome(False, "sink h:443 answered HTTP 503")
    entry = notifications.record(_delivery(current), outcome, h.NOW, NCFG)
    assert entry.state == D.FAILED and entry.attempts == 41
    assert entry.last_error is not None and "gave up after 41 attempts" in entry.last_error
