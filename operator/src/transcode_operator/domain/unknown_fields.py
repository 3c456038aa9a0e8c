"""Spec fields a user wrote that nobody will act on: find them, and tell the user once.

The CRD's structural schema prunes unknown fields silently for clients that send
with fieldValidation Ignore or Warn (the Python client, some GitOps tools), and
the operator's model ignores fields a newer CRD admits and the keys of the
preserved `spec.affinity` that a core/v1 Affinity does not have (the Pod would
drop them). `observation.read_spec_fields` collects the fields the model and the
affinity shape ignored; `pruned` compares the spec in
`kubectl.kubernetes.io/last-applied-configuration` (when kubectl left one) with
the stored spec, so a typo such as `spec.outptus` that the API server dropped is
named too. `domain.reconcile.plan` calls `note`, which puts the condition
`UnknownFields` (True, reason `FieldsIgnored`, naming the fields; False once none
are left) into the status and posts one Warning Event `UnknownFields` whenever
that message changes. The job still runs: a dropped field is usually a typo of an
optional one, and failing would punish clients that cannot even see the
warning. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from transcode_api import constants
from transcode_api import status as job_status
from transcode_operator.domain import actions, conditions, observation
from transcode_operator.domain import events as ev

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
TYPE = constants.ConditionType.UNKNOWN_FIELDS
MAX_NAMED = 20


def _missing(applied: Any, stored: Any) -> list[tuple[Any, ...]]:
    if isinstance(applied, Mapping) and isinstance(stored, Mapping):
        found: list[tuple[Any, ...]] = []
        for key, value in applied.items():
            if value is None:
                continue
            if key not in stored:
                found.append((key,))
            else:
                found += [(key, *loc) for loc in _missing(value, stored[key])]
        return found
    if isinstance(applied, list) and isinstance(stored, list):
        return [(i, *loc) for i, (a, s) in enumerate(zip(applied, stored, strict=False))
                for loc in _missing(a, s)]
    return []


def pruned(body: Mapping[str, Any]) -> list[str]:
    """Spec fields in kubectl's last-applied configuration that the stored spec lacks."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return []
    try:
        applied = json.loads(text)
    except ValueError:
        return []
    spec = applied.get("spec") if isinstance(applied, Mapping) else None
    return [observation.field_path(loc) for loc in _missing(spec, body.get("spec") or {})]


def message(paths: Iterable[str]) -> str:
    names = sorted(set(paths))
    shown = ", ".join(names[:MAX_NAMED])
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return (f"the job runs without these spec fields, which the TranscodeJob schema does not "
            f"know (check their spelling): {shown}{more}")


def note(obs: observation.Observed, plan: actions.Plan) -> None:
    """Record the job's unknown fields in `plan` (condition, one Event per new message)."""
    if obs.spec is None or plan.ask_gates:
        return
    status = plan.status or obs.status
    current = next((c for c in status.conditions if c.type == TYPE), None)
    if obs.unknown_fields:
        text = conditions.clip(message(obs.unknown_fields))
        if current is not None and current.status == constants.ConditionStatus.TRUE \
                and current.message == text:
            return
        new = job_status.Condition(type=TYPE, status=constants.ConditionStatus.TRUE,
                                   reason="FieldsIgnored", message=text,
                                   observed_generation=obs.generation)
        plan.events.append(ev.Event.warning(ev.Reason.UNKNOWN_FIELDS, text))
    elif current is None or current.status == constants.ConditionStatus.FALSE:
        return
    else:
        new = job_status.Condition(type=TYPE, status=constants.ConditionStatus.FALSE,
                                   reason="NoUnknownFields", observed_generation=obs.generation)
    merged = job_status.set_condition(status.conditions, new, conditions.now_utc(obs.now))
    plan.status = status.model_copy(update={"conditions": merged})
