"""Kubernetes Events about a TranscodeJob: their reasons, as plain data.

`domain.reconcile` puts `Event`s into its plan with one of the reasons below
(each names one thing that happened: Created, FallbackToCPU, Retrying, …);
`control.act` hands them to the poster (`adapters.poster`), which sends them
through kopf's Event queue. Messages never contain Secret values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
    CONFIG_ERROR = "ConfigError"  # missing Secret or key
    TTL_EXPIRED = "TTLExpired"
    CLEANUP = "Cleanup"  # finalizer stopped the runner Pods


NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """One Event to post on the job."""

    type: str
    reason: str
    message: str

    @classmethod
    def normal(cls, reason: Reason, message: str) -> Event:
        return cls(NORMAL, reason.value, message)

    @classmethod
    def warning(cls, reason: Reason | str, message: str) -> Event:
        return cls(WARNING, str(reason), message)

