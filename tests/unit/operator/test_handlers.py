"""kopf wiring and the informer: settings chosen on purpose, and which events enqueue."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import kopf
from kopf._cogs.structs import references

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.app import handlers
from transcode_operator.control import informer
from transcode_operator.domain import scope


def test_kopf_settings_use_our_names_and_bounded_timeouts() -> None:
    s = kopf.OperatorSettings()
    handlers.configure(s, h.CFG)
    # kopf strips the finalizer it names from objects without deletion handlers
    assert s.persistence.finalizer != "kubetranscoder.io/finalizer"
    assert s.posting.loggers is False and s.posting.level == 20
    assert s.networking.request_timeout == 30 and s.watching.server_timeout == 300
    assert s.watching.client_timeout == 330 and s.watching.inactivity_timeout == 600
    pods = references.Resource("", "v1", "pods", kind="Pod", namespaced=True)
    jobs = references.Resource("kubetranscoder.io", "v1alpha1", "transcodejobs",
                               kind="TranscodeJob", namespaced=True)
    assert list(s.watching.label_selectors.collect(pods)) == ["kubetranscoder.io/job-uid"]
    assert list(s.watching.label_selectors.collect(jobs)) == []
    batch = references.Resource("batch", "v1", "jobs", kind="Job", namespaced=True)
    assert list(s.watching.label_selectors.collect(batch)) == ["kubetranscoder.io/job-uid"]


def test_no_kopf_handler_spawns_or_detects_changes() -> None:
    """Only event handlers: kopf keeps no task per job and writes nothing to jobs."""
    reg = handlers.REGISTRY
    assert not reg._spawning.get_all_handlers() and not reg._changing.get_all_handlers()
    assert {h.id for h in reg._watching.get_all_handlers()} == {"job_event", "pod_event",
                                                               "batch_job_event"}


def test_the_echo_of_our_own_write_enqueues_nothing() -> None:
    inf = informer.Informer()
    body = fakes.job_body()
    body["metadata"].update(resourceVersion="41", managedFields=[{"manager": "kubectl"}],
                            annotations={"kubectl.kubernetes.io/last-applied": "x" * 1000})
    assert inf.saw_job(body) == ("media", "trailer")
    assert "managedFields" not in inf.job(("media", "trailer"))["metadata"]  # type: ignore[index]
    ours = {**body, "metadata": {**body["metadata"], "resourceVersion": "42"},
            "status": {"phase": "Scheduling"}}
    inf.wrote_job(ours)
    assert inf.saw_job(ours) is None  # the watch's echo of the write
    assert inf.saw_job(body) is None  # an older event never rolls the view back
    assert inf.job(("media", "trailer"))["status"] == {"phase": "Scheduling"}  # type: ignore[index]
    newer = {**ours, "metadata": {**ours["metadata"], "resourceVersion": "43"}}
    assert inf.saw_job(newer) == ("media", "trailer")


def test_pod_events_enqueue_only_on_decision_relevant_changes() -> None:
    inf = informer.Informer()
    assert inf.saw_pod(h.pod(phase="Pending", scheduled=True)) == ("media", "trailer")
    assert inf.saw_pod(h.pod(phase="Pending", scheduled=True, rv="99")) is None
    assert inf.saw_pod(h.pod(phase="Running", rv="100")) == ("media", "trailer")
    assert [p.phase for p in inf.pods_of(("media", "trailer"), h.JOB.uid)] == ["Running"]
    assert inf.pods_of(("media", "trailer"), "another-incarnation") == ()
    assert inf.pod_gone(h.pod(rv="101")) == ("media", "trailer")
    assert inf.pods_of(("media", "trailer"), h.JOB.uid) == ()


def _memo(patterns: list[str], keys: list[tuple[str, str]]) -> kopf.Memo:
    ctx = SimpleNamespace(scope=scope.Scope.of(patterns),
                          deps=SimpleNamespace(informer=informer.Informer()),
                          controller=SimpleNamespace(enqueue=keys.append),
                          events_context=None, start_workers=lambda: None)
    return kopf.Memo(ctx=ctx)


def _in(namespace: str, body: dict[str, Any]) -> kopf.Body:
    return kopf.Body({**body, "metadata": {**body["metadata"], "namespace": namespace}})


def test_events_of_namespaces_not_served_are_dropped() -> None:
    """kopf watches every namespace; only the served ones reach the informer and queue."""
    keys: list[tuple[str, str]] = []
    memo = _memo(["team-*, !team-tmp"], keys)

    async def events(memo: kopf.Memo, *namespaces: str) -> None:
        for ns in namespaces:
            await handlers.job_event(type="ADDED", body=_in(ns, fakes.job_body()), memo=memo)
            await handlers.pod_event(type="ADDED", body=_in(ns, h.pod(phase="Running")),
                                     memo=memo)
    asyncio.run(events(memo, "team-a", "other", "team-tmp"))
    assert keys == [("team-a", "trailer"), ("team-a", "trailer")]
    assert memo.ctx.deps.informer.job(("other", "trailer")) is None
    everything: list[tuple[str, str]] = []
    asyncio.run(events(_memo([], everything), "other"))
    assert everything == [("other", "trailer")] * 2  # no pattern: every namespace


CASES = ["team-*", "!kube-*", "myapp-*, !*-pr-*, *pr-123", "!*-pr-*, *pr-123", "exact",
         "a?c", " spaced , !spaced-x ", "*,!b*,bb"]
NAMES = ["team-a", "team", "kube-system", "default", "myapp-test", "myapp-pr-123", "myapp-pr-456",
         "otherapp-pr-123", "exact", "exactly", "abc", "ac", "spaced", "spaced-x", "b1", "bb", "x"]


def test_the_scope_matches_namespaces_as_kopf_did() -> None:
    """Configured patterns keep the meaning they had when kopf matched them itself."""
    for pattern in CASES:
        for name in NAMES:
            assert scope.matches(name, pattern) == references.match_namespace(
                references.NamespaceName(name), pattern), (pattern, name)
    both = scope.Scope.of(["team-*", "exact"])
    assert both.serves("team-a") and both.serves("exact") and not both.serves("default")
    assert both.describe() == "namespaces team-*; exact"  # the start-up log line's words
    assert scope.Scope.of(None).describe() == "all namespaces"
