"""status.runner patches are throttled by the clock; the final result always goes out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.runner import fakes
from transcode_api import constants, status
from transcode_runner.domain import progress
from transcode_runner.io import report, settings


def snap(percent: float) -> progress.Progress:
    return progress.Progress(percent=percent, media_seconds=percent / 10, fps=50.0, speed=2.0)


def reporter(clock: fakes.FakeClock, sink: fakes.FakeSink, **kw: object) -> report.Reporter:
    return report.Reporter(clock, attempt=2, pod_name="job-2", sink=sink, namespace="media",
                           name="trailer", interval=5.0, **kw)  # type: ignore[arg-type]


def test_progress_patches_at_most_every_five_seconds(clock: fakes.FakeClock) -> None:
    sink = fakes.FakeSink()
    rep = reporter(clock, sink)
    for second in range(12):
        rep.progress(snap(second * 5))
        clock.advance(1.0)
    assert len(sink.patches) == 3  # t=0, 5, 10
    first = sink.patches[0]["status"]["runner"]
    assert first["attempt"] == 2 and first["podName"] == "job-2" and first["phase"] == "Running"
    assert first["progress"] == {"percent": 0, "fps": 50.0, "speed": 2.0}
    assert [p["status"]["runner"]["progress"]["percent"] for p in sink.patches] == [0, 25, 50]


def test_final_result_is_never_throttled_and_says_100(clock: fakes.FakeClock,
                                                      tmp_path: Path) -> None:
    sink = fakes.FakeSink()
    rep = reporter(clock, sink, termination_path=tmp_path / "termination-log")
    rep.progress(snap(40))
    result = status.RunnerResult(outcome=constants.Outcome.SUCCEEDED, exit_code=0)
    rep.final(result)
    runner = sink.patches[-1]["status"]["runner"]
    assert runner["phase"] == "Succeeded" and runner["progress"]["percent"] == 100
    assert "result" not in runner  # one channel for the result: the termination message
    written = (tmp_path / "termination-log").read_text()
    assert status.RunnerResult.from_termination_message(written) == result


def test_termination_message_fits_in_4_kib(clock: fakes.FakeClock, tmp_path: Path) -> None:
    rep = reporter(clock, fakes.FakeSink(), termination_path=tmp_path / "t")
    result = status.RunnerResult(outcome=constants.Outcome.FAILED, exit_code=65,
                                 reason="SourceUnreadable", message="x" * 10_000)
    rep.final(result)
    assert len((tmp_path / "t").read_bytes()) <= constants.TERMINATION_MESSAGE_MAX_BYTES


def test_a_failing_api_server_does_not_stop_the_runner(clock: fakes.FakeClock) -> None:
    rep = reporter(clock, fakes.FakeSink(fail=True))
    rep.progress(snap(10))
    rep.final(status.RunnerResult(outcome=constants.Outcome.FAILED, exit_code=75))


def test_phase_change_waits_for_the_interval(clock: fakes.FakeClock) -> None:
    sink = fakes.FakeSink()
    rep = reporter(clock, sink)
    rep.progress(snap(100))
    rep.phase(constants.RunnerPhase.UPLOADING)
    assert len(sink.patches) == 1
    clock.advance(5)
    rep.flush()
    assert sink.patches[-1]["status"]["runner"]["phase"] == "Uploading"


POD_UID = "5f0c7a6e-3b1d-4c2a-9e8f-0123456789ab"
KEY = f"kt:progress:media:trailer:{POD_UID}"


def test_redis_progress_key_names_the_pod_uid_with_ttl_and_publish(clock: fakes.FakeClock) -> None:
    redis = fakes.FakeRedis()
    rep = report.Reporter(clock, namespace="media", name="trailer", pod_uid=POD_UID, redis=redis,
                          redis_interval=1.0, redis_ttl=3600)
    rep.progress(snap(10))
    rep.progress(snap(11))  # same second: not written
    clock.advance(1)
    rep.progress(snap(12))
    assert list(redis.values) == [KEY]
    value, ttl = redis.values[KEY]
    document = json.loads(value)
    assert ttl == 3600
    assert (document["percent"], document["fps"], document["speed"]) == (12, 50.0, 2.0)
    assert document["updatedAt"].endswith("Z")
    assert redis.published == [("kt:progress", KEY)] * 2


def test_without_its_pod_uid_the_runner_writes_no_redis_progress(clock: fakes.FakeClock) -> None:
    redis = fakes.FakeRedis()
    rep = report.Reporter(clock, namespace="media", name="trailer", redis=redis)
    rep.progress(snap(10))
    rep.final(status.RunnerResult(outcome=constants.Outcome.SUCCEEDED, exit_code=0))
    assert redis.values == {} and redis.published == []


def test_settings_read_the_pod_uid_and_the_redis_login_from_the_pod_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSCODER_POD_UID", POD_UID)
    monkeypatch.setenv("TRANSCODER_REDIS_USERNAME", "runner")
    monkeypatch.setenv("TRANSCODER_REDIS_PASSWORD", "s3cret-runner")
    cfg = settings.Settings()
    assert cfg.pod_uid == POD_UID and cfg.redis_username == "runner"
    assert cfg.redis_password is not None
    assert cfg.redis_password.get_secret_value() == "s3cret-runner"
    assert "s3cret-runner" not in repr(cfg) and "s3cret-runner" not in str(cfg.model_dump())


def test_without_any_sink_reporting_is_a_no_op(clock: fakes.FakeClock) -> None:
    rep = report.Reporter(clock)
    rep.progress(snap(1))
    rep.final(status.RunnerResult(outcome=constants.Outcome.SUCCEEDED, exit_code=0))


class FakeCustomObjects:
    """The two CustomObjectsApi calls KubeStatusSink makes."""

    def __init__(self, uid: str, fail_json_patch: bool) -> None:
        self.uid, self.fail_json_patch = uid, fail_json_patch
        self.calls: list[tuple[str, object]] = []

    def patch_namespaced_custom_object_status(self, group: str, version: str, namespace: str,
                                              plural: str, name: str, body: object,
                                              **kw: object) -> None:
        assert (group, version, plural) == ("kubetranscoder.io", "v1alpha1", "transcodejobs")
        self.calls.append((str(kw["_content_type"]), body))
        if kw["_content_type"] == "application/json-patch+json" and self.fail_json_patch:
            error = Exception("Unprocessable Entity")
            error.status = 422  # type: ignore[attr-defined]
            raise error

    def get_namespaced_custom_object(self, *args: object) -> dict[str, object]:
        return {"metadata": {"uid": self.uid}}


def sink_with(api: FakeCustomObjects, uid: str | None) -> report.KubeStatusSink:
    sink = report.KubeStatusSink.__new__(report.KubeStatusSink)  # no kubeconfig in unit tests
    sink._api = api
    sink.namespace, sink.name, sink.uid = "media", "trailer", uid
    return sink


BODY = {"status": {"runner": {"attempt": 1, "phase": "Running"}}}


def test_status_patch_tests_the_uid_first() -> None:
    api = FakeCustomObjects("uid-1", fail_json_patch=False)
    sink_with(api, "uid-1").patch(BODY)
    ((content_type, ops),) = api.calls
    assert content_type == "application/json-patch+json"
    assert ops == [{"op": "test", "path": "/metadata/uid", "value": "uid-1"},
                   {"op": "add", "path": "/status/runner", "value": BODY["status"]["runner"]}]


def test_without_a_status_yet_the_runner_merges_after_checking_the_uid() -> None:
    api = FakeCustomObjects("uid-1", fail_json_patch=True)
    sink_with(api, "uid-1").patch(BODY)
    assert [c for c, _ in api.calls] == ["application/json-patch+json",
                                         "application/merge-patch+json"]
    assert api.calls[-1][1] == BODY


def test_a_recreated_job_gets_no_stale_report() -> None:
    api = FakeCustomObjects("uid-2", fail_json_patch=True)
    with pytest.raises(RuntimeError, match="recreated"):
        sink_with(api, "uid-1").patch(BODY)
    assert len(api.calls) == 1
