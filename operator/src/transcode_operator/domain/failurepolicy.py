"""The failure policy for what is not the runner's verdict: disruptions, OOM, image pulls, quota.

`reconcile` asks these pure rules (settings `failurePolicy`) how a Pod end or a
stuck Pod ends the job, like batch/v1 Job's podFailurePolicy: evictions,
preemptions and node losses are retried without counting against
backoffLimit up to `maxDisruptions` (`disruptions` counts them); an eviction because
the scratch volume or the container's ephemeral storage overflowed is the
source's size, not bad luck, and fails `SourceTooLarge` at once
(`scratch_overflow`); an OOMKilled runner is retried `oomRetries` times with its
memory limit multiplied by `oomMemoryFactor` per earlier OOM (`memory_factor`,
`scaled_resources`, applied by `builders.pod`), then fails `OutOfMemory`; a Pod whose image cannot be pulled
fails `ImagePullFailed` after `imagePullTimeoutSeconds` (`image_pull_due`); a Pod
the API server refuses for a ResourceQuota waits (`quota_refusal`). Everything is
counted from the job's Pods, so a restarted operator decides the same.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterable, Mapping

from transcode_operator.domain import pod_resources, podstate
from transcode_operator.domain import settings as settings_module

# The kubelet's eviction messages for a local-storage limit (eviction_manager):
# an emptyDir over its sizeLimit, a container over its ephemeral-storage limit, or
# the Pod over the sum of its containers' limits.
_OVERFLOW = re.compile(r"Usage of EmptyDir volume|local ephemeral storage limit|"
                       r"ephemeral local storage usage exceeds", re.IGNORECASE)
_QUOTA = re.compile(r"exceeded quota", re.IGNORECASE)



def scratch_overflow(pod: podstate.PodView) -> bool:
    """Evicted because scratch or ephemeral storage overflowed (the source is too big)."""
    return pod.disruption == "Evicted" and bool(_OVERFLOW.search(pod.status_message))


def _counted(pods: Iterable[podstate.PodView]) -> list[podstate.PodView]:
    # Pods the operator deleted on purpose (suspend, fallback, deadline) never count.
    return [p for p in pods if p.ended and not p.deleting]


def disruptions(pods: Iterable[podstate.PodView]) -> int:
    """Ended Pods that were disrupted (evicted, preempted, node lost)."""
    return sum(1 for p in _counted(pods) if p.disruption is not None)


def oom_killed(pod: podstate.PodView) -> bool:
    return pod.terminated is not None and pod.terminated.reason == "OOMKilled" \
        and pod.disruption is None


def ooms(pods: Iterable[podstate.PodView]) -> int:
    """Ended Pods whose runner the kernel killed for memory."""
    return sum(1 for p in _counted(pods) if oom_killed(p))


def memory_factor(pods: Iterable[podstate.PodView],
                  cfg: settings_module.FailurePolicySettings) -> float:
    """The memory multiplier of the next attempt: factor^(earlier OOMKilled attempts)."""
    return float(cfg.oom_memory_factor ** ooms(pods))


def _mebibytes(amount: float) -> str:
    return f"{math.ceil(amount / 2**20)}Mi"  # rounded up to whole MiB


def scaled_resources(resources: Mapping[str, Mapping[str, str]], factor: float
                     ) -> dict[str, dict[str, str]]:
    """`resources` with the memory limit times `factor` (no limit: unchanged; the
    request stays, it is below the old limit already)."""
    out = {k: dict(v) for k, v in resources.items()}
    limit = pod_resources.quantity(out.get("limits", {}).get("memory", "")) \
        if factor > 1 else None
    if limit is not None:
        out["limits"]["memory"] = _mebibytes(float(limit) * factor)
    return out


def image_pull_due(pod: podstate.PodView, cfg: settings_module.FailurePolicySettings,
                   now: datetime.datetime) -> float | None:
    """Seconds until a Pod stuck pulling its image fails the job (≤ 0: due); None: not stuck."""
    if pod.waiting_reason not in podstate.IMAGE_ERROR_REASONS or not pod.active:
        return None
    created = pod.created or now
    return cfg.image_pull_timeout_seconds - (now - created).total_seconds()


def quota_refusal(message: str) -> bool:
    """Whether the API server refused a Pod because a ResourceQuota is used up."""
    return bool(_QUOTA.search(message))
