"""Pure decisions: GPU or CPU, how a Pod ended, backoff, timeouts."""

from __future__ import annotations

import pytest

from tests.unit.operator import helpers as h
from transcode_operator.control import informer
from transcode_operator.domain import decisions, podstate
from transcode_operator.domain import settings as settings_module

K = decisions.EndKind


@pytest.mark.parametrize(("video", "mode", "gpu"), [
    ({"codec": "h264"}, "auto", True),
    ({"codec": "hevc"}, "auto", True),
    ({"codec": "av1"}, "auto", True),
    ({"codec": "vp9"}, "auto", False),  # no NVENC encoder for VP9
    ({"encoder": "libx264"}, "auto", False),  # explicit CPU encoder
    ({"encoder": "h264_nvenc"}, "auto", True),
    ({"codec": "h264", "preset": "cpu"}, "auto", False),  # the seed's CPU preset
    ({"codec": "h264", "twoPass": True, "bitrate": 1_000_000}, "auto", False),
    ({"codec": "h264"}, "cpu", False),
    ({"codec": "h264"}, "gpu", True),
])
def test_wants_gpu(video: dict, mode: str, gpu: bool) -> None:  # type: ignore[type-arg]
    s = h.spec(outputs=[{"name": "o", "destination": "s3://media-out/o.mp4", "video": video}],
               acceleration={"mode": mode})
    assert decisions.wants_gpu(s, h.CFG) is gpu


def test_auto_wants_gpu_when_any_output_can_use_it() -> None:
    s = h.spec(outputs=[
        {"name": "a", "destination": "s3://media-out/a.mp4", "video": {"encoder": "libx265"}},
        {"name": "b", "destination": "s3://media-out/b.mp4", "video": {"codec": "h264"}}])
    assert decisions.wants_gpu(s, h.CFG)


def test_enable_gpu_false_never_asks() -> None:
    cfg = settings_module.Settings(enable_gpu=False)
    assert not decisions.wants_gpu(h.spec(acceleration={"mode": "gpu"}), cfg)


def test_classify_success_reads_the_runner_result() -> None:
    end = decisions.classify_end(h.view(phase="Succeeded", exit_code=0, message=h.result(
        0, message="done", outputs=[{"name": "720p", "bytes": 5}])))
    assert end.kind is K.SUCCEEDED and end.result is not None
    assert end.result.outputs[0].size_bytes == 5


def test_classify_bad_input_fails_now_with_the_runners_reason() -> None:
    end = decisions.classify_end(h.view(phase="Failed", exit_code=65, message=h.result(
        65, reason="SourceNotFound", message="no such key")))
    assert (end.kind, end.reason, end.message) == (K.BAD_INPUT, "SourceNotFound", "no such key")


@pytest.mark.parametrize(("code", "reason"), [
    (75, "TransientFailure"), (70, "RunnerError"), (1, "RunnerFailed"), (137, "RunnerFailed")])
def test_classify_other_codes_are_transient(code: int, reason: str) -> None:
    end = decisions.classify_end(h.view(phase="Failed", exit_code=code, message="boom"))
    assert (end.kind, end.reason) == (K.TRANSIENT, reason)
    assert f"exit {code}" in end.message and "boom" in end.message


def test_oom_killed_is_transient_and_named() -> None:
    end = decisions.classify_end(h.view(phase="Failed", exit_code=137, term_reason="OOMKilled"))
    assert (end.kind, end.reason) == (K.TRANSIENT, "OOMKilled")


@pytest.mark.parametrize("kwargs", [
    {"reason": "Evicted"},
    {"disruption": "EvictionByEvictionAPI"},
    {"disruption": "PreemptionByScheduler"},
    {"disruption": "DeletionByTaintManager"},
    {"reason": "NodeShutdown"},
])
def test_disruptions_are_retried_without_counting(kwargs: dict) -> None:  # type: ignore[type-arg]
    p = h.view(phase="Failed", exit_code=137, **kwargs)
    assert decisions.classify_end(p).kind is K.DISRUPTED
    assert decisions.counted_failures([p]) == 0


def test_counted_failures_skip_success_deleted_and_disrupted() -> None:
    pods = [h.view(attempt=1, phase="Failed", exit_code=75),
            h.view(attempt=2, phase="Failed", exit_code=137, reason="Evicted"),
            h.view(attempt=3, phase="Failed", exit_code=143, deleting=True),
            h.view(attempt=4, phase="Failed", exit_code=70),
            h.view(attempt=5, phase="Running")]
    assert decisions.counted_failures(pods) == 2


def test_backoff_doubles_from_ten_seconds_capped_at_six_minutes() -> None:
    assert [decisions.backoff_delay(n, h.CFG) for n in range(1, 9)] == [
        10, 20, 40, 80, 160, 320, 360, 360]
    assert decisions.backoff_delay(1000, h.CFG) == 360


def test_gpu_pending_timeout_counts_from_pod_creation() -> None:
    s = h.spec(acceleration={"gpuPendingTimeout": "2m"})
    p = h.view(gpu=True, unschedulable="0/2 nodes: Insufficient nvidia.com/gpu", created=h.ago(90))
    assert decisions.gpu_pending_due(p, s, h.NOW) == 30
    late = h.view(gpu=True, unschedulable="x", created=h.ago(121))
    assert decisions.gpu_pending_due(late, s, h.NOW) == -1
    assert decisions.gpu_pending_due(h.view(gpu=False, unschedulable="x"), s, h.NOW) is None
    assert decisions.gpu_pending_due(h.view(gpu=True), s, h.NOW) is None


def test_deadline_and_ttl() -> None:
    s = h.spec(activeDeadlineSeconds=100, ttlSecondsAfterFinished=50)
    assert decisions.deadline_due(s, h.ago(40), h.NOW) == 60
    assert decisions.deadline_due(s, None, h.NOW) is None
    assert decisions.deadline_due(h.spec(), h.ago(40), h.NOW) is None
    assert decisions.ttl_due(s, h.ago(60), h.NOW) == -10
    assert decisions.ttl_due(h.spec(), h.ago(60), h.NOW) is None


def test_config_error_grace() -> None:
    p = h.view(waiting=("CreateContainerConfigError", 'secret "x" not found'), created=h.ago(20))
    assert p.config_error == 'secret "x" not found'
    assert decisions.config_error_due(p, h.CFG, h.NOW) == -5


def test_podstate_reads_pod_fields() -> None:
    v = h.view(attempt=3, gpu=True, unschedulable="Insufficient nvidia.com/gpu",
               fallback=None, rv="42")
    assert (v.name, v.attempt, v.gpu, v.job_name, v.owner_uid) == (
        "trailer-3", 3, True, "trailer", "uid-1234")
    assert v.unschedulable_message == "Insufficient nvidia.com/gpu" and not v.scheduled
    assert v.active and not v.ended
    t = h.view(phase="Failed", exit_code=75, message="m", finished=h.ago(5))
    assert t.terminated is not None and t.terminated.exit_code == 75
    assert t.terminated.finished_at == h.ago(5) and t.ended and not t.active
    assert informer.newer("11", "9") and not informer.newer("9", "11") and informer.newer("b", "a")
    assert podstate.view({"metadata": {"name": "x"}}).job_name == ""  # never raises
