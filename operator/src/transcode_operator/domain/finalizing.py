"""The finalizer's decision when a job is deleted: stop its Pods, and always finish (pure).

`reconcile.plan` calls `finalize(obs, cfg)` while the job has a deletionTimestamp.
Every Pod that has not ended is deleted with its grace period (SIGTERM; the runner
aborts its unfinished multipart uploads), and the finalizer is removed once every
Pod ended or is gone. A Pod the kubelet cannot stop (its Node is NotReady, or gone)
stays Terminating forever and would hold the job, and its namespace, with it: once it
is `failurePolicy.forceDeleteAfterSeconds` past the end of its grace period (its
deletionTimestamp) on a Node that is not Ready (`Observed.nodes`, read by
`control.observe` with one GET per such Node), it is deleted with grace 0 (one
`PodForceDeleted` Warning Event); a Pod still not confirmed gone
`failurePolicy.releaseFinalizerAfterSeconds` after that (another finalizer holds it),
or both timeouts past its grace period (a Ready Node's kubelet never stops it), no
longer holds the job: the finalizer is
removed with a `PodNotConfirmedGone` Warning Event naming the Pods. Decided from the
Pods' timestamps alone, so a restarted operator decides the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transcode_operator.domain import actions, observation, podstate
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

R = ev.Reason
WAIT_STOPPING = 2.0  # the finalizer re-checks stopping Pods this often


def past_grace(pod: podstate.PodView, obs: observation.Observed) -> float:
    """Seconds since the end of the Pod's grace period (≤ 0: still in it)."""
    if pod.deletion_time is None:
        return 0.0
    return (obs.now - pod.deletion_time).total_seconds()


def node_lost(pod: podstate.PodView, obs: observation.Observed) -> bool:
    """The Pod's Node is NotReady, Unknown or gone (as far as this turn looked)."""
    return bool(pod.node_name) and obs.nodes.get(pod.node_name) is False


def node_ready(node: Mapping[str, Any] | None) -> bool:
    """Whether a Node object (None: gone) has condition Ready=True."""
    for cond in ((node or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def needs_node(pod: podstate.PodView, obs: observation.Observed,
               cfg: settings_module.FailurePolicySettings) -> bool:
    """Whether `control.observe` should read the Pod's Node: a scheduled Pod that is
    Terminating past its grace period and not yet deleted with grace 0."""
    return pod.deleting and not pod.ended and bool(pod.node_name) \
        and pod.deletion_grace != 0 and past_grace(pod, obs) > 0


def release_due(pod: podstate.PodView, cfg: settings_module.FailurePolicySettings) -> float:
    """Seconds past the deletionTimestamp after which the Pod no longer holds the job. A
    delete with grace 0 moves the deletionTimestamp to its own time, so a forced Pod
    gets `releaseFinalizerAfterSeconds` from then; any other, both timeouts."""
    if pod.deletion_grace == 0:
        return cfg.release_finalizer_after_seconds
    return cfg.force_delete_after_seconds + cfg.release_finalizer_after_seconds


def finalize(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    """The actions of one turn of a job being deleted (see the module docstring)."""
    if not obs.has_finalizer:
        return actions.Plan(release=True)
    policy = cfg.failure_policy
    running = [p for p in obs.pods if not p.ended]
    if not running:
        return actions.Plan(release=True, remove_finalizer=True)
    result = actions.Plan(delete=[p for p in running if not p.deleting], requeue=WAIT_STOPPING)
    stuck = []
    for pod in (p for p in running if p.deleting):
        over = past_grace(pod, obs)
        if over >= release_due(pod, policy):
            stuck.append(pod)
        elif over >= policy.force_delete_after_seconds and node_lost(pod, obs) \
                and pod.deletion_grace != 0:
            result.force_delete.append(pod)
            result.events.append(ev.Event.warning(R.POD_FORCE_DELETED, (
                f"runner Pod {pod.name} on Node {pod.node_name}, which is not Ready, was "
                f"still Terminating {over:.0f}s after its grace period: deleted with grace 0 "
                f"(failurePolicy.forceDeleteAfterSeconds="
                f"{policy.force_delete_after_seconds:g})")))
    if stuck and len(stuck) == len(running):  # nothing left that may still end in time
        names = ", ".join(p.name for p in stuck)
        return actions.Plan(release=True, remove_finalizer=True, events=[ev.Event.warning(
            R.POD_NOT_CONFIRMED_GONE, (
                f"runner Pod(s) {names} could not be confirmed gone (failurePolicy."
                f"forceDeleteAfterSeconds={policy.force_delete_after_seconds:g}, "
                f"releaseFinalizerAfterSeconds={policy.release_finalizer_after_seconds:g}); "
                "removing the finalizer anyway: a runner may still run on its node, and its "
                "unfinished multipart uploads may be left open"))])
    return result
