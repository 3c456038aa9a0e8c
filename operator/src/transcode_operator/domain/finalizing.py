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
removed with a `PodNotConfirmedGone` Warning Event naming the Pods. Once every runner
Pod ended, a job whose `status.runner.openUploads` still lists multipart uploads (a
runner SIGKILLed, OOM-killed, evicted or lost with its node left them) gets one cleanup
Pod (`domain.cleanuppod`, `transcode-runner abort-uploads` with the job's own
credentials: the operator holds none), and the finalizer waits for it: Succeeded → a
Normal `UploadsAborted` Event, Failed or not ended `failurePolicy.abortUploadsTimeoutSeconds`
after its creation → a Warning `UploadsNotAborted` naming the count and the Pod's reason;
either way the job is released (that one Event is posted by name, once). Decided from the Pods' timestamps, phases and the
cleanup Pod's existence alone, so a restarted operator decides the same (and its create,
by name, answers 409 when the Pod exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transcode_operator.domain import actions, observation, podstate
from transcode_operator.domain import events as ev
from transcode_operator.domain import settings as settings_module

R = ev.Reason
WAIT_STOPPING = 2.0  # the finalizer re-checks stopping Pods this often
RELEASED = "released"
"""The key of the one Event that says why a deleted job is released (posted by name, so
a turn repeated after a 409 on the finalizer's removal posts it once)."""


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
        return after_pods(obs, cfg)
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
                "unfinished multipart uploads may be left open"), key=RELEASED)])
    return result


def open_uploads(obs: observation.Observed) -> int:
    """How many multipart uploads `status.runner.openUploads` lists."""
    runner = obs.status.runner
    return len(runner.open_uploads or []) if runner is not None else 0


def after_pods(obs: observation.Observed, cfg: settings_module.Settings) -> actions.Plan:
    """Every runner Pod ended: abort what a killed one left open (see the module
    docstring), then release the job."""
    done = actions.Plan(release=True, remove_finalizer=True)
    timeout = cfg.failure_policy.abort_uploads_timeout_seconds
    pod = obs.cleanup
    if pod is None:
        left = open_uploads(obs)
        if not left or timeout <= 0 or obs.spec is None or obs.refused is not None:
            return done
        if obs.cleanup_refused is not None:
            done.events.append(ev.Event.warning(R.UPLOADS_NOT_ABORTED, (
                f"{obs.cleanup_refused}: {left} multipart upload(s) a killed runner left open "
                "may stay open (a bucket lifecycle rule that aborts incomplete multipart "
                "uploads removes them); releasing the job anyway"), key=RELEASED))
            return done
        return actions.Plan(cleanup=left, requeue=WAIT_STOPPING)
    count = pod.open_uploads or open_uploads(obs)
    if pod.phase == "Succeeded":
        done.events.append(ev.Event.normal(R.UPLOADS_ABORTED, (
            f"cleanup Pod {pod.name} aborted the {count} multipart upload(s) a killed "
            "runner left open"), key=RELEASED))
        return done
    age = (obs.now - pod.created).total_seconds() if pod.created is not None else 0.0
    if pod.phase != "Failed" and age < timeout:
        return actions.Plan(requeue=min(WAIT_STOPPING, max(timeout - age, 0.1)))
    why = cleanup_failure(pod) if pod.phase == "Failed" else (
        f"not ended {age:.0f}s after its creation (failurePolicy.abortUploadsTimeoutSeconds="
        f"{timeout:g}; {pod.waiting_reason or pod.phase})")
    done.events.append(ev.Event.warning(R.UPLOADS_NOT_ABORTED, (
        f"cleanup Pod {pod.name} {why}: {count} multipart upload(s) a killed runner left "
        "open may stay open (a bucket lifecycle rule that aborts incomplete multipart "
        "uploads removes them); releasing the job anyway"), key=RELEASED))
    if not pod.ended and not pod.deleting:
        done.delete.append(pod)
    return done


def cleanup_failure(pod: podstate.PodView) -> str:
    """How a cleanup Pod failed, from its status (reason and exit code, never its logs)."""
    term = pod.terminated
    if term is not None:
        return f"failed ({term.reason or 'Error'}, exit code {term.exit_code})"
    return f"failed ({pod.disruption or pod.status_message[:200] or 'no reason given'})"
