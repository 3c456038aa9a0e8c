"""Status models: the runner's termination message and the conditions map."""

from __future__ import annotations

import datetime
import json

import pytest

from transcode_api import constants, contract, errors, status

NOW = datetime.datetime(2025, 1, 17, 12, 0, tzinfo=datetime.UTC)


def _result(message: str = "done", outputs: int = 2, url_len: int = 40) -> status.RunnerResult:
    return status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED,
        exit_code=contract.ExitCode.SUCCESS,
        reason="TranscodeSucceeded",
        message=message,
        outputs=[
            status.OutputResult(
                name=f"o{i}", url="s3://media-out/" + "k" * url_len, size_bytes=1234,
                checksum="ab" * 32, checksum_algorithm="sha256", duration_seconds=12.5,
                width=1280, height=720, bitrate=3000000, codec="h264", encoder="libx264",
            )
            for i in range(outputs)
        ],
        metadata=status.JobMetadata(
            gpu_enabled=False, gpu_fallback=True, gpu_codec="h264_nvenc", cpu_codec="libx264",
            encoder_tried=["h264_nvenc", "libx264"], encoder_used="libx264",
            fallback_reason=constants.FallbackReason.NVENC_INIT_FAILED,
            fallback_message="OpenEncodeSessionEx failed: no capable devices found",
            processing_time_seconds=45.2, processing_speed=2.65,
        ),
    )


def test_small_result_round_trips_unchanged() -> None:
    result = _result()
    text = result.to_termination_message()
    assert status.RunnerResult.from_termination_message(text) == result
    data = json.loads(text)
    assert data["exitCode"] == 0 and data["outputs"][0]["bytes"] == 1234
    assert data["metadata"]["fallbackReason"] == "NVENCInitFailed"
    assert "truncated" not in data


@pytest.mark.parametrize(
    ("message", "outputs", "url_len"),
    [("x" * 10_000, 2, 40), ("é" * 5000, 2, 40), ("m", 16, 1000), ("y" * 50_000, 16, 1000)],
)
def test_termination_message_fits_4096_bytes(message: str, outputs: int, url_len: int) -> None:
    text = _result(message, outputs, url_len).to_termination_message()
    assert len(text.encode()) <= 4096
    back = status.RunnerResult.from_termination_message(text)
    assert back.truncated is True
    assert back.outcome == "Succeeded" and back.exit_code == 0 and back.reason == "TranscodeSucceeded"


def test_message_is_cut_before_outputs_are() -> None:
    back = status.RunnerResult.from_termination_message(
        _result("x" * 10_000).to_termination_message())
    assert len(back.outputs) == 2 and back.outputs[0].checksum == "ab" * 32
    assert back.message is not None and back.message.endswith("...") and len(back.message) <= 1024


def test_bad_termination_message_raises_status_error() -> None:
    with pytest.raises(errors.StatusError, match="exitCode"):
        status.RunnerResult.from_termination_message('{"outcome": "Succeeded"}')


def test_runner_status_shape() -> None:
    runner = status.RunnerStatus(
        attempt=1, pod_name="job-1", phase=constants.RunnerPhase.RUNNING,
        progress=status.Progress(percent=40, fps=120.5, speed=2.1), updated_at=NOW,
    )
    assert runner.to_dict() == {
        "attempt": 1, "podName": "job-1", "phase": "Running",
        "progress": {"percent": 40, "fps": 120.5, "speed": 2.1},
        "updatedAt": "2025-01-17T12:00:00Z",
    }


def test_naive_timestamps_are_read_as_utc() -> None:
    cond = status.Condition(type="Succeeded", status="True",
                            last_transition_time=datetime.datetime(2025, 1, 1))
    assert cond.to_dict()["lastTransitionTime"] == "2025-01-01T00:00:00Z"


def test_set_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    first = status.set_condition(
        [], status.Condition(type="Reconciling", status="True", reason="Starting"), NOW)
    later = NOW + datetime.timedelta(minutes=5)
    same = status.set_condition(
        first, status.Condition(type="Reconciling", status="True", reason="Encoding"), later)
    assert same[0].last_transition_time == NOW and same[0].reason == "Encoding"
    flipped = status.set_condition(
        same, status.Condition(type="Reconciling", status="False", reason="Done"), later)
    assert flipped[0].last_transition_time == later
    both = status.set_condition(flipped, status.Condition(type="Succeeded", status="True"), later)
    assert [c.type for c in both] == ["Reconciling", "Succeeded"]


def test_parse_status_reads_a_stored_status_and_ignores_unknown_fields() -> None:
    st = status.parse_status({
        "observedGeneration": 2, "phase": "Succeeded", "attempts": 1, "kopf": {"x": 1},
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "TranscodeSucceeded",
                        "lastTransitionTime": "2025-01-17T12:00:00Z"}],
        "metadata": {"gpuFallback": True, "fallbackReason": "GPUUnschedulable"},
        "runner": {"attempt": 1, "phase": "Succeeded",
                   "result": json.loads(_result().to_termination_message())},
    })
    cond = st.condition(constants.ConditionType.SUCCEEDED)
    assert cond is not None and cond.status == "True"
    assert st.metadata is not None and st.metadata.fallback_reason == "GPUUnschedulable"
    # an older runner's `runner.result` is not part of the API any more: ignored, not kept
    assert st.runner is not None and "result" not in st.runner.to_dict()
    with pytest.raises(errors.StatusError, match=r"status\.phase"):
        status.parse_status({"phase": "Exploded"})
