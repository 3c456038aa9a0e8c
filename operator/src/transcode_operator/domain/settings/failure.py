"""Settings of the failure policy: disruptions, out-of-memory kills, image pulls, quota, stuck Pods."""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class FailurePolicySettings(Group):
    """How Pod failures that are not the runner's verdict end, like batch/v1 Job's
    podFailurePolicy (domain.failurepolicy applies it)."""

    max_disruptions: int = pydantic.Field(default=6, ge=0, le=100)
    """Evictions, preemptions and node losses retried at once and not counted against
    backoffLimit; one more fails the job `TooManyDisruptions`. A scratch-volume
    overflow eviction is never retried: it fails `SourceTooLarge`. Default: 6."""
    oom_retries: int = pydantic.Field(default=1, ge=0, le=5)
    """Attempts after an OOMKilled runner, each with the memory limit raised by
    `oomMemoryFactor` (not counted against backoffLimit); one more OOMKilled fails the
    job `OutOfMemory`. Default: 1."""
    oom_memory_factor: float = pydantic.Field(default=2.0, ge=1.0, le=16.0)
    """Factor applied to the memory limit (and a request above the new limit) per
    earlier OOMKilled attempt. Default: 2."""
    image_pull_timeout_seconds: float = pydantic.Field(default=300.0, gt=0)
    """A runner Pod whose image cannot be pulled (ErrImagePull, ImagePullBackOff,
    InvalidImageName, ErrImageNeverPull) for this long after its creation fails the job
    `ImagePullFailed` with the kubelet's message. Default: 300 (5 minutes)."""
    quota_retry_seconds: float = pydantic.Field(default=30.0, gt=0)
    """A runner Pod refused by a ResourceQuota ("exceeded quota") leaves the job
    Pending (`QuotaExceeded`) and is tried again after this many seconds; quota freed
    by other Pods is picked up at the next try. Default: 30."""
    force_delete_after_seconds: float = pydantic.Field(default=60.0, ge=0)
    """When a job is deleted, a runner Pod still Terminating this many seconds after its
    grace period on a Node that is not Ready (or gone) is deleted with grace 0, as
    `kubectl delete --force` does: its kubelet cannot confirm the container stopped.
    Default: 60."""
    release_finalizer_after_seconds: float = pydantic.Field(default=120.0, ge=0)
    """A deleted job's runner Pod still not confirmed gone this many seconds after
    `forceDeleteAfterSeconds` (another finalizer holds it, or its kubelet never stops
    it) no longer holds the job: the finalizer is removed with a Warning Event, so the
    job and its namespace can go. Default: 120."""
    abort_uploads_timeout_seconds: float = pydantic.Field(default=180.0, ge=0)
    """A deleted job whose runner was killed with multipart uploads open
    (`status.runner.openUploads`) gets a cleanup Pod that aborts them once its runner
    Pods ended; a cleanup Pod not ended this many seconds after its creation no longer
    holds the job: the finalizer is removed with an `UploadsNotAborted` Warning Event
    (the Pod itself stops `activeDeadlineSeconds` 120 after it started). 0: no cleanup
    Pod (a bucket lifecycle rule must abort them). Default: 180."""
