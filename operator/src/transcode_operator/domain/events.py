"""Kubernetes Events about a TranscodeJob: their reasons, as plain data.

`domain.reconcile` puts `Event`s into its plan with one of the reasons below
(each names one thing that happened: Created, FallbackToCPU, Retrying, …);
`control.act` hands them to the poster (`adapters.poster`), which sends them
through kopf's Event queue, except an Event with a `key` (an attempt's `Created`):
that one is posted once under `once_name`, so repeating it after an operator restart
adds nothing (the API server answers 409); `output_notes` turns the notes a finished job's
outputs carry (`NotUpscaled`, `ToneMapped`, `DolbyVisionDropped`, …) into one
Event per note reason. Messages never contain Secret values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from transcode_api import results


class Reason(enum.StrEnum):
    """Event reasons the operator posts on TranscodeJobs."""

    CREATED = "Created"  # a runner Pod was created
    GPU_UNSCHEDULABLE = "GPUUnschedulable"  # waiting for a GPU, fallback not allowed
    FALLBACK_TO_CPU = "FallbackToCPU"  # GPU Pod replaced by a CPU Pod
    RETRYING = "Retrying"  # transient failure, next attempt after backoff
    DISRUPTED = "Disrupted"  # Pod evicted/preempted/deleted: retried, not counted
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
    RATE_LIMITED = "RateLimited"
    OUTPUT_LOCKED = "OutputLocked"
    INVALID_SPEC = "InvalidSpec"
    CONFIG_ERROR = "ConfigError"  # credentials Secret not allowed, Pod config error
    ENDPOINT_NOT_ALLOWED = "EndpointNotAllowed"  # storage.endpoint outside the allowlist
    CREDENTIALS_REQUIRED = "CredentialsRequired"  # ambient credentials not allowed here
    PLACEMENT_NOT_ALLOWED = "PlacementNotAllowed"  # toleration/class/label not allowed
    UNKNOWN_FIELDS = "UnknownFields"  # spec fields ignored or dropped (the job still runs)
    TTL_EXPIRED = "TTLExpired"
    CLEANUP = "Cleanup"  # finalizer stopped the runner Pods
    TOO_MANY_DISRUPTIONS = "TooManyDisruptions"  # failurePolicy.maxDisruptions exceeded
    SOURCE_TOO_LARGE = "SourceTooLarge"  # evicted for overflowing scratch storage
    OUT_OF_MEMORY = "OutOfMemory"  # OOMKilled after failurePolicy.oomRetries raises
    OOM_RETRY = "OOMKilled"  # OOMKilled: retried with a raised memory limit
    IMAGE_PULL_FAILED = "ImagePullFailed"  # image not pulled within imagePullTimeout
    QUOTA_EXCEEDED = "QuotaExceeded"  # a ResourceQuota refused the Pod: waiting
    POD_FORCE_DELETED = "PodForceDeleted"  # finalizer: Pod stuck on a NotReady Node, grace 0
    POD_NOT_CONFIRMED_GONE = "PodNotConfirmedGone"  # finalizer released although a Pod remains
    UPLOADS_ABORTED = "UploadsAborted"  # finalizer: the cleanup Pod aborted a killed attempt's uploads
    UPLOADS_NOT_ABORTED = "UploadsNotAborted"  # finalizer: the cleanup Pod failed or timed out
    NOTIFICATION_FAILED = "NotificationFailed"  # a CloudEvent given up (sink refused, 4xx, 24 h)
    PREEMPTED = "Preempted"  # Kueue evicted a queued attempt: the next one is queued


NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """One Event to post on the job."""

    type: str
    reason: str
    message: str
    key: str = ""
    """Non-empty: the Event happens once per job and key (`once_name`), e.g. `created-3`
    for attempt 3's `Created`; a restarted operator may post it again harmlessly."""

    @classmethod
    def normal(cls, reason: Reason, message: str, key: str = "") -> Event:
        return cls(NORMAL, reason.value, message, key)

    @classmethod
    def warning(cls, reason: Reason | str, message: str, key: str = "") -> Event:
        return cls(WARNING, str(reason), message, key)


def once_name(job_name: str, job_uid: str, key: str) -> str:
    """The Event object's name for a keyed Event: the same for every post of it."""
    return f"{job_name}.{job_uid}.{key}"


# Output notes that describe what the default policy does on purpose: Normal, not Warning.
EXPECTED_NOTES = frozenset({"ToneMapped", "AudioTracksNotSelected"})
NOTE_MESSAGE_LIMIT = 1000  # an Event message is shown on one line by kubectl describe


def output_notes(outputs: Iterable[results.OutputResult]) -> list[Event]:
    """One Event per note reason found in the outputs' `messages` ("Reason: text"),
    naming each output it concerns, in the order the reasons first appear."""
    grouped: dict[str, list[str]] = {}
    for out in outputs:
        for note in out.messages or []:
            reason, _, text = note.partition(": ")
            if not reason.isalnum() or not text:
                reason, text = "OutputNote", note
            grouped.setdefault(reason, []).append(f"output {out.name}: {text}")
    events = []
    for reason, lines in grouped.items():
        message = "; ".join(lines)
        if len(message) > NOTE_MESSAGE_LIMIT:
            message = message[:NOTE_MESSAGE_LIMIT - 1] + "…"
        events.append(Event(NORMAL if reason in EXPECTED_NOTES else WARNING, reason, message))
    return events
