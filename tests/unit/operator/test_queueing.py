"""Kueue: the queued attempt's batch Job, Kueue's answer, and what the job shows for it."""

from __future__ import annotations

import datetime
from typing import Any

from tests.unit.operator import helpers as h
from transcode_api import constants, contract
from transcode_operator.domain import builders, placement_policy, podstate, queueing, reconcile
from transcode_operator.domain import settings as settings_module

QUEUED_CFG = settings_module.Settings(
    storage_policy={"ambient_credentials_namespaces": ["media"]},
    queues={"default": "team-gpu", "cpu": "team-cpu"})
GPU_SPEC = {"acceleration": {"mode": "auto", "gpuPendingTimeout": "2m"}}


def batch_job(attempt: int = 1, *, gpu: bool = True, suspended: bool = True,
              created: datetime.datetime | None = None, preemptions: int = 0,
              fallback: str | None = None) -> dict[str, Any]:
    pod = builders.pod(h.JOB, h.spec(), builders.PodRequest(attempt, gpu, fallback), h.CFG)
    raw = queueing.job(pod, "team-gpu", None, preemptions)
    raw["metadata"].update(uid=f"job-uid-{attempt}",
                           creationTimestamp=h.stamp(created or h.ago(10)))
    raw["spec"]["suspend"] = suspended
    return raw


def workload(**conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "job-trailer-1-abcde"}, "status": {"conditions": [
        {"type": t, "status": s, "reason": r, "message": m}
        for t, (s, r, m) in conditions.items()]}}


PENDING = workload(QuotaReserved=("False", "Pending",
                                  "couldn't assign flavors to pod set main: insufficient "
                                  "unused quota for nvidia.com/gpu in flavor l4, 1 more needed"))


def test_queue_comes_from_the_spec_then_the_label_then_the_namespace_default() -> None:
    q = settings_module.QueueSettings(default="shared", namespace_defaults={"media": "media-q",
                                                                              "free": ""})
    assert queueing.queue_of("media", "mine", {queueing.QUEUE_LABEL: "lab"}, q) == "mine"
    assert queueing.queue_of("media", None, {queueing.QUEUE_LABEL: "lab"}, q) == "lab"
    assert queueing.queue_of("media", None, {}, q) == "media-q"
    assert queueing.queue_of("other", None, None, q) == "shared"
    assert queueing.queue_of("free", None, None, q) is None  # opted out of the default
    assert queueing.queue_of("x", None, None, settings_module.QueueSettings()) is None


def test_the_batch_job_is_suspended_single_try_owned_and_wraps_the_runner_pod() -> None:
    pod = builders.pod(h.JOB, h.spec(), builders.PodRequest(2, True), h.CFG)
    job = queueing.job(pod, "team-gpu", "transcode-high")
    meta, spec = job["metadata"], job["spec"]
    assert meta["name"] == "trailer-2" and meta["namespace"] == "media"
    assert meta["labels"][queueing.QUEUE_LABEL] == "team-gpu"
    assert meta["labels"][queueing.PRIORITY_LABEL] == "transcode-high"
    assert meta["ownerReferences"][0]["uid"] == h.JOB.uid
    assert spec["suspend"] is True and spec["parallelism"] == 1 and spec["backoffLimit"] == 0
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [0]
    template = spec["template"]
    assert template["spec"] == pod["spec"]
    assert template["metadata"]["labels"][contract.JOB_UID_LABEL] == h.JOB.uid
    requests = template["spec"]["containers"][0]["resources"]["requests"]
    assert requests and "cpu" in requests  # Kueue admits on requests


def test_a_pod_made_by_the_attempts_batch_job_belongs_to_the_transcode_job() -> None:
    raw = h.pod(1)
    raw["metadata"]["name"] = "trailer-1-x7k2p"
    raw["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job",
                                           "name": "trailer-1", "uid": "job-uid-1",
                                           "controller": True}]
    view = podstate.view(raw)
    assert (view.job_name, view.owner_uid, view.attempt) == ("trailer", h.JOB.uid, 1)


def test_workload_conditions_give_kueues_words() -> None:
    assert "insufficient unused quota" in queueing.workload(PENDING).pending_message
    admitted = queueing.workload(workload(QuotaReserved=("True", "QuotaReserved", ""),
                                          Admitted=("True", "Admitted", "")))
    assert admitted.admitted and admitted.pending_message == ""
    evicted = queueing.workload(workload(Evicted=("True", "Preempted", "Preempted to "
                                                  "accommodate a workload of higher priority")))
    assert evicted.evicted_reason == "Preempted" and "higher priority" in evicted.evicted_message


def _queued(raw: dict[str, Any], wl: dict[str, Any] | None, **kw: Any) -> Any:
    view = queueing.job_view(raw, queueing.workload(wl) if wl else None)
    return h.observed(s=kw.pop("s", h.spec(**GPU_SPEC)), queue="team-gpu", queued=view,
                      status={"phase": "Scheduling", "attempts": raw_attempt(raw),
                              "startTime": h.stamp(h.ago(20)), **kw.pop("status", {})}, **kw)


def raw_attempt(raw: dict[str, Any]) -> int:
    return int(raw["metadata"]["labels"][contract.ATTEMPT_LABEL])


def test_a_held_attempt_is_queued_with_kueues_message_and_reconciling() -> None:
    plan = reconcile.plan(_queued(batch_job(), PENDING), QUEUED_CFG)
    assert plan.status is not None and plan.create is None and not plan.ask_gates
    assert plan.status.phase == constants.Phase.QUEUED and plan.status.reason == "Queued"
    assert "insufficient unused quota for nvidia.com/gpu" in (plan.status.message or "")
    conds = {c.type: c.status for c in plan.status.conditions}
    assert conds["Reconciling"] == "True"
    assert plan.requeue is not None and plan.requeue <= QUEUED_CFG.queues.poll_seconds


def test_an_unsuspended_job_without_its_pod_is_admitted() -> None:
    plan = reconcile.plan(_queued(batch_job(suspended=False), None), QUEUED_CFG)
    assert plan.status is not None and plan.status.phase == constants.Phase.ADMITTED


def test_gpu_quota_exhausted_past_the_timeout_queues_a_cpu_attempt() -> None:
    plan = reconcile.plan(_queued(batch_job(created=h.ago(121)), PENDING), QUEUED_CFG)
    assert plan.create is not None and plan.create.attempt == 2 and not plan.create.gpu
    assert plan.create.fallback_reason == "GPUQuotaExhausted"
    assert plan.cancel_queued == "trailer-1"
    assert plan.status is not None and plan.status.metadata is not None
    assert plan.status.metadata.gpu_fallback is True
    assert plan.status.metadata.fallback_reason == constants.FallbackReason.GPU_QUOTA_EXHAUSTED
    assert any("team-cpu" in e.message for e in plan.events)


def test_without_cpu_fallback_the_gpu_attempt_stays_queued_and_says_why() -> None:
    s = h.spec(acceleration={"mode": "auto", "gpuPendingTimeout": "2m",
                             "allowCpuFallback": False})
    plan = reconcile.plan(_queued(batch_job(created=h.ago(121)), PENDING, s=s), QUEUED_CFG)
    assert plan.create is None and plan.cancel_queued is None
    assert plan.status is not None and plan.status.phase == constants.Phase.QUEUED
    assert plan.status.reason == "GPUQuotaExhausted"
    assert "allowCpuFallback is false" in (plan.status.message or "")


def test_preemption_is_shown_and_retried_without_counting_within_the_cap() -> None:
    evicted = workload(Evicted=("True", "Preempted", "Preempted to accommodate a workload"))
    plan = reconcile.plan(_queued(batch_job(suspended=True, preemptions=1), evicted), QUEUED_CFG)
    assert plan.status is not None and plan.status.phase == constants.Phase.PREEMPTED
    assert plan.create is not None and plan.create.attempt == 2 and plan.create.gpu
    assert plan.create.preemptions == 2 and plan.cancel_queued == "trailer-1"
    limit = QUEUED_CFG.failure_policy.max_disruptions
    over = reconcile.plan(_queued(batch_job(preemptions=limit), evicted), QUEUED_CFG)
    assert over.status is not None and over.status.phase == constants.Phase.FAILED
    assert over.status.reason == "TooManyDisruptions" and over.create is None


def test_suspending_a_queued_job_deletes_its_batch_job() -> None:
    obs = _queued(batch_job(), PENDING, s=h.spec(suspend=True, **GPU_SPEC))
    plan = reconcile.plan(obs, QUEUED_CFG)
    assert plan.cancel_queued == "trailer-1" and plan.create is None


def test_a_workload_priority_class_must_be_allowed_by_the_placement_policy() -> None:
    s = h.spec(workloadPriorityClassName="urgent")
    policy = settings_module.PlacementPolicySettings()
    assert placement_policy.problem("media", s, policy) == (
        "spec.workloadPriorityClassName urgent is not allowed by the operator's placementPolicy")
    allowed = settings_module.PlacementPolicySettings(workload_priority_class_names=["urg*"])
    assert placement_policy.problem("media", s, allowed) is None


def test_a_job_kueue_never_picks_up_says_what_to_check() -> None:
    plan = reconcile.plan(_queued(batch_job(), None), QUEUED_CFG)
    assert plan.status is not None and plan.status.phase == constants.Phase.QUEUED
    assert "is Kueue installed, with LocalQueue team-gpu in namespace media?" in (
        plan.status.message or "")
