"""Status conditions of a TranscodeJob: `Condition` (metav1.Condition) and `set_condition`.

`transcode_api.status.TranscodeJobStatus` holds the conditions keyed by type; the
operator keeps them with `set_condition`, which sets `lastTransitionTime` only
when a condition's status changes (the Kubernetes API conventions).
`Timestamp` is the UTC datetime every status time field uses.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import pydantic

from transcode_api import base, constants


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


Timestamp = Annotated[datetime.datetime, pydantic.AfterValidator(_utc)]
_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class Condition(base.StatusModel):
    """One observation of the job's state (metav1.Condition), keyed by type."""

    type: constants.ConditionType = pydantic.Field(
        description="Succeeded, Failed, GPUAccelerated, UnknownFields, or the kstatus Reconciling/Stalled.",
    )
    status: constants.ConditionStatus = pydantic.Field(description="True, False or Unknown.")
    reason: str | None = pydantic.Field(
        default=None,
        max_length=1024,
        pattern=_REASON,
        description="One CamelCase word for the last transition (TranscodeSucceeded, DeadlineExceeded, NVENCInitFailed).",
    )
    message: str | None = pydantic.Field(
        default=None, max_length=32768, description="Human-readable details of the transition."
    )
    last_transition_time: Timestamp | None = pydantic.Field(
        default=None, description="When status last changed (RFC 3339)."
    )
    observed_generation: int | None = pydantic.Field(
        default=None, ge=0, description="metadata.generation the condition was computed from."
    )


def set_condition(
    conditions: list[Condition], new: Condition, now: datetime.datetime
) -> list[Condition]:
    """A new conditions list with `new` put in place of the one of the same type.

    `lastTransitionTime` is kept when the status did not change, else set to
    `now` (when `new` carries none). Order is stable: replaced in place, new
    types appended.
    """
    now = _utc(now)
    out: list[Condition] = []
    found = False
    for old in conditions:
        if old.type != new.type:
            out.append(old)
            continue
        found = True
        keep = old.status == new.status and old.last_transition_time is not None
        when = old.last_transition_time if keep else (new.last_transition_time or now)
        out.append(new.model_copy(update={"last_transition_time": when}))
    if not found:
        out.append(new.model_copy(update={"last_transition_time": new.last_transition_time or now}))
    return out
