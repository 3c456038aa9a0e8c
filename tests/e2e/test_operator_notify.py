"""Job notifications end to end: signed CloudEvents reach a real receiver, once per event, whatever happens.

The real operator on the local control plane, the fake runner, and a CloudEvents
receiver on 127.0.0.1 (`dev.cloudevents_sink`), with short retry timings. Every
job produces exactly one `Started` and one terminal event after de-duplication by
id, even when the operator is SIGKILLed mid-job; every signature verifies with the
Secret's key; a receiver that refuses connections for a while gets everything
once it listens again; a receiver answering 410 is not asked again and the status
says so; a sink outside the allowlist is refused by name while the job still
succeeds. (Bad notify URLs refused at admission are cases of
tests/unit/api/cases.py, which tests/e2e/test_api_admission.py applies.)
"""

from __future__ import annotations

import base64
import json
from typing import Any

from dev import cloudevents_sink
from dev import operators as opf
from dev.cluster.fixtures import Kube, wait_for
from dev.services import procs
from transcode_operator.domain import cloudevents

KEY = b"e2e-signing-key-0123456789abcdef"
STARTED, SUCCEEDED, FAILED = (f"io.kubetranscoder.job.{t}" for t in ("started", "succeeded",
                                                                      "failed"))
FAST = {"notifications__sinks": ["127.0.0.1"], "notifications__network_allow": ["127.0.0.1"],
        "notifications__retry_base_seconds": 0.5, "notifications__retry_cap_seconds": 2,
        "notifications__timeout_seconds": 5}


def _secret(kube: Kube, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "hook-key", "labels": opf.CREDENTIALS_LABELS},
            "data": {"signingKey": base64.b64encode(KEY).decode()}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(body))


def _job(name: str, url: str) -> dict[str, Any]:
    return opf.job_manifest(name, acceleration={"mode": "cpu"},
                            notify={"url": url, "secretRef": {"name": "hook-key"}})


def _entries(kube: Kube, ns: str, name: str) -> dict[str, dict[str, Any]]:
    status = (opf.get_job(kube, ns, name) or {}).get("status") or {}
    return {n["type"]: n for n in status.get("notifications", [])}


def _settled(kube: Kube, ns: str, name: str, types: set[str], state: str
             ) -> dict[str, dict[str, Any]]:
    def check() -> dict[str, dict[str, Any]] | None:
        entries = _entries(kube, ns, name)
        done = set(entries) == types and all(e["state"] == state for e in entries.values())
        return entries if done else None
    return wait_for(check, 90, f"{ns}/{name}: notifications {sorted(types)} {state}")  # type: ignore[no-any-return]


def _assert_once_each_and_signed(sink: cloudevents_sink.Sink, terminal: str) -> None:
    assert len(sink.unique(STARTED)) == 1, sink.received
    assert len(sink.unique(terminal)) == 1, sink.received
    assert {r.type for r in sink.received} == {STARTED, terminal}
    for r in sink.received:
        assert r.headers["ce-specversion"] == "1.0" and r.headers["content-type"] == "application/json"
        assert cloudevents.verify(KEY, r.id, r.body, r.headers["x-kubetranscoder-signature"]), r


def test_one_started_and_one_succeeded_even_when_the_operator_is_killed(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("notify")
    _secret(kube, ns)
    sink = cloudevents_sink.Sink().start()
    try:
        op = operator(ns, runner__command=opf.fake_runner(),
                      runner__extra_env={"KT_FAKE_SLEEP": "6"}, **FAST)
        opf.apply_job(kube, ns, _job("killed", sink.url))
        wait_for(lambda: sink.of_type(STARTED), 60, "the Started event")
        op.kill()  # mid-job: the runner Pod still works
        op.start()
        job = opf.wait_phase(kube, ns, "killed", "Succeeded", "Failed")
        assert job["status"]["phase"] == "Succeeded", job["status"]
        entries = _settled(kube, ns, "killed", {"Started", "Succeeded"}, "Delivered")
        _assert_once_each_and_signed(sink, SUCCEEDED)
        done = next(iter(sink.unique(SUCCEEDED).values()))
        assert done.headers["ce-subject"] == "killed" and done.id == entries["Succeeded"]["id"]
        data = done.data()
        assert data["job"]["uid"] == job["metadata"]["uid"]
        assert [o["url"] for o in data["outputs"]] == ["s3://media-out/killed/0.mp4"]
        assert data["metadata"]["encoderUsed"] == "libx264"
    finally:
        sink.stop()


def test_a_receiver_that_was_down_gets_everything_once_it_is_back(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("notify")
    _secret(kube, ns)
    sink = cloudevents_sink.Sink(port=procs.free_port())  # not listening yet: refused
    operator(ns, runner__command=opf.fake_runner(), **FAST)
    opf.apply_job(kube, ns, _job("down", sink.url))
    try:
        opf.wait_phase(kube, ns, "down", "Succeeded")
        def retried() -> bool:
            started = _entries(kube, ns, "down").get("Started") or {}
            return started.get("state") == "Pending" and started.get("attempts", 0) >= 3
        wait_for(retried, 60, "Started to be retried while the receiver is down")
        started = _entries(kube, ns, "down")["Started"]
        assert "Connection refused" in started["lastError"], started
        assert "not-for-logs" not in json.dumps(_entries(kube, ns, "down"))
        sink.start()
        _settled(kube, ns, "down", {"Started", "Succeeded"}, "Delivered")
        _assert_once_each_and_signed(sink, SUCCEEDED)
    finally:
        sink.stop()


def test_a_sink_answering_4xx_is_not_retried_and_the_status_says_so(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("notify")
    _secret(kube, ns)
    sink = cloudevents_sink.Sink(answer=410).start()
    try:
        operator(ns, runner__command=opf.fake_runner(),
                 runner__extra_env={"KT_FAKE_EXIT_CODES": "65"}, **FAST)
        opf.apply_job(kube, ns, _job("gone", sink.url))
        job = opf.wait_phase(kube, ns, "gone", "Failed")
        entries = _settled(kube, ns, "gone", {"Started", "Failed"}, "Failed")
        for entry in entries.values():
            assert entry["attempts"] == 1, entry
            assert "answered HTTP 410" in entry["lastError"] and "not retried" in entry["lastError"]
        _assert_once_each_and_signed(sink, FAILED)
        data = next(iter(sink.unique(FAILED).values())).data()
        assert (data["reason"], data["phase"]) == (job["status"]["reason"], "Failed")
        opf.wait_event(kube, ns, "gone", "NotificationFailed")
    finally:
        sink.stop()


def test_a_sink_off_the_allowlist_is_named_and_the_job_still_runs(
        kube: Kube, operator: Any) -> None:
    ns = kube.namespace("notify")
    _secret(kube, ns)
    operator(ns, runner__command=opf.fake_runner(), **FAST)
    opf.apply_job(kube, ns, _job("offlist", "https://hooks.elsewhere.test/x?key=hidden"))
    assert opf.wait_phase(kube, ns, "offlist", "Succeeded", "Failed")["status"]["phase"] == \
        "Succeeded"
    entries = _settled(kube, ns, "offlist", {"Started", "Succeeded"}, "Failed")
    for entry in entries.values():
        assert "host hooks.elsewhere.test is not on the operator's notifications.sinks" \
            in entry["lastError"] and entry["attempts"] == 0
    assert all("hidden" not in m for _, m in opf.events_of(kube, ns, "offlist"))
