"""Settings of the Kueue integration: which LocalQueue a job's attempts go to."""

from __future__ import annotations

from typing import Annotated

import pydantic

from transcode_operator.domain.settings.base import Group

_QUEUE = Annotated[str, pydantic.Field(max_length=63, pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")]


class QueueSettings(Group):
    """Kueue queues (YAML `queues`). A job with a queue (its `spec.queueName`, its
    `kueue.x-k8s.io/queue-name` label, or a default here) runs each attempt as a
    suspended batch/v1 Job that Kueue admits; a job without one runs its Pod directly,
    exactly as without Kueue."""

    default: _QUEUE = ""
    """LocalQueue for jobs that name none, in every namespace not in
    `namespaceDefaults`. Empty: such jobs bypass Kueue. Default: empty."""
    namespace_defaults: dict[str, _QUEUE] = pydantic.Field(default_factory=dict, max_length=1000)
    """Per-namespace LocalQueue for jobs that name none (namespace -> queue; an empty
    queue opts the namespace out of `default`). Default: none."""
    cpu: _QUEUE = ""
    """LocalQueue of the CPU attempt that replaces a GPU attempt Kueue did not admit
    within `acceleration.gpuPendingTimeout` (reason GPUQuotaExhausted). Empty: the
    job's own queue. Default: empty."""
    poll_seconds: float = pydantic.Field(default=5.0, gt=0, le=300)
    """How often the Workload of a queued attempt is read for Kueue's message (the
    Pod's creation wakes the job at once on admission). Default: 5."""

    def queue_for(self, namespace: str, named: str | None) -> str | None:
        """The LocalQueue of a job in `namespace` that names `named` (None: bypass Kueue)."""
        if named:
            return named
        chosen = self.namespace_defaults.get(namespace, self.default)
        return chosen or None
