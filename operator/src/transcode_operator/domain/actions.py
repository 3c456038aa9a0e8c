"""The actions of one reconcile turn, as `domain.reconcile.plan` returns them.

`control.act` carries a `Plan` out in this fixed order: add the finalizer,
create the Pod (or a deleted job's cleanup Pod), delete Pods (those stuck on a lost Node with grace 0), write the
status (one merge patch), POST the due CloudEvents (`notify`, then one more status
patch with their delivery state), post the Events, then the bookkeeping (release
or track the gates, metrics), delete the
job (TTL) or remove the finalizer; and it re-adds the key after `requeue`
seconds (or, with `later`, behind the other queued keys). A plan is plain data, so the unit tests read it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transcode_api import status as job_status
from transcode_operator.domain import builders, cloudevents, decisions, podstate
from transcode_operator.domain import events as ev


@dataclass
class Plan:
    """What to do now, and when to look again."""

    status: job_status.TranscodeJobStatus | None = None
    throttled: bool = False
    """The status change is progress-like (phase Running/Uploading, progress): at most one
    such write per progress interval."""
    create: builders.PodRequest | None = None
    cleanup: int | None = None
    """Create the deleted job's cleanup Pod for this many open multipart uploads
    (`domain.cleanuppod`; a 409 means it exists)."""
    gate: bool = False
    """The create must pass the start gates (Secret check, rate limit, output locks)."""
    ask_gates: bool = False
    """Ask the start gates, then look again (their answer is in the next observation)."""
    delete: list[podstate.PodView] = field(default_factory=list)
    force_delete: list[podstate.PodView] = field(default_factory=list)
    """Pods deleted with grace 0 (stuck Terminating on a lost Node: `domain.finalizing`)."""
    cancel_queued: str | None = None
    """The batch/v1 Job of a queued attempt to delete (Kueue fallback, preemption, suspend)."""
    events: list[ev.Event] = field(default_factory=list)
    announce: ev.Event | None = None
    """The current attempt's `Created` Event, when its Pod exists but `status.attempts`
    does not count it yet (the operator died between creating the Pod and writing the
    status): posted again by name, which the API server refuses if the first post
    happened, so every attempt has exactly one."""
    release: bool = False
    """Free the rate-limit slot and output locks; stop relaying progress."""
    track: str | None = None
    """The uid of the running Pod whose progress is relayed (no other Pod's is taken);
    while set, the job's output locks are held (renewed). None: nothing to track."""
    add_finalizer: bool = False
    remove_finalizer: bool = False
    delete_job: bool = False
    notify: list[cloudevents.Delivery] = field(default_factory=list)
    """CloudEvents to POST this turn, in order (`domain.notifications`)."""
    requeue: float | None = None
    starting: bool = False
    """The job's Pod is created this turn or is simply starting (`domain.starts
    .simply_starting`): while so, the other jobs' turns count it as a burst."""
    finished: decisions.End | None = None
    """The end that finished the job (for metrics), or None."""

    def wake_in(self, seconds: float | None) -> None:
        if seconds is not None and seconds > 0:
            self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)
