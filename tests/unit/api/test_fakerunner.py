"""The fake runner's result document (dev/fakerunner.py) is a real runner's RunnerResult.

Operator e2e tests that need an outcome on cue use the fake; what the operator
reads from it must be what it would read from `transcode-runner run`: the
termination message parses as `RunnerResult`, the metadata has the real runner's
fallback provenance (`fallbackReason` CPURequested for a CPU-mode job: the label
value /metrics then shows), outputs have checksums, and a failure has the reason
the runner's errors carry for its exit code.
"""

from __future__ import annotations

from typing import Any

from dev import fakerunner
from transcode_api import spec, status


def _job(**acceleration: Any) -> spec.TranscodeJobSpec:
    return spec.parse_spec({
        "source": "s3://media-in/a.mov", "acceleration": acceleration or {"mode": "auto"},
        "outputs": [{"name": "720p", "destination": "s3://media-out/a/720p.mp4",
                     "video": {"codec": "h264", "resolution": "720p"}}]})


def _read(result: status.RunnerResult) -> dict[str, Any]:
    text = result.to_termination_message()
    return status.RunnerResult.from_termination_message(text).to_dict()


def test_cpu_mode_job_reports_cpu_requested_like_the_runner() -> None:
    doc = _read(fakerunner.result(_job(mode="cpu"), 1, gpu=False, code=0))
    assert doc["outcome"] == "Succeeded" and doc["exitCode"] == 0
    meta = doc["metadata"]
    assert (meta["fallbackReason"], meta["gpuFallback"], meta["encoderUsed"]) == (
        "CPURequested", False, "libx264")
    assert meta["fallbackMessage"] == "acceleration.mode is cpu"
    (out,) = doc["outputs"]
    assert (out["name"], out["url"], out["bytes"]) == ("720p", "s3://media-out/a/720p.mp4", 1001)
    assert out["checksumAlgorithm"] == "sha256" and len(out["checksum"]) == 64


def test_auto_job_on_a_cpu_pod_is_a_fallback_and_a_gpu_pod_encodes_on_the_gpu() -> None:
    meta = _read(fakerunner.result(_job(), 2, gpu=False, code=0))["metadata"]
    assert (meta["fallbackReason"], meta["gpuFallback"], meta["gpuEnabled"]) == (
        "NVMLUnavailable", True, False)
    assert meta["gpuCodec"] == "h264_nvenc" and meta["cpuCodec"] == "libx264"
    meta = _read(fakerunner.result(_job(mode="gpu"), 1, gpu=True, code=0))["metadata"]
    assert (meta["gpuEnabled"], meta["gpuFallback"], meta["encoderUsed"]) == (
        True, False, "h264_nvenc")
    assert "fallbackReason" not in meta


def test_failures_carry_the_runners_reason_for_the_exit_code_and_no_outputs() -> None:
    reasons = {}
    for code in (65, 75, 70):
        doc = _read(fakerunner.result(_job(), 1, gpu=False, code=code))
        assert (doc["outcome"], doc["exitCode"], doc.get("outputs", [])) == ("Failed", code, [])
        reasons[code] = doc["reason"]
        if code == 65:
            assert doc["message"] == "source s3://media-in/a.mov does not exist"
    assert reasons == {65: "BadInput", 75: "Transient", 70: "Internal"}
