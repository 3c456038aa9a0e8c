"""Settings of retry backoff and of how often and how strictly the job status is written."""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class RetrySettings(Group):
    """Backoff after transient runner failures (exit 75, 70, other codes)."""

    backoff_base_seconds: float = pydantic.Field(default=10.0, gt=0)
    """Delay before the first retry; doubled for each further failure. Default: 10."""
    backoff_cap_seconds: float = pydantic.Field(default=360.0, gt=0)
    """Longest delay between retries. Default: 360 (6 minutes)."""
    error_backoff_base_seconds: float = pydantic.Field(default=0.5, gt=0)
    """When a reconcile turn of a job fails (API or Redis error), its key is worked on
    again after this delay, doubled per consecutive failure of that key. Default: 0.5."""
    error_backoff_cap_seconds: float = pydantic.Field(default=60.0, gt=0)
    """Longest delay before a failing key's next turn. Default: 60."""


class StatusSettings(Group):
    """How often the operator writes the job status while a runner works."""

    progress_interval_seconds: float = pydantic.Field(default=5.0, ge=0)
    """At most one progress or phase-only status patch per job in this many seconds.
    Default: 5."""
    first_write_delay_seconds: float = pydantic.Field(default=0.0, ge=0)
    """A new job's first status write (phase Scheduling, with its Pod's name) waits,
    while the Pod is simply starting (scheduled or being scheduled, creating its
    container), up to this many seconds after the Pod's creation: a Pod that runs
    within them is recorded by one write (phase Running) instead of two. A Pod that
    waits for a reason (Unschedulable, an image pull or configuration error) is
    recorded at once. Until then `kubectl get` shows the job without a phase, which
    is why it is off unless asked for (the Job controller also reports a new Pod at
    once). 0: write at once. Default: 0."""
    first_write_backlog_seconds: float = pydantic.Field(default=30.0, ge=0)
    """When a new job's creation turn finds a burst (other keys waiting in the work
    queue, or other jobs' Pods simply starting), the same first write, and the
    attempt's `Created` Event with it, wait while the Pod is simply starting, up to
    this many seconds after the Pod's creation (a timer): a Pod that runs by then is
    recorded by one write, which the API server, busiest in a burst, is spared.
    Without a burst (a lone job) the write follows the Pod's creation at once. 0: never wait. Default: 30 (a burst's Pods took a median
    9–20 s to start in `bench/operator_scale.py` on 2 cores; at 10, most of them still
    cost the extra write)."""
    config_error_grace_seconds: float = pydantic.Field(default=15.0, ge=0)
    """How long a runner Pod may wait in CreateContainerConfigError (missing Secret or
    key) before the job is Failed (`CredentialsNotAllowed` for its Secret). Default: 15."""
    check_credentials_secret: bool = True
    """Read `spec.storage.credentialsSecretRef` before creating a Pod and fail the job
    at once (`CredentialsNotAllowed`) unless the Secret exists, carries the label
    kubetranscoder.io/credentials=true and holds both keys (needs `get` on secrets).
    false: no check at all, so any Secret in a job's namespace can be used. Default: true."""
