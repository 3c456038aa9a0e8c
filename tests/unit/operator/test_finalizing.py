"""The finalizer always finishes: Pods stuck Terminating on a lost Node are forced, then let go.

Pure decisions of `domain.finalizing` from Pods whose deletionTimestamp (the end of
their grace period) lies in the past, and one queue turn against the in-memory API:
the Node is read only for a Pod past its grace period, the force delete has grace 0.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.control import reconciler
from transcode_operator.domain import actions, finalizing, podstate, reconcile
from transcode_operator.domain import settings as settings_module

CFG = h.CFG.model_copy(update={"failure_policy": settings_module.FailurePolicySettings(
    force_delete_after_seconds=60, release_finalizer_after_seconds=120)})
KEY = (h.JOB.namespace, h.JOB.name)


def _stuck(past_grace: float, *, forced: bool = False, node: str = "cpu-node-0"
           ) -> dict[str, Any]:
    raw = h.pod(attempt=1, phase="Running")
    raw["metadata"]["deletionTimestamp"] = h.stamp(h.ago(past_grace))
    raw["metadata"]["deletionGracePeriodSeconds"] = 0 if forced else 30
    raw["spec"]["nodeName"] = node
    return raw


def _plan(*raw: dict[str, Any], nodes: dict[str, bool] | None = None) -> actions.Plan:
    obs = h.observed(*(podstate.view(r) for r in raw), deleting=True, nodes=nodes or {})
    return reconcile.plan(obs, CFG)


def _reasons(plan: actions.Plan) -> list[str]:
    return [e.reason for e in plan.events]


def test_a_pod_in_its_grace_period_or_on_a_ready_node_is_waited_for() -> None:
    in_grace = _plan(_stuck(-10), nodes={"cpu-node-0": False})
    assert in_grace.force_delete == [] and not in_grace.remove_finalizer
    assert in_grace.requeue == finalizing.WAIT_STOPPING
    ready = _plan(_stuck(100), nodes={"cpu-node-0": True})
    assert ready.force_delete == [] and not ready.remove_finalizer and ready.events == []


def test_past_the_timeout_on_a_lost_node_it_is_deleted_with_grace_zero_and_said() -> None:
    early = _plan(_stuck(59), nodes={"cpu-node-0": False})
    assert early.force_delete == []
    plan = _plan(_stuck(61), nodes={"cpu-node-0": False})
    assert [p.name for p in plan.force_delete] == ["trailer-1"]
    assert _reasons(plan) == ["PodForceDeleted"] and plan.events[0].type == "Warning"
    assert "Node cpu-node-0, which is not Ready" in plan.events[0].message
    assert not plan.remove_finalizer
    # once forced (grace 0) it is not forced, nor announced, again
    again = _plan(_stuck(70, forced=True), nodes={"cpu-node-0": False})
    assert again.force_delete == [] and again.events == []


def test_a_pod_never_confirmed_gone_releases_the_finalizer_with_a_warning() -> None:
    # a forced delete moved the deletionTimestamp to its own time: 120 s from there
    assert not _plan(_stuck(119, forced=True)).remove_finalizer
    plan = _plan(_stuck(121, forced=True))
    assert plan.remove_finalizer and plan.release
    assert _reasons(plan) == ["PodNotConfirmedGone"]
    assert "trailer-1 could not be confirmed gone (failurePolicy.forceDeleteAfterSeconds=60, "\
        "releaseFinalizerAfterSeconds=120)" in plan.events[0].message
    # a Pod on a Ready Node that never stops: both timeouts past its grace period
    assert not _plan(_stuck(179), nodes={"cpu-node-0": True}).remove_finalizer
    assert _plan(_stuck(181), nodes={"cpu-node-0": True}).remove_finalizer
    # a second Pod that is still within its time keeps the finalizer
    other = _stuck(10)
    other["metadata"].update(name="trailer-2", uid="pod-uid-2")
    assert not _plan(_stuck(121, forced=True), other).remove_finalizer


def test_ended_pods_and_no_pods_let_the_job_go() -> None:
    done = h.pod(attempt=1, phase="Failed", exit_code=75)
    assert _plan(done).remove_finalizer and _plan().remove_finalizer


def test_node_readiness_and_which_pods_need_their_node_read() -> None:
    assert finalizing.node_ready({"status": {"conditions": [
        {"type": "Ready", "status": "True"}]}})
    assert not finalizing.node_ready({"status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}})
    assert not finalizing.node_ready(None)  # gone
    obs = h.observed(deleting=True)
    policy = CFG.failure_policy
    assert finalizing.needs_node(podstate.view(_stuck(1)), obs, policy)
    assert not finalizing.needs_node(podstate.view(_stuck(-1)), obs, policy)
    assert not finalizing.needs_node(podstate.view(_stuck(5, forced=True)), obs, policy)
    assert not finalizing.needs_node(podstate.view(_stuck(5, node="")), obs, policy)


def test_a_turn_reads_the_lost_node_once_and_force_deletes_with_grace_zero() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.jobs[KEY]["metadata"]["deletionTimestamp"] = h.stamp(h.ago(120))
    api.set_pod("trailer-1", _stuck(90))
    api.nodes["cpu-node-0"] = {"status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]}}
    d = fakes.deps_for(api, cfg=CFG)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))
    assert ("get_node", "cpu-node-0") in api.writes
    assert ("delete_pod", "trailer-1 grace=0") in api.writes and api.pods == {}
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [e.reason for _, e in poster.posted] == ["PodForceDeleted"]
    d.informer.pod_gone(_stuck(90))
    asyncio.run(reconciler.turn(d, KEY))
    assert api.jobs[KEY]["metadata"].get("finalizers") is None


def test_a_pod_in_its_grace_period_costs_no_node_read() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    api.jobs[KEY]["metadata"]["deletionTimestamp"] = h.stamp(h.NOW)
    api.set_pod("trailer-1", _stuck(-20))
    d = fakes.deps_for(api, cfg=CFG)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))
    assert not any(w[0] == "get_node" for w in api.writes)
    assert not any(w[0] == "delete_pod" for w in api.writes)


