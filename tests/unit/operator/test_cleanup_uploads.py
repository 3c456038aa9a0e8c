"""A deleted job's open multipart uploads are aborted by one cleanup Pod, and deletion never hangs.

Pure decisions of `domain.finalizing.after_pods` (no open uploads, a cleanup Pod to
make, running, Succeeded, Failed, timed out, refused), the cleanup Pod manifest of
`domain.cleanuppod`, and queue turns against the in-memory API: one create, a
restarted operator that finds the Pod makes no second one, and the Events.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_api import contract
from transcode_operator.control import reconciler
from transcode_operator.domain import (
    actions,
    builders,
    cleanuppod,
    errors,
    podstate,
    reconcile,
)
from transcode_operator.domain import settings as settings_module

KEY = (h.JOB.namespace, h.JOB.name)
OPEN = {"runner": {"attempt": 2, "phase": "Uploading", "openUploads": [
    {"bucket": "media-out", "key": "trailer/720p.mp4", "uploadId": "up-1"},
    {"bucket": "media-out", "key": "trailer/720p.mp4", "uploadId": "up-2"}]}, "attempts": 2}


def _cleanup(phase: str = "Pending", *, age: float = 10, exit_code: int | None = None,
             term_reason: str | None = None, waiting: str | None = None,
             reason: str | None = None) -> podstate.PodView:
    raw = cleanuppod.pod(h.JOB, h.spec(), 2, 2, h.CFG)
    raw["metadata"].update(uid="cleanup-uid", resourceVersion="5",
                           creationTimestamp=h.stamp(h.ago(age)))
    state: dict[str, Any] = {}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "reason": term_reason or "Error"}}
    elif waiting is not None:
        state = {"waiting": {"reason": waiting, "message": "pulling"}}
    raw["status"] = {"phase": phase, **({"reason": reason} if reason else {}),
                     "containerStatuses": [{"name": contract.CONTAINER_NAME, "state": state}]}
    return podstate.view(raw)


def _plan(*pods: podstate.PodView, status: dict[str, Any] | None = OPEN,
          cfg: settings_module.Settings = h.CFG, **extra: Any) -> actions.Plan:
    obs = h.observed(*pods, status=status, deleting=True, **extra)
    return reconcile.plan(obs, cfg)


def _killed() -> podstate.PodView:
    return h.view(attempt=2, phase="Failed", exit_code=137, term_reason="OOMKilled")


def test_without_open_uploads_the_job_goes_at_once() -> None:
    plan = _plan(_killed(), status={"attempts": 2})
    assert plan.remove_finalizer and plan.cleanup is None and plan.events == []


def test_open_uploads_wait_for_the_runner_pods_to_end_then_get_one_cleanup_pod() -> None:
    running = _plan(h.view(attempt=2, phase="Running"))
    assert [p.name for p in running.delete] == ["trailer-2"] and running.cleanup is None
    plan = _plan(_killed())
    assert plan.cleanup == 2 and not plan.remove_finalizer and not plan.release
    assert plan.requeue is not None


def test_no_cleanup_pod_when_disabled_without_a_spec_or_for_a_refused_job() -> None:
    off = h.CFG.model_copy(update={"failure_policy": settings_module.FailurePolicySettings(
        abort_uploads_timeout_seconds=0)})
    assert _plan(_killed(), cfg=off).remove_finalizer
    assert _plan(_killed(), spec_error="bad spec").remove_finalizer
    refused = _plan(_killed(), refused=("EndpointNotAllowed", "no"))
    assert refused.remove_finalizer and refused.cleanup is None


def test_a_running_cleanup_pod_holds_the_job_until_it_ends() -> None:
    plan = _plan(_killed(), _cleanup("Running", age=30), cleanup=_cleanup("Running", age=30))
    assert not plan.remove_finalizer and plan.cleanup is None and plan.events == []


def test_a_succeeded_cleanup_pod_releases_the_job_with_uploads_aborted() -> None:
    done = _cleanup("Succeeded", exit_code=0, term_reason="Completed")
    plan = _plan(_killed(), status={"attempts": 2, "runner": {"attempt": 2, "phase": "Running"}},
                 cleanup=done)
    assert plan.remove_finalizer and plan.release and plan.cleanup is None
    (event,) = plan.events
    assert (event.type, event.reason) == ("Normal", "UploadsAborted")
    assert "cleanup Pod trailer-cleanup aborted the 2 multipart upload(s)" in event.message


def test_a_failed_cleanup_pod_releases_the_job_with_a_warning_naming_count_and_reason() -> None:
    failed = _cleanup("Failed", exit_code=75)
    plan = _plan(_killed(), cleanup=failed)
    assert plan.remove_finalizer and plan.cleanup is None
    (event,) = plan.events
    assert (event.type, event.reason) == ("Warning", "UploadsNotAborted")
    assert "trailer-cleanup failed (Error, exit code 75): 2 multipart upload(s)" in event.message
    assert "up-1" not in event.message  # no upload id, no key, no credentials


def test_a_cleanup_pod_that_never_ends_is_given_up_after_the_timeout() -> None:
    stuck = _cleanup("Pending", age=179, waiting="ImagePullBackOff")
    assert not _plan(_killed(), cleanup=stuck).remove_finalizer
    late = _cleanup("Pending", age=181, waiting="ImagePullBackOff")
    plan = _plan(_killed(), cleanup=late)
    assert plan.remove_finalizer and [p.name for p in plan.delete] == ["trailer-cleanup"]
    (event,) = plan.events
    assert event.reason == "UploadsNotAborted"
    assert "not ended 181s after its creation (failurePolicy.abortUploadsTimeoutSeconds=180; " \
        "ImagePullBackOff)" in event.message


def test_a_refused_cleanup_pod_releases_the_job_with_a_warning() -> None:
    plan = _plan(_killed(), cleanup_refused="the API server refused the cleanup Pod x: quota")
    assert plan.remove_finalizer and plan.cleanup is None
    assert [e.reason for e in plan.events] == ["UploadsNotAborted"]
    assert "refused the cleanup Pod x: quota: 2 multipart upload(s)" in plan.events[0].message


def test_the_cleanup_pod_is_the_runner_pod_with_the_abort_command_and_no_gpu() -> None:
    cfg = h.CFG.model_copy(update={"runner": h.CFG.runner.model_copy(update={
        "host_network": True, "service_account_name": "runner-sa"})})
    s = h.spec(storage={"credentialsSecretRef": {"name": "media-s3"}},
               acceleration={"mode": "gpu"}, nodeSelector={"pool": "media"})
    manifest = cleanuppod.pod(h.JOB, s, 3, 2, cfg)
    runner = builders.pod(h.JOB, s, builders.PodRequest(3, gpu=True), cfg)
    meta, spec = manifest["metadata"], manifest["spec"]
    (container,) = spec["containers"]
    assert meta["name"] == "trailer-cleanup" and meta["namespace"] == "media"
    assert meta["ownerReferences"] == [builders.owner_reference(h.JOB)]
    assert meta["labels"][contract.ROLE_LABEL] == "cleanup"
    assert contract.ATTEMPT_LABEL not in meta["labels"]
    assert meta["labels"][contract.JOB_UID_LABEL] == h.JOB.uid  # found with the runner Pods
    assert meta["annotations"][contract.OPEN_UPLOADS_ANNOTATION] == "2"
    assert container["command"] == ["transcode-runner", "abort-uploads"]
    assert "args" not in container
    assert contract.GPU_RESOURCE not in str(container["resources"])
    assert container["resources"]["limits"] == {"memory": "256Mi"}
    env = {e["name"]: e for e in container["env"]}
    assert env[contract.ENV_NVIDIA_VISIBLE_DEVICES]["value"] == "void"
    assert env[contract.ENV_AWS_SECRET_ACCESS_KEY] == \
        {e["name"]: e for e in runner["spec"]["containers"][0]["env"]}[
            contract.ENV_AWS_SECRET_ACCESS_KEY]  # by secretKeyRef, as the runner's
    assert env[contract.ENV_ATTEMPT]["value"] == "3"
    assert spec["activeDeadlineSeconds"] == cleanuppod.DEADLINE_SECONDS
    assert container["securityContext"] == runner["spec"]["containers"][0]["securityContext"]
    for same in ("securityContext", "hostNetwork", "dnsPolicy", "serviceAccountName",
                 "nodeSelector", "restartPolicy"):
        assert spec[same] == runner["spec"][same], same
    assert "runtimeClassName" not in spec and "nvidia.com/gpu" not in str(spec.get("tolerations"))
    assert podstate.view({**manifest, "status": {}}).cleanup


def test_cleanup_pod_names_stay_valid_for_long_job_names() -> None:
    name = cleanuppod.name("j" * 253)
    assert len(name) == 253 and name.endswith("-cleanup")
    assert cleanuppod.name("j" * 253) != cleanuppod.name("j" * 252 + "k")


def _deleted_job_api() -> fakes.FakeApi:
    api = fakes.FakeApi()
    body = fakes.job_body()
    body["metadata"]["deletionTimestamp"] = h.stamp(h.NOW)
    body["status"] = copy.deepcopy(OPEN)
    api.add_job(body)
    killed = h.pod(attempt=2, phase="Failed", exit_code=137, term_reason="OOMKilled")
    api.set_pod("trailer-2", killed)
    return api


def test_turns_create_one_cleanup_pod_and_a_restart_makes_no_second() -> None:
    api = _deleted_job_api()
    d = fakes.deps_for(api)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))
    assert [w for w in api.writes if w[0] == "create_pod"] == [("create_pod", "trailer-cleanup")]
    asyncio.run(reconciler.turn(d, KEY))  # still Pending: waited for
    restarted = fakes.deps_for(api)  # a new process: empty memory, a fresh informer
    asyncio.run(reconciler.turn(restarted, KEY))
    assert [w for w in api.writes if w[0] == "create_pod"] == [("create_pod", "trailer-cleanup")]
    assert api.jobs[KEY]["metadata"].get("finalizers")  # held while it runs
    api.pods[(h.JOB.namespace, "trailer-cleanup")]["status"] = {"phase": "Succeeded"}
    api.jobs[KEY]["status"]["runner"]["openUploads"] = []  # what the cleanup Pod wrote
    fakes.watch(restarted, api)
    asyncio.run(reconciler.turn(restarted, KEY))
    assert api.jobs[KEY]["metadata"].get("finalizers") is None
    poster = restarted.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [(e.reason, e.type) for _, e in poster.posted] == [("UploadsAborted", "Normal")]


def test_a_create_that_meets_a_foreign_pod_of_that_name_releases_with_a_warning() -> None:
    api = _deleted_job_api()
    foreign = h.pod(attempt=7, owner_uid="someone-else")
    foreign["metadata"]["name"] = "trailer-cleanup"
    foreign["metadata"]["labels"] = {"app": "not-ours"}
    api.set_pod("trailer-cleanup", foreign)
    d = fakes.deps_for(api)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))
    asyncio.run(reconciler.turn(d, KEY))
    assert api.jobs[KEY]["metadata"].get("finalizers") is None
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    (event,) = [e for _, e in poster.posted]
    assert event.reason == "UploadsNotAborted" and "belongs to another object" in event.message


def test_a_release_retried_after_a_conflict_posts_uploads_aborted_once() -> None:
    api = _deleted_job_api()
    d = fakes.deps_for(api)
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))  # the cleanup Pod is created
    cleanup = api.pods[(h.JOB.namespace, "trailer-cleanup")]
    cleanup["status"] = {"phase": "Succeeded"}
    api.set_pod("trailer-cleanup", cleanup)
    fakes.watch(d, api)
    api.jobs[KEY]["metadata"]["resourceVersion"] = "changed"  # a write the watch missed
    with pytest.raises(errors.Wait):  # the finalizer PATCH meets a 409: tried again
        asyncio.run(reconciler.turn(d, KEY))
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))
    assert api.jobs[KEY]["metadata"].get("finalizers") is None
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [e.reason for _, e in poster.posted] == ["UploadsAborted"]
