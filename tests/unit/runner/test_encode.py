"""The encoder: progress, watchdog, CPU fallback after a GPU failure, bad sources."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.unit.runner import fakes
from transcode_api import constants, contract
from transcode_runner.domain import errors, plan, progress
from transcode_runner.io import encode

Reason = constants.FallbackReason
GPU = plan.Choice("h264_nvenc", True, 0, gpu_encoder="h264_nvenc")
JOB = fakes.job({"video": {"codec": "h264", "resolution": "720p"}})


def build(choices: Sequence[plan.Choice]) -> plan.Plan:
    return plan.build(JOB, fakes.SOURCE, choices, Path("/scratch"))


def encoder(runner: fakes.FakeRunner, clock: fakes.FakeClock, **kw: object) -> encode.Encoder:
    return encode.Encoder(runner, clock, stall_timeout=30, stop_grace=0.1, **kw)  # type: ignore[arg-type]


def uses(name: str):
    return lambda argv: name in argv


def full_run(duration: float = 60.0) -> fakes.FakeProcess:
    blocks = b"".join(fakes.progress_block(t) for t in (15, 30, 45))
    return fakes.FakeProcess(stdout=blocks + fakes.progress_block(duration, end=True))


def test_progress_is_reported_and_ends_at_100(runner: fakes.FakeRunner,
                                              clock: fakes.FakeClock) -> None:
    runner.on_start(uses("libx264"), full_run)
    seen: list[progress.Progress] = []
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    outcome = encoder(runner, clock).run_with_fallback(build, cpu, 60.0, True, seen.append)
    assert [s.percent for s in seen] == [25.0, 50.0, 75.0, 100.0]
    assert outcome.media_seconds == 60.0 and outcome.encoders_tried == ("libx264",)
    assert outcome.fallback_reason == Reason.NO_GPU
    assert len(runner.started) == 1


def test_gpu_failure_reruns_the_same_plan_on_the_cpu(runner: fakes.FakeRunner,
                                                     clock: fakes.FakeClock) -> None:
    runner.on_start(uses("h264_nvenc"), lambda: fakes.FakeProcess(
        stdout=fakes.progress_block(0), returncode=1,
        stderr=b"[h264_nvenc @ 0x55c0a7aa8840] Cannot load libcuda.so.1\n"
               b"Error initializing output stream 0:0 -- Error while opening encoder\n"))
    runner.on_start(uses("libx264"), full_run)
    seen: list[progress.Progress] = []
    outcome = encoder(runner, clock).run_with_fallback(build, [GPU], 60.0, True, seen.append)
    gpu_argv, cpu_argv = runner.started
    assert "h264_nvenc" in gpu_argv and "libx264" in cpu_argv
    assert gpu_argv[gpu_argv.index("-filter_complex") + 1] == (
        cpu_argv[cpu_argv.index("-filter_complex") + 1])
    assert outcome.fallback_reason == Reason.NVENC_INIT_FAILED
    assert "Cannot load libcuda.so.1" in outcome.fallback_message
    assert outcome.encoders_tried == ("h264_nvenc", "libx264")
    assert [o.encoder for o in outcome.plan.outputs] == ["libx264"]
    assert seen[-1].percent == 100.0


def test_gpu_failure_without_fallback_is_transient(runner: fakes.FakeRunner,
                                                   clock: fakes.FakeClock) -> None:
    runner.on_start(uses("h264_nvenc"), lambda: fakes.FakeProcess(
        returncode=1, stderr=b"OpenEncodeSessionEx failed: out of memory (10)\n"))
    with pytest.raises(errors.Transient):
        encoder(runner, clock).run_with_fallback(build, [GPU], 60.0, False, lambda s: None)
    assert len(runner.started) == 1


def test_watchdog_kills_a_stalled_ffmpeg(runner: fakes.FakeRunner) -> None:
    stuck: list[fakes.FakeProcess] = []

    def hang() -> fakes.FakeProcess:
        stuck.append(fakes.FakeProcess(stdout=fakes.progress_block(3), hang=True))
        return stuck[-1]

    runner.on_start(uses("libx264"), hang)
    clock = fakes.FakeClock(step=11.0)  # every look at the clock is 11 s later
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    with pytest.raises(errors.Transient, match="no progress for 30 s") as caught:
        encoder(runner, clock).run_with_fallback(build, cpu, 60.0, True, lambda s: None)
    assert caught.value.reason == "EncoderStalled"
    assert stuck[0].terminated


def test_unreadable_source_is_bad_input_with_ffmpegs_reason(runner: fakes.FakeRunner,
                                                            clock: fakes.FakeClock) -> None:
    runner.on_start(uses("libx264"), lambda: fakes.FakeProcess(
        returncode=1, stderr=b"[mov,mp4 @ 0x1] moov atom not found\n"
                             b"file:/scratch/source.mov: Invalid data found when processing input\n"))
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    with pytest.raises(errors.BadInput, match="moov atom not found"):
        encoder(runner, clock).run_with_fallback(build, cpu, 60.0, True, lambda s: None)


def test_a_source_that_stops_early_is_truncated(runner: fakes.FakeRunner,
                                                clock: fakes.FakeClock) -> None:
    runner.on_start(uses("libx264"), lambda: fakes.FakeProcess(
        stdout=fakes.progress_block(0.9) + fakes.progress_block(0.9, end=True)))
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    with pytest.raises(errors.BadInput, match="decoded 0.9 s of 4.0 s") as caught:
        encoder(runner, clock).run_with_fallback(build, cpu, 4.0, True, lambda s: None)
    assert caught.value.reason == "SourceTruncated"


def test_other_ffmpeg_failures_are_internal_with_the_stderr_tail(
    runner: fakes.FakeRunner, clock: fakes.FakeClock
) -> None:
    runner.on_start(uses("libx264"), lambda: fakes.FakeProcess(
        returncode=1, stderr=b"noise\n[libx264 @ 0xabc] broken encoder setting\n"))
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    with pytest.raises(errors.EncodeFailed, match="libx264: broken encoder setting") as caught:
        encoder(runner, clock).run_with_fallback(build, cpu, 60.0, True, lambda s: None)
    assert caught.value.exit_code == contract.ExitCode.INTERNAL


def test_cancel_stops_ffmpeg(runner: fakes.FakeRunner, clock: fakes.FakeClock) -> None:
    hung = fakes.FakeProcess(stdout=fakes.progress_block(1), hang=True)
    runner.on_start(uses("libx264"), lambda: hung)
    cancel = threading.Event()
    cancel.set()
    cpu = plan.on_cpu([GPU], Reason.NO_GPU, "none")
    with pytest.raises(errors.Cancelled):
        encoder(runner, clock, cancel=cancel).run_with_fallback(build, cpu, 60.0, True,
                                                                lambda s: None)
    assert hung.terminated
    assert errors.Cancelled("x").exit_code == contract.ExitCode.TRANSIENT
