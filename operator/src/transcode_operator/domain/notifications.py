"""Which of a job's CloudEvents are due this turn, and what an attempt's outcome means (pure).

`domain.reconcile.plan` calls `note(obs, cfg, plan)` on every turn of a job with
`spec.notify` that is not being deleted. An event is due once the fact it reports
is in the *stored* status (so it never announces what a crash could undo):
`Started` once `status.attempts` counts a Pod, `FellBack` once
`status.metadata.gpuFallback` is true, `Succeeded`/`Failed` once the phase is; a
turn whose status write stores a new fact wakes the key at once to announce it.
An event whose `status.notifications` entry is Delivered or Failed is done; a
Pending one is due again at its `nextAttemptTime` (the plan wakes the key then).
All delivery state lives in the status, so an operator restarted after a SIGKILL
sends again exactly what was not confirmed: at-least-once, the id unchanged. A sink
host outside `notifications.sinks` is refused here, without a POST: the entry is
Failed with a message naming the host, one Warning Event `NotificationFailed` is
posted, and the job runs on. A finished job's `ttlSecondsAfterFinished` deletion
waits while an event is due or Pending (at most the retry window). `control.notify` POSTs the plan's deliveries and asks
`record` for each entry afterwards: 2xx Delivered; a 4xx other than 429, or a
refusal of the sink's address, Failed at once (retrying cannot help); anything
else Pending again after `backoff` (base·2ⁿ, capped, a `Retry-After` honoured up to
the cap) until `notifications.retryForSeconds` after the first POST, then Failed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from transcode_api import constants, notify, urls
from transcode_api import status as job_status
from transcode_operator.domain import actions, cloudevents, observation, tenancy
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

T = notify.EventType
D = notify.DeliveryState
DONE = frozenset({D.DELIVERED, D.FAILED})
MAX_ERROR = 1024


@dataclass(frozen=True)
class Outcome:
    """What one POST came to (`adapters.notifier`)."""

    delivered: bool
    error: str = ""
    permanent: bool = False
    """True when retrying cannot help: a 4xx other than 429, a redirect, a refused address."""
    retry_after: float | None = None
    """Seconds the sink asked to wait (Retry-After of a 429 or 503)."""


def facts(status: job_status.TranscodeJobStatus
          ) -> list[tuple[notify.EventType, datetime.datetime | None]]:
    """The events the stored status proves, in order, with the time of each fact."""
    found: list[tuple[notify.EventType, datetime.datetime | None]] = []
    if status.attempts and status.start_time is not None:
        found.append((T.STARTED, status.start_time))
    if status.metadata is not None and status.metadata.gpu_fallback:
        found.append((T.FELL_BACK, None))
    if status.phase == constants.Phase.SUCCEEDED:
        found.append((T.SUCCEEDED, status.completion_time))
    elif status.phase == constants.Phase.FAILED:
        found.append((T.FAILED, status.completion_time))
    return found


def sink_problem(url: str, cfg: settings_module.NotifySettings) -> str | None:
    """The message refusing the sink's host, or None when `notifications.sinks` lists it."""
    host = urls.endpoint_host(url) or ""
    if tenancy.host_listed(host, cfg.sinks):
        return None
    return (f"spec.notify.url {urls.redact(url)} is not allowed: host {host or '(none)'} is not "
            "on the operator's notifications.sinks allowlist, so no event is sent (the job "
            "itself runs); ask the operator's administrator to allow it")


def entry(status: job_status.TranscodeJobStatus,
          type_: notify.EventType) -> notify.NotificationStatus | None:
    return next((n for n in status.notifications if n.type == type_), None)


def with_entry(status: job_status.TranscodeJobStatus,
               new: notify.NotificationStatus) -> job_status.TranscodeJobStatus:
    """`status` with `new` in place of the entry of its type (appended when new)."""
    kept = [n for n in status.notifications if n.type != new.type]
    order = list(T)
    merged = sorted([*kept, new], key=lambda n: order.index(n.type))
    return status.model_copy(update={"notifications": merged})


def note(obs: observation.Observed, cfg: settings_module.Settings, plan: actions.Plan) -> None:
    """Put this turn's due deliveries (or the sink's refusal) into `plan`."""
    spec = obs.spec
    if spec is None or spec.notify is None or obs.deleting or plan.ask_gates:
        return
    now = obs.now.astimezone(datetime.UTC)
    refused = sink_problem(spec.notify.url, cfg.notifications)
    for type_, when in facts(obs.status):
        current = entry(obs.status, type_)
        if current is not None and current.state in DONE:
            continue
        if current is not None and current.next_attempt_time is not None \
                and current.next_attempt_time > now:
            plan.wake_in((current.next_attempt_time - now).total_seconds())
            continue
        time = (current.time if current is not None else None) or when or now
        event = cloudevents.build(obs.job, obs.status, type_, time)
        if refused is not None:
            failed = notify.NotificationStatus(type=type_, id=event.id, state=D.FAILED,
                                               time=time, last_error=refused)
            plan.status = with_entry(plan.status or obs.status, failed)
            plan.events.append(ev.Event.warning(
                ev.Reason.NOTIFICATION_FAILED, f"{type_.value} event not sent: {refused}"))
            continue
        plan.notify.append(cloudevents.Delivery(event, spec.notify.url, spec.notify.secret_ref,
                                                current))
    if plan.status is not None:  # a fact this turn stores is announced on the next turn
        stored = {t for t, _ in facts(obs.status)}
        if any(t not in stored for t, _ in facts(plan.status)):
            plan.requeue = 0.0  # (wake_in ignores delays ≤ 0: those are "due" elsewhere)
    pending = any(n.state == D.PENDING for n in (plan.status or obs.status).notifications)
    if plan.delete_job and (plan.notify or pending):  # the TTL waits for the last event
        plan.delete_job = False
        plan.events = [e for e in plan.events if e.reason != ev.Reason.TTL_EXPIRED.value]


def next_wake(status: job_status.TranscodeJobStatus, now: datetime.datetime) -> float | None:
    """Seconds until the earliest Pending event's next POST (None: nothing pending)."""
    now = now.astimezone(datetime.UTC)
    times = [n.next_attempt_time for n in status.notifications
             if n.state == D.PENDING and n.next_attempt_time is not None]
    return max(min(times).astimezone(datetime.UTC).timestamp() - now.timestamp(), 0.001) \
        if times else None


def backoff(attempts: int, cfg: settings_module.NotifySettings) -> float:
    """Seconds before the next POST after `attempts` failed ones: base·2^(attempts-1), capped."""
    exponent = min(max(attempts - 1, 0), 32)
    return float(min(cfg.retry_base_seconds * 2 ** exponent, cfg.retry_cap_seconds))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


def record(delivery: cloudevents.Delivery, outcome: Outcome, now: datetime.datetime,
           cfg: settings_module.NotifySettings) -> notify.NotificationStatus:
    """The event's entry after this POST (see the module docstring)."""
    now = now.astimezone(datetime.UTC)
    current, event = delivery.current, delivery.event
    attempts = (current.attempts if current is not None else 0) + 1
    first = (current.first_attempt_time if current is not None else None) or now
    base = notify.NotificationStatus(type=event.type, id=event.id, state=D.DELIVERED,
                                     attempts=attempts, time=event.time, first_attempt_time=first,
                                     last_attempt_time=now)
    if outcome.delivered:
        return base
    if outcome.permanent:
        return base.model_copy(update={"state": D.FAILED, "last_error": _clip(
            f"{outcome.error}; not retried")})
    delay = backoff(attempts, cfg)
    if outcome.retry_after is not None:
        delay = min(max(delay, outcome.retry_after), cfg.retry_cap_seconds)
    due = now + datetime.timedelta(seconds=delay)
    if (due - first).total_seconds() > cfg.retry_for_seconds:
        return base.model_copy(update={"state": D.FAILED, "last_error": _clip(
            f"{outcome.error}; gave up after {attempts} attempts in "
            f"{(now - first).total_seconds():.0f}s (notifications.retryForSeconds="
            f"{cfg.retry_for_seconds:g})")})
    return base.model_copy(update={"state": D.PENDING, "next_attempt_time": due,
                                   "last_error": _clip(outcome.error)})


def failed_event(delivery: cloudevents.Delivery, new: notify.NotificationStatus) -> ev.Event | None:
    """The Warning Event for an entry that has just become Failed, else None."""
    if new.state != D.FAILED:
        return None
    return ev.Event.warning(ev.Reason.NOTIFICATION_FAILED,
                            f"{new.type.value} event not delivered to "
                            f"{cloudevents.shown(delivery.url)} after {new.attempts} "
                            f"attempt(s): {new.last_error}")
