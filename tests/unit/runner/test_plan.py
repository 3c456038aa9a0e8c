"""The plan: one FFmpeg argument list per pass, encoder settings per codec and preset."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.runner import fakes
from transcode_api import constants, spec
from transcode_runner.app import gpuchoice
from transcode_runner.domain import encoders, errors, media, plan
from transcode_runner.io import encode

Reason = constants.FallbackReason
SOURCE = fakes.SOURCE
job = fakes.job


class Verdict:
    def __init__(self, usable: bool, reason: Reason | None = None, device: int | None = 0):
        self.usable, self.reason, self.device = usable, reason, device
        self.message = "probe says so"
        self.tested = usable


def gpu_ok(codec: str) -> Verdict:
    return Verdict(True)


def gpu_bad(codec: str) -> Verdict:
    return Verdict(False, Reason.INSUFFICIENT_GPU_MEMORY, None)


def build(j: spec.TranscodeJobSpec, decide: Any = gpu_ok, source: media.MediaInfo = SOURCE
          ) -> plan.Plan:
    return plan.build(j, source, plan.choose(j, decide), Path("/scratch"))


def after(argv: tuple[str, ...], flag: str, start: int = 0) -> str:
    return argv[argv.index(flag, start) + 1]


def last_after(argv: tuple[str, ...], flag: str) -> str:
    """The value of the last `flag` (FFmpeg lets a later option win)."""
    return argv[len(argv) - argv[::-1].index(flag)]


def test_h264_nvenc_settings_follow_the_seed() -> None:
    p = build(job({"video": {"codec": "h264", "preset": "medium", "resolution": "720p",
                             "bitrate": 3_000_000}}))
    (argv,) = p.passes
    assert p.uses_gpu
    assert (after(argv, "-c:v"), after(argv, "-preset"), after(argv, "-rc"), after(argv, "-cq"),
            after(argv, "-bf"), after(argv, "-b_ref_mode"), after(argv, "-profile:v"),
            after(argv, "-level"), after(argv, "-b:v"), after(argv, "-gpu")) == (
        "h264_nvenc", "p6", "vbr", "23", "3", "middle", "high", "4.1", "3000000", "0")


def test_hevc_nvenc_settings_follow_the_seed() -> None:
    (argv,) = build(job({"video": {"codec": "hevc", "preset": "slow"}})).passes
    assert (after(argv, "-c:v"), after(argv, "-preset"), after(argv, "-rc"), after(argv, "-cq"),
            after(argv, "-bf"), after(argv, "-profile:v"), after(argv, "-tier")) == (
        "hevc_nvenc", "p7", "vbr", "23", "4", "main", "high")
    assert "-b_ref_mode" not in argv


@pytest.mark.parametrize(("preset", "nvenc"), [
    ("ultrafast", "p1"), ("superfast", "p2"), ("veryfast", "p3"), ("faster", "p4"),
    ("fast", "p5"), ("medium", "p6"), ("slow", "p7"), ("slower", "p7"), ("veryslow", "p7"),
    ("p3", "p3"), (None, "p5"),
])
def test_nvenc_preset_map(preset: str | None, nvenc: str) -> None:
    video: dict[str, Any] = {"codec": "h264"} | ({"preset": preset} if preset else {})
    (argv,) = build(job({"video": video})).passes
    assert after(argv, "-preset") == nvenc


def test_h264_level_rises_only_when_the_frame_needs_it() -> None:
    assert encoders.h264_level(1280, 720, 30) == "4.1"
    assert encoders.h264_level(1920, 1080, 30) == "4.1"
    assert encoders.h264_level(1920, 1080, 60) == "4.2"
    assert encoders.h264_level(3840, 2160, 30) == "5.1"


def test_cpu_h264_with_preset_and_bitrate() -> None:
    (argv,) = build(job({"video": {"codec": "h264", "preset": "fast", "bitrate": 2_500_000,
                                   "maxBitrate": 4_000_000}}), decide=gpu_bad).passes
    assert (after(argv, "-c:v"), after(argv, "-preset"), after(argv, "-b:v"),
            after(argv, "-maxrate"), after(argv, "-bufsize")) == (
        "libx264", "fast", "2500000", "4000000", "8000000")
    assert "-crf" not in argv and "-cq" not in argv


def test_cpu_hevc_with_crf_is_tagged_for_apple_players() -> None:
    (argv,) = build(job({"video": {"encoder": "libx265", "crf": 26, "preset": "veryfast"}})).passes
    assert (after(argv, "-c:v"), after(argv, "-preset"), after(argv, "-crf"),
            after(argv, "-tag:v")) == ("libx265", "veryfast", "26", "hvc1")


def test_preset_cpu_forces_the_cpu_with_the_encoders_default_preset() -> None:
    p = build(job({"video": {"codec": "h264", "preset": "cpu"}}))
    (argv,) = p.passes
    assert after(argv, "-c:v") == "libx264" and "-preset" not in argv
    assert p.choices[0].reason == Reason.CPU_REQUESTED


def test_mode_cpu_and_explicit_cpu_encoder_never_use_the_gpu() -> None:
    for j in (job({"video": {"codec": "hevc"}}, mode="cpu"),
              job({"video": {"encoder": "libx264"}})):
        p = build(j)
        assert not p.uses_gpu and p.choices[0].reason == Reason.CPU_REQUESTED


def test_vp9_has_no_gpu_encoder() -> None:
    j = spec.parse_spec({"source": "s3://a-b/c", "outputs": [{
        "name": "w", "destination": "s3://a-b/w.webm", "container": "webm",
        "video": {"codec": "vp9", "preset": "fast"}}]})
    p = build(j)
    (argv,) = p.passes
    assert p.choices[0].reason == Reason.CODEC_NOT_SUPPORTED_ON_GPU
    assert after(argv, "-c:v") == "libvpx-vp9" and after(argv, "-f") == "webm"
    assert after(argv, "-c:a:0") == "libopus"


def test_unusable_gpu_falls_back_with_the_probes_reason() -> None:
    p = build(job({"video": {"codec": "h264"}}), decide=gpu_bad)
    assert not p.uses_gpu
    assert (p.choices[0].reason, p.choices[0].gpu_encoder) == (
        Reason.INSUFFICIENT_GPU_MEMORY, "h264_nvenc")


def test_unusable_gpu_without_fallback_is_a_transient_failure() -> None:
    j = job({"video": {"codec": "h264"}}, mode="gpu", allowCpuFallback=False)
    with pytest.raises(errors.Transient, match="InsufficientGPUMemory"):
        plan.choose(j, gpu_bad)


def test_all_outputs_come_from_one_decode_split_in_one_process() -> None:
    p = build(job(
        {"video": {"codec": "h264", "resolution": "1080p"}},
        {"video": {"codec": "h264", "resolution": "720p"}},
        {"video": {"codec": "hevc", "resolution": "480p"}},
    ))
    (argv,) = p.passes
    assert argv.count("-i") == 1
    graph = after(argv, "-filter_complex")
    assert graph.startswith("[0:v:0]split=3[s0][s1][s2];")
    assert "scale=1920:1080" in graph and "scale=1280:720" in graph and "scale=854:480" in graph
    assert [after(argv, "-map", i) for i, a in enumerate(argv) if a == "-map"][::2] == [
        "[v0]", "[v1]", "[v2]"]
    assert [o.path.name for o in p.outputs] == ["out-o0.mp4", "out-o1.mp4", "out-o2.mp4"]
    assert argv[-1] == "file:/scratch/out-o2.mp4"


def test_arguments_are_a_list_for_exec_with_progress_on_stdout() -> None:
    (argv,) = build(job({"video": {}})).passes
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == "ffmpeg" and "-nostdin" in argv
    assert after(argv, "-progress") == "pipe:1" and "-nostats" in argv
    assert after(argv, "-i") == "file:/scratch/source.mov"


def test_mp4_gets_faststart_and_mkv_does_not() -> None:
    j = spec.parse_spec({"source": "s3://a-b/c", "outputs": [
        {"name": "a", "destination": "s3://a-b/a.mp4"},
        {"name": "b", "destination": "s3://a-b/b.mkv", "container": "mkv"}]})
    (argv,) = build(j).passes
    assert argv.count("+faststart") == 1
    assert after(argv, "-movflags") == "+faststart"
    assert "matroska" in argv


def test_two_pass_is_cpu_only_with_an_analysis_pass_for_those_outputs() -> None:
    p = build(job(
        {"video": {"codec": "h264", "bitrate": 2_000_000, "twoPass": True, "preset": "fast"}},
        {"video": {"codec": "h264", "resolution": "480p"}},
    ))
    first, second = p.passes
    assert after(first, "-c:v") == "libx264" and after(first, "-pass") == "1"
    assert after(first, "-passlogfile") == "/scratch/passlog-o0"
    assert first.count("-map") == 1 and "-an" in first and first[-3:-1] == ("-f", "null")
    assert after(first, "-filter_complex").startswith("[0:v:0]scale=")
    assert after(second, "-pass") == "2" and second.count("-pass") == 1
    assert p.choices[0].reason == Reason.CPU_REQUESTED  # two-pass never runs on NVENC
    assert p.choices[1].gpu


def test_two_pass_hevc_uses_x265_stats() -> None:
    first, second = build(job({"video": {"codec": "hevc", "bitrate": 900_000,
                                         "twoPass": True}})).passes
    assert last_after(first, "-x265-params") == (
        "log-level=error:pass=1:stats=/scratch/passlog-o0.x265")
    assert last_after(second, "-x265-params") == (
        "log-level=error:pass=2:stats=/scratch/passlog-o0.x265")


def test_audio_per_spec_and_sources_without_audio() -> None:
    j = job({"audio": {"codec": "aac", "bitrate": 96_000}}, {"audio": {"codec": "copy"}},
            {"audio": {"codec": "none"}}, {"audio": {"codec": "opus"}})
    (argv,) = build(j).passes
    text = " ".join(argv)
    assert "-map 0:a:0 -c:a:0 aac -b:a:0 96000" in text
    assert "-map 0:a:0 -c:a:0 copy" in text
    assert "-c:a:0 libopus -b:a:0 96000" in text
    assert argv.count("-an") == 1
    (silent,) = build(j, source=replace(SOURCE, has_audio=False, audio_codec=None,
                                        audio_tracks=())).passes
    assert silent.count("-an") == 4 and "0:a:0" not in silent


def test_cpu_replan_keeps_everything_but_the_encoder() -> None:
    j = job({"video": {"codec": "h264", "preset": "p2", "resolution": "720p", "bitrate": 1_000_000}},
            {"video": {"encoder": "libx265"}})
    gpu = build(j)
    cpu_choices = plan.on_cpu(gpu.choices, Reason.NVENC_INIT_FAILED, "Cannot load libcuda")
    cpu = plan.build(j, SOURCE, cpu_choices, Path("/scratch"))
    (argv,) = cpu.passes
    assert [o.encoder for o in cpu.outputs] == ["libx264", "libx265"]
    assert after(argv, "-preset") == "superfast"  # p2 mapped back for x264
    assert after(argv, "-b:v") == "1000000" and "-gpu" not in argv
    assert cpu.choices[0].reason == Reason.NVENC_INIT_FAILED
    assert cpu.choices[1].reason == Reason.CPU_REQUESTED


def test_metadata_records_the_fallback_provenance() -> None:
    j = job({"video": {"codec": "h264"}}, {"video": {"encoder": "libx265"}})
    failed_probe = Verdict(False, Reason.NVENC_INIT_FAILED, None)
    failed_probe.tested = True
    choices = plan.choose(j, lambda codec: failed_probe)
    p = plan.build(j, SOURCE, choices, Path("/scratch"))
    outcome = encode.Outcome(p, ("libx264", "libx265"), Reason.NVENC_INIT_FAILED,
                             "NVENC could not start", media_seconds=60.0, wall_seconds=20.0)
    meta = gpuchoice.metadata(choices, outcome, 60.0)
    assert (meta.gpu_enabled, meta.gpu_fallback, meta.fallback_reason) == (
        False, True, Reason.NVENC_INIT_FAILED)
    assert meta.encoder_tried == ["h264_nvenc", "libx264", "libx265"]
    assert (meta.encoder_used, meta.cpu_codec, meta.gpu_codec) == (
        "libx264", "libx264", "h264_nvenc")
    assert (meta.processing_time_seconds, meta.processing_speed) == (20.0, 3.0)


def test_metadata_of_a_gpu_encode() -> None:
    j = job({"video": {"codec": "hevc"}})
    choices = plan.choose(j, lambda codec: Verdict(True, device=1))
    p = plan.build(j, SOURCE, choices, Path("/scratch"))
    meta = gpuchoice.metadata(choices, encode.Outcome(p, ("hevc_nvenc",), wall_seconds=15.0),
                             60.0)
    assert (meta.gpu_enabled, meta.gpu_device, meta.gpu_codec, meta.gpu_fallback) == (
        True, 1, "hevc_nvenc", False)
    assert meta.fallback_reason is None and meta.processing_speed == 4.0
