"""kopf wiring: settings chosen on purpose, the lean diff-base, and the wake filters."""

from __future__ import annotations

import asyncio

import kopf
from kopf._cogs.structs import references

from tests.unit.operator import helpers as h
from transcode_operator import context, handlers, podstate


def test_kopf_settings_use_our_names_and_bounded_timeouts() -> None:
    s = kopf.OperatorSettings()
    handlers.configure(s, h.CFG)
    assert s.persistence.finalizer == "kubetranscoder.io/finalizer"
    assert isinstance(s.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert s.persistence.progress_storage.prefix == "kubetranscoder.io"
    assert s.persistence.diffbase_storage.prefix == "kubetranscoder.io"  # type: ignore[attr-defined]
    assert s.posting.loggers is False and s.posting.level == 20
    assert s.networking.request_timeout == 30 and s.watching.server_timeout == 300
    assert s.watching.client_timeout == 330 and s.watching.inactivity_timeout == 600
    pods = references.Resource("", "v1", "pods", kind="Pod", namespaced=True)
    jobs = references.Resource("kubetranscoder.io", "v1alpha1", "transcodejobs",
                               kind="TranscodeJob", namespaced=True)
    assert list(s.watching.label_selectors.collect(pods)) == ["kubetranscoder.io/job-uid"]
    assert list(s.watching.label_selectors.collect(jobs)) == []


def test_lean_diffbase_equals_kopfs_for_jobs_and_is_empty_for_pods() -> None:
    lean = handlers.LeanDiffBaseStorage(prefix="kubetranscoder.io",
                                        key="last-handled-configuration")
    full = kopf.AnnotationsDiffBaseStorage(prefix="kubetranscoder.io",
                                           key="last-handled-configuration")
    job = kopf.Body({"apiVersion": "kubetranscoder.io/v1alpha1", "kind": "TranscodeJob",
                     "metadata": {"name": "j", "labels": {"a": "b"}, "resourceVersion": "1",
                                  "annotations": {"note": "x",
                                                  "kubetranscoder.io/stop-runner-pods": "{}"},
                                  "managedFields": [{"manager": "kubectl"}]},
                     "spec": {"source": "s3://a/b", "suspend": True},
                     "status": {"phase": "Running"}})
    assert lean.build(body=job) == full.build(body=job)
    pod = kopf.Body(h.pod())  # type: ignore[arg-type]
    assert lean.build(body=pod) == {}


def test_echo_of_our_own_write_wakes_nobody() -> None:
    async def scenario() -> None:
        w = context.Wakers()
        event = w.register(("ns", "j"))
        w.wrote(("ns", "j"), "42")
        assert not w.wake(("ns", "j"), "42") and not event.is_set()
        assert w.wake(("ns", "j"), "43") and event.is_set()
        assert not w.wake(("ns", "other"))
    asyncio.run(scenario())


def test_pod_events_wake_only_on_decision_relevant_changes() -> None:
    async def scenario() -> None:
        w = context.Wakers()
        event = w.register(("media", "trailer"))
        pending = podstate.view(h.pod(phase="Pending", scheduled=True))
        w.seen(pending.uid, pending.signature)  # the loop created it
        assert not w.pod_changed(("media", "trailer"), pending.uid, pending.signature)
        again = podstate.view(h.pod(phase="Pending", scheduled=True, rv="99"))
        assert not w.pod_changed(("media", "trailer"), again.uid, again.signature)
        running = podstate.view(h.pod(phase="Running"))
        assert w.pod_changed(("media", "trailer"), running.uid, running.signature)
        assert event.is_set()
        event.clear()
        assert w.pod_gone(("media", "trailer"), running.uid) and event.is_set()
    asyncio.run(scenario())
