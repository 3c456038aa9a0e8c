"""kopf wiring and the informer: settings chosen on purpose, and which events enqueue."""

from __future__ import annotations

import kopf
from kopf._cogs.structs import references

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.app import handlers
from transcode_operator.control import informer


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
