"""NVDEC decode decisions, the hybrid plan (NVDEC + CPU encoder) and its provenance in status.

A fake NVML stands in for an H100 (NVDEC, no NVENC) and an L4 (both); the
one-frame CUDA test decode is answered at the process-runner seam.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.runner import fakes
from transcode_api import constants
from transcode_runner.app import gpuchoice
from transcode_runner.domain import colorimetry, graph, plan
from transcode_runner.io import encode, gpu, nvdec, probe, seams

Reason = constants.FallbackReason
H100 = fakes.FakeGPU(name="NVIDIA H100 80GB HBM3", capacity={0: 0, 1: 0, 2: 0})
SOURCE = fakes.SOURCE
JOB = fakes.job({"video": {"codec": "h264", "resolution": "720p"}})


def capability(*gpus: fakes.FakeGPU) -> gpu.GPUCapability:
    return gpu.inventory(fakes.FakeNVML(list(gpus)))


def decide(runner: fakes.FakeRunner, cap: gpu.GPUCapability, source=SOURCE) -> graph.Decode:
    return nvdec.decide(cap, source, runner, "ffmpeg", 5)


def test_h100_reports_nvdec_and_no_nvenc() -> None:
    (device,) = capability(H100).devices
    assert device.nvdec_supported and device.decoder_utilization_percent == 3
    assert not device.nvenc_supported
    decision = probe.Prober(fakes.FakeNVML([H100]), fakes.FakeRunner()).decide("h264")
    assert decision.reason == Reason.NO_ENCODER_ON_DEVICE


def test_nvdec_decodes_after_a_one_frame_cuda_test_decode(runner: fakes.FakeRunner) -> None:
    decode = decide(runner, capability(H100))
    assert (decode.gpu, decode.device) == (True, 0)
    assert decode.message == "h264 decoded on NVDEC, GPU 0 (NVIDIA H100 80GB HBM3)"
    (argv,) = runner.ran
    assert argv[argv.index("-hwaccel") + 1] == "cuda"
    assert argv[argv.index("-hwaccel_output_format") + 1] == "cuda"
    assert argv[argv.index("-vf") + 1].startswith("hwdownload,")  # a CPU decode would fail it
    assert argv[argv.index("-frames:v") + 1] == "1"


def test_why_the_cpu_decodes(runner: fakes.FakeRunner) -> None:
    no_nvdec = replace(H100, decoder_util=None)
    assert decide(runner, capability(no_nvdec)).message == (
        "CPU decode: NVIDIA H100 80GB HBM3 reports no NVDEC engine")
    assert decide(runner, capability()).message == "CPU decode: NVML sees no GPU"
    high10 = replace(SOURCE, pix_fmt="yuv420p10le", profile="High 10",
                     colour=colorimetry.Colour(bit_depth=10))
    assert "8-bit 4:2:0 H.264 only" in decide(runner, capability(H100), high10).message
    prores = replace(SOURCE, video_codec="prores", pix_fmt="yuv422p10le")
    assert decide(runner, capability(H100), prores).message == (
        "CPU decode: NVDEC cannot decode prores")
    assert runner.ran == []  # none of these needed a test decode
    runner.on_run(lambda argv: "-hwaccel" in argv, seams.Completed(
        1, "", "[h264 @ 0x1] No decoder surfaces left\nError while decoding\n"))
    failed = decide(runner, capability(H100))
    assert not failed.gpu and failed.message == (
        "CPU decode: NVDEC test decode of the source failed: [h264 @ 0x1] No decoder "
        "surfaces left")


def test_without_nvml_the_test_decode_decides(runner: fakes.FakeRunner) -> None:
    decode = decide(runner, gpu.unavailable("NVML did not initialise"))
    assert decode.gpu and decode.device is None and "-hwaccel_device" not in runner.ran[0]


def test_hybrid_plan_decodes_on_nvdec_and_encodes_on_the_cpu() -> None:
    choices = plan.choose(JOB, lambda codec: probe.Decision(
        codec, "h264_nvenc", False, reason=Reason.NO_ENCODER_ON_DEVICE, message="no NVENC"))
    decode = graph.Decode(True, 0, "h264 decoded on NVDEC, GPU 0 (NVIDIA H100)")
    hybrid = plan.build(JOB, SOURCE, choices, Path("/scratch"), decode=decode)
    (argv,) = hybrid.passes
    assert argv[argv.index("-c:v") + 1] == "libx264"
    assert argv.index("-hwaccel") < argv.index("-i")
    assert "hwdownload" in argv[argv.index("-filter_complex") + 1]
    assert hybrid.uses_gpu and not hybrid.uses_nvenc
    outcome = encode.Outcome(hybrid, ("libx264",), Reason.NO_ENCODER_ON_DEVICE, "no NVENC",
                             media_seconds=60.0, wall_seconds=30.0)
    meta = gpuchoice.metadata(choices, outcome, 60.0)
    assert (meta.decoder, meta.encoder_used, meta.gpu_device) == ("cuda", "libx264", 0)
    assert meta.decoder_message == "h264 decoded on NVDEC, GPU 0 (NVIDIA H100)"
    assert (meta.gpu_enabled, meta.gpu_fallback, meta.fallback_reason) == (
        False, True, Reason.NO_ENCODER_ON_DEVICE)


def test_nvdec_failure_mid_encode_decodes_again_on_the_cpu(
        runner: fakes.FakeRunner, clock: fakes.FakeClock) -> None:
    choices = plan.choose(JOB, lambda codec: probe.Decision(
        codec, "h264_nvenc", False, reason=Reason.NO_ENCODER_ON_DEVICE, message="no NVENC"))
    decode = graph.Decode(True, 0, "h264 decoded on NVDEC")

    def build(current: list[plan.Choice]) -> plan.Plan:
        return plan.build(JOB, SOURCE, current, Path("/scratch"), decode=decode)

    runner.on_start(lambda argv: "-hwaccel" in argv, lambda: fakes.FakeProcess(
        returncode=1, stderr=b"[h264 @ 0x1] CUDA_ERROR_OUT_OF_MEMORY\n"))
    runner.on_start(lambda argv: True, lambda: fakes.FakeProcess(
        stdout=fakes.progress_block(60.0, end=True)))
    outcome = encode.Encoder(runner, clock).run_with_fallback(build, choices, 60.0, True,
                                                              lambda s: None)
    first, second = runner.started
    assert "-hwaccel" in first and "-hwaccel" not in second
    assert not outcome.plan.decode.gpu and outcome.encoders_tried == ("libx264",)
    assert outcome.decode_message.startswith("NVDEC failed during the encode, decoded again on "
                                             "the CPU: FFmpeg exited with status 1")
    meta = gpuchoice.metadata(choices, outcome, 60.0)
    assert meta.decoder == "cpu" and meta.decoder_message == outcome.decode_message


def test_full_gpu_plan_falls_back_to_cpu_decode_and_encode(
        runner: fakes.FakeRunner, clock: fakes.FakeClock) -> None:
    choices = [plan.Choice("h264_nvenc", True, 0, gpu_encoder="h264_nvenc")]
    decode = graph.Decode(True, 0, "h264 decoded on NVDEC")

    def build(current: list[plan.Choice]) -> plan.Plan:
        return plan.build(JOB, SOURCE, current, Path("/scratch"), decode=decode)

    runner.on_start(lambda argv: "h264_nvenc" in argv, lambda: fakes.FakeProcess(
        returncode=1, stderr=b"[h264_nvenc @ 0x1] Cannot load libcuda.so.1\n"))
    runner.on_start(lambda argv: True, lambda: fakes.FakeProcess(
        stdout=fakes.progress_block(60.0, end=True)))
    outcome = encode.Encoder(runner, clock).run_with_fallback(build, choices, 60.0, True,
                                                              lambda s: None)
    gpu_argv, cpu_argv = runner.started
    assert "scale_cuda" in gpu_argv[gpu_argv.index("-filter_complex") + 1]
    assert "-hwaccel" not in cpu_argv and "libx264" in cpu_argv
    assert outcome.fallback_reason == Reason.NVENC_INIT_FAILED
    assert outcome.decode_message.startswith("NVDEC decode abandoned with the GPU encode")
