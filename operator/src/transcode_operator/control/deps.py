"""The collaborators the control layer works with, and what it remembers between turns.

`app.context.start` builds one `Deps` per process (API client, Event poster,
metrics, the informer, the CloudEvents notifier, the optional Redis helpers, the
clocks) and hands it to `control.observe` and `control.act`; unit tests build one
around fakes.
`Memory` holds the few facts a turn leaves for the key's next turn (gates to
ask, a refused Pod, the time of the last status write, relayed progress);
losing it in a restart costs at most one extra write.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transcode_operator.adapters import (
    cache,
    kubeclient,
    limits,
    locks,
    metrics,
    notifier,
    poster,
    redis_relay,
)
from transcode_operator.control import informer as informer_module
from transcode_operator.domain import errors, failurepolicy
from transcode_operator.domain import settings as settings_module

Key = tuple[str, str]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Memory:
    """Facts of earlier turns, by job key (nothing a restart needs)."""

    wants_gates: set[Key] = field(default_factory=set)
    rejected: dict[Key, str] = field(default_factory=dict)
    quota: dict[Key, tuple[str, float]] = field(default_factory=dict)
    """The API server's ResourceQuota refusal of a job's Pod, and when (monotonic)."""
    last_write: dict[Key, float] = field(default_factory=dict)
    progress: dict[Key, dict[str, Any]] = field(default_factory=dict)
    holding: set[str] = field(default_factory=set)
    """UIDs of jobs whose output locks this process holds (and renews)."""
    cleanup_refused: dict[Key, str] = field(default_factory=dict)
    """The API server's words when it refused a deleted job's cleanup Pod (4xx)."""
    starting: set[Key] = field(default_factory=set)
    """Jobs whose last turn created their Pod or found it simply starting (`Plan.starting`)."""

    def refused(self, key: Key, exc: errors.ApiError, what: str, now: float) -> None:
        """Remember the API server's 4xx refusal of a create for the next turns: a
        ResourceQuota's (they wait Pending, then try again) or another (the job fails)."""
        words = exc.message or exc.reason
        if exc.status == 403 and failurepolicy.quota_refusal(words):
            self.quota[key] = (words, now)
        else:
            self.rejected[key] = f"the API server refused the runner {what}: {words}"

    def forget(self, key: Key) -> None:
        self.wants_gates.discard(key)
        self.rejected.pop(key, None)
        self.cleanup_refused.pop(key, None)
        self.quota.pop(key, None)
        self.last_write.pop(key, None)
        self.progress.pop(key, None)
        self.starting.discard(key)


@dataclass
class Deps:
    cfg: settings_module.Settings
    api: kubeclient.Api
    poster: poster.Poster
    metrics: metrics.Metrics
    informer: informer_module.Informer = field(default_factory=informer_module.Informer)
    memory: Memory = field(default_factory=Memory)
    limiter: limits.NamespaceLimiter | None = None
    locks: locks.OutputLocks | None = None
    relay: redis_relay.ProgressRelay | None = None
    job_cache: cache.JobStatusCache | None = None
    notifier: notifier.Notifier | None = None
    """Sends the plans' CloudEvents (None: notifications are never sent)."""
    enqueue: Callable[[Key], None] = lambda key: None
    backlog: Callable[[], int] = lambda: 0
    """Keys waiting in the work queue now (`len(WorkQueue)`)."""
    now: Callable[[], datetime.datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    async def invalidate(self, namespace: str, name: str) -> None:
        if self.job_cache is not None:
            await self.job_cache.invalidate(namespace, name)

    async def relayed(self, namespace: str, name: str, progress: dict[str, Any]) -> None:
        """The relay's sink: keep the latest progress, let the job's worker write it."""
        self.memory.progress[(namespace, name)] = progress
        self.enqueue((namespace, name))
