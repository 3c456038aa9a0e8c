"""What one reconcile turn knows about a job: the `Observed` record and its readers.

`control.observe` builds an `Observed` from the informer (job and Pods), the
start gates (credentials Secret, namespace limiter, output locks: `Gate`), the
relayed progress and what this process did on earlier turns (a refused Pod,
the time of its last status write; with Kueue, the job's queue and the batch
Job of the attempt Kueue holds); `domain.reconcile.plan` decides from it
alone. `read_spec_fields` and `read_status` turn the stored job into typed values,
tolerating fields a newer CRD may add (`read_spec_fields` also names them, with
the keys of `spec.affinity` a core/v1 Affinity does not have).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from transcode_api import errors as api_errors
from transcode_api import spec as job_spec
from transcode_api import status as job_status
from transcode_operator.domain import affinity, builders, podstate, queueing
from transcode_operator.domain import events as ev

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^\x21-\x7e]")
SpecFields = tuple[job_spec.TranscodeJobSpec | None, str | None, tuple[str, ...]]
"""(spec, None, the paths of the fields the model ignored: `spec.outputs[0].foo`), or
(None, the message naming what is wrong, ())."""


@dataclass(frozen=True)
class Gate:
    """The start gates' answer: ok, wait (Pending with a reason) or fail."""

    ok: bool
    reason: str = ""
    message: str = ""
    retry_after: float = 0.0
    fatal: bool = False


OPEN = Gate(True)


@dataclass(frozen=True)
class Observed:
    """Everything `plan` looks at, read at one moment."""

    job: builders.JobRef
    generation: int | None
    spec: job_spec.TranscodeJobSpec | None
    spec_error: str | None
    status: job_status.TranscodeJobStatus
    pods: tuple[podstate.PodView, ...]
    now: datetime.datetime
    relay_progress: bool = False
    """True when the Redis relay is the source of status.progress (else status.runner)."""
    progress: job_status.Progress | None = None
    """The relay's latest progress of the current attempt (with relay_progress)."""
    gate: Gate | None = None
    """The start gates' answer, when this turn asked them (None: not asked)."""
    deleting: bool = False
    has_finalizer: bool = True
    rejected: str | None = None
    quota: tuple[str, float] | None = None
    """A ResourceQuota refused the last Pod create: (the API server's message, seconds
    since). None: no refusal since the last Pod was created."""
    """The API server's words when it refused this job's last Pod create (4xx)."""
    since_write: float | None = None
    """Seconds since this process last wrote the job's status (None: not yet)."""
    refused: tuple[ev.Reason, str] | None = None
    """The tenant policy's refusal (`domain.tenancy`): reason and message, or None."""
    unknown_fields: tuple[str, ...] = ()
    """Spec fields ignored by the model or dropped by the API server (`unknown_fields`)."""
    nodes: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    """Ready (True) or not (False: NotReady, Unknown or gone) of the Nodes of Pods stuck
    Terminating past their grace period while the job is deleted (`domain.finalizing`);
    other Nodes are not looked up."""
    cleanup: podstate.PodView | None = None
    """The job's cleanup Pod (`domain.cleanuppod`), never among `pods`; None: none."""
    cleanup_refused: str | None = None
    """The API server's words when it refused the cleanup Pod (4xx); None: not refused."""
    queue: str | None = None
    """The job's Kueue LocalQueue (`domain.queueing.queue_of`); None: no Kueue."""
    queued: queueing.JobView | None = None
    """The batch/v1 Job of the current attempt while it has no Pod (with a queue)."""
    backlog: int = 0
    """Other jobs' turns waiting in the work queue when this turn began, and other jobs
    whose Pod is simply starting: a burst, under which a new job's first status write
    waits for its Pod to run (`domain.starts.hold_first_write`)."""


def job_ref(body: Mapping[str, Any]) -> builders.JobRef:
    meta = body.get("metadata") or {}
    return builders.JobRef(str(meta.get("namespace", "")), str(meta.get("name", "")),
                           str(meta.get("uid", "")))


def read_spec_fields(data: Mapping[str, Any] | None) -> SpecFields:
    """The typed spec, ignoring fields this operator does not know, or (None, message); and
    the paths of the fields it ignored (unknown affinity keys too)."""
    raw: Any = copy.deepcopy(dict(data or {}))
    ignored: list[str] = []
    for _ in range(8):
        try:
            spec = job_spec.TranscodeJobSpec.model_validate(raw)
        except pydantic.ValidationError as exc:
            extra = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extra or len(extra) != len(exc.errors()):
                return None, str(api_errors.SpecError.from_validation_error(exc, "spec")), ()
            for loc in extra:
                ignored.append(field_path(loc))
                _drop(raw, list(loc))
            continue
        ignored += [field_path(("affinity", *loc))
                    for loc in affinity.unknown_keys(spec.affinity or {})]
        return spec, None, tuple(ignored)
    return None, "invalid TranscodeJob spec: too many unknown fields", ()


def field_path(loc: tuple[Any, ...]) -> str:
    """`spec.outputs[0].video.bitrat` from a location; a tenant's key is shown printable
    and at most 64 characters long."""
    text = "spec"
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = _UNSAFE.sub("?", str(part))
            text += "." + (name if len(name) <= 64 else name[:61] + "...")
    return text


def _drop(data: Any, loc: list[Any]) -> None:
    for part in loc[:-1]:
        data = data[part]
    if isinstance(data, dict):
        data.pop(loc[-1], None)


def read_status(data: Mapping[str, Any] | None) -> job_status.TranscodeJobStatus:
    try:
        return job_status.parse_status(data)
    except api_errors.StatusError:
        logger.warning("Ignoring a status that does not match the model: %s", data)
        return job_status.TranscodeJobStatus()
