"""Spec fields nobody acts on: named in the UnknownFields condition and one Warning Event.

Finding them (fields the model ignores, affinity keys a core/v1 Affinity lacks,
spec keys in kubectl's last-applied configuration that the API server pruned),
then whole queue turns against the in-memory API: the job still runs, the
condition names the fields, and a second turn posts no second Event.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.unit.operator import fakes
from tests.unit.operator import helpers as h
from transcode_operator.control import informer, reconciler
from transcode_operator.domain import actions, observation, unknown_fields

KEY = (h.JOB.namespace, h.JOB.name)


def test_the_model_and_the_affinity_shape_name_what_they_ignore() -> None:
    raw = {**fakes.job_body()["spec"], "futureField": 1,
           "acceleration": {"mode": "cpu", "newKnob": True},
           "affinity": {"nodeAffinity": {"requiredDuringScheduling": {}}}}
    spec, err, ignored = observation.read_spec_fields(raw)
    assert spec is not None and err is None and spec.acceleration.mode == "cpu"
    assert sorted(ignored) == ["spec.acceleration.newKnob",
                               "spec.affinity.nodeAffinity.requiredDuringScheduling",
                               "spec.futureField"]
    assert raw["futureField"] == 1  # the informer's copy is left as it was
    assert observation.read_spec_fields(fakes.job_body()["spec"])[2] == ()


def test_a_hostile_field_name_is_shown_printable_and_short() -> None:
    _, _, ignored = observation.read_spec_fields({**fakes.job_body()["spec"],
                                                  "evil\nname" + "x" * 100: 1})
    assert ignored == ("spec.evil?name" + "x" * 52 + "...",)


def _applied(body: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    body["metadata"]["annotations"] = {unknown_fields.LAST_APPLIED: json.dumps({"spec": spec})}
    return body


def test_fields_kubectl_applied_but_the_api_server_pruned_are_named() -> None:
    body = fakes.job_body()
    applied = {**body["spec"], "outptus": [], "outputs": [{**body["spec"]["outputs"][0],
                                                           "vidoe": {"codec": "h264"}}],
               "backoffLimit": None}
    assert sorted(unknown_fields.pruned(_applied(body, applied))) == [
        "spec.outptus", "spec.outputs[0].vidoe"]
    assert unknown_fields.pruned(_applied(fakes.job_body(), fakes.job_body()["spec"])) == []
    garbage = fakes.job_body()
    garbage["metadata"]["annotations"] = {unknown_fields.LAST_APPLIED: "{not json"}
    assert unknown_fields.pruned(garbage) == [] and unknown_fields.pruned(fakes.job_body()) == []
    assert sorted(informer.slim(_applied(fakes.job_body(), applied))["pruned"]) == [
        "spec.outptus", "spec.outputs[0].vidoe"]
    assert "pruned" not in informer.slim(fakes.job_body())


def _turn(d: Any, api: fakes.FakeApi) -> None:
    fakes.watch(d, api)
    asyncio.run(reconciler.turn(d, KEY))


def test_the_job_runs_with_the_condition_and_one_warning_event() -> None:
    api = fakes.FakeApi()
    body = fakes.job_body(affinity={"podAntiAffinity": {"requiredDuringScheduling": []}})
    api.add_job(_applied(body, {**body["spec"], "outptus": []}))
    d = fakes.deps_for(api)
    _turn(d, api)
    assert list(api.pods) == [("media", "trailer-1")]
    conds = {c["type"]: c for c in api.jobs[KEY]["status"]["conditions"]}
    expected = ("the job runs without these spec fields, which the TranscodeJob schema does "
                "not know (check their spelling): spec.affinity.podAntiAffinity."
                "requiredDuringScheduling, spec.outptus")
    assert conds["UnknownFields"]["status"] == "True"
    assert conds["UnknownFields"]["reason"] == "FieldsIgnored"
    assert conds["UnknownFields"]["message"] == expected
    assert conds["Reconciling"]["status"] == "True"  # it runs
    poster = d.poster
    assert isinstance(poster, fakes.RecordingPoster)
    assert [(e.type, e.reason, e.message) for _, e in poster.posted
            if e.reason == "UnknownFields"] == [("Warning", "UnknownFields", expected)]
    api.set_pod("trailer-1", h.pod(attempt=1, phase="Running"))
    _turn(d, api)
    assert [e.reason for _, e in poster.posted].count("UnknownFields") == 1


def test_a_clean_job_has_no_such_condition() -> None:
    api = fakes.FakeApi()
    api.add_job(fakes.job_body())
    d = fakes.deps_for(api, h.WRITE_NOW)
    _turn(d, api)
    assert "UnknownFields" not in {c["type"] for c in api.jobs[KEY]["status"]["conditions"]}


def test_the_condition_turns_false_when_the_fields_are_gone() -> None:
    status = {"phase": "Running", "conditions": [{"type": "UnknownFields", "status": "True",
                                                  "reason": "FieldsIgnored", "message": "x"}]}
    obs = h.observed(status=status)
    plan = actions.Plan()
    unknown_fields.note(obs, plan)
    assert plan.status is not None and plan.events == []
    cond = next(c for c in plan.status.conditions if c.type == "UnknownFields")
    assert (cond.status, cond.reason) == ("False", "NoUnknownFields")
