"""Status builders: the conditions map (kstatus included) and the status merge patch."""

from __future__ import annotations

from tests.unit.operator import helpers as h
from transcode_api import constants
from transcode_api import status as job_status
from transcode_operator.domain import conditions

P = constants.Phase


def _conds(state: conditions.JobState,
           old: list[job_status.Condition] | None = None) -> dict[str, job_status.Condition]:
    return {c.type.value: c for c in conditions.build_conditions(old or [], state, 3, h.NOW)}


def test_in_progress_is_reconciling() -> None:
    c = _conds(conditions.JobState(P.RUNNING, "Running", "working"))
    assert {k: v.status.value for k, v in c.items()} == {
        "Succeeded": "Unknown", "Failed": "Unknown", "GPUAccelerated": "Unknown",
        "Reconciling": "True", "Stalled": "False"}
    assert c["Reconciling"].message == "working" and c["Reconciling"].observed_generation == 3


def test_failed_is_stalled_not_reconciling() -> None:
    c = _conds(conditions.JobState(P.FAILED, "BackoffLimitExceeded", "3 failures"))
    assert (c["Failed"].status.value, c["Stalled"].status.value, c["Reconciling"].status.value,
            c["Succeeded"].status.value) == ("True", "True", "False", "False")
    assert c["Stalled"].reason == "BackoffLimitExceeded"


def test_succeeded_and_suspended() -> None:
    c = _conds(conditions.JobState(P.SUCCEEDED, "TranscodeSucceeded"))
    assert (c["Succeeded"].status.value, c["Failed"].status.value,
            c["Stalled"].status.value) == ("True", "False", "False")
    s = _conds(conditions.JobState(P.PENDING, "Suspended", suspended=True))
    assert s["Reconciling"].status.value == "False" and s["Stalled"].status.value == "False"


def test_transition_time_kept_while_status_unchanged() -> None:
    old = conditions.build_conditions([], conditions.JobState(P.SCHEDULING, "PodCreated"), 1,
                                      h.ago(100))
    new = conditions.build_conditions(old, conditions.JobState(P.RUNNING, "Running"), 1, h.NOW)
    by = {c.type.value: c for c in new}
    assert by["Reconciling"].last_transition_time == h.ago(100)
    assert by["Reconciling"].reason == "Running"
    done = {c.type.value: c for c in conditions.build_conditions(
        new, conditions.JobState(P.SUCCEEDED, "TranscodeSucceeded"), 1, h.NOW)}
    assert done["Reconciling"].last_transition_time == h.NOW


def test_gpu_condition_is_kept_unless_given() -> None:
    gpu = conditions.GpuState(constants.ConditionStatus.FALSE, "GPUUnschedulable", "busy")
    first = conditions.build_conditions([], conditions.JobState(P.SCHEDULING, "x", gpu=gpu), 1,
                                        h.NOW)
    later = conditions.build_conditions(first, conditions.JobState(P.RUNNING, "Running"), 1, h.NOW)
    assert next(c for c in later if c.type == "GPUAccelerated").reason == "GPUUnschedulable"


def test_reason_words_are_valid_condition_reasons() -> None:
    assert conditions.reason_word("SourceNotFound", "X") == "SourceNotFound"
    assert conditions.reason_word("bad reason!", "X") == "badreason"
    assert conditions.reason_word("", "Failed") == "Failed"
    assert conditions.reason_word("9lives", "Failed") == "Failed"


def test_merge_patch_sends_only_changes_never_the_runner() -> None:
    old = job_status.parse_status({
        "phase": "Running", "attempts": 1, "metadata": {"gpuFallback": True,
                                                        "fallbackMessage": "m"},
        "runner": {"attempt": 1, "phase": "Running"}})
    new = old.model_copy(update={
        "phase": P.SUCCEEDED, "runner": None,
        "metadata": old.metadata.model_copy(update={"fallback_message": None})})  # type: ignore[union-attr]
    patch = conditions.merge_patch(old, new)
    assert patch == {"phase": "Succeeded", "metadata": {"fallbackMessage": None}}
    assert conditions.merge_patch(old, old) == {}


def test_apply_state_sets_completion_time_once() -> None:
    st = job_status.TranscodeJobStatus()
    done = conditions.apply_state(st, conditions.JobState(P.FAILED, "X"), 2, h.NOW)
    assert done.completion_time == h.NOW and done.observed_generation == 2
    again = conditions.apply_state(done, conditions.JobState(P.FAILED, "X"), 2, h.ago(-50))
    assert again.completion_time == h.NOW
