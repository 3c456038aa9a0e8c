"""The NVENC probe names the right reason for every way NVENC can be unusable."""

from __future__ import annotations

import pytest

from tests.unit.runner import fakes
from transcode_api import constants
from transcode_runner.io import gpu, probe, seams

Reason = constants.FallbackReason
ENCODERS_LIST = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 V....D libx265              libx265 H.265 / HEVC (codec hevc)
 V....D hevc_nvenc           NVIDIA NVENC hevc encoder (codec hevc)
 V....D av1_nvenc            NVIDIA NVENC av1 encoder (codec av1)
 A..... aac                  AAC (Advanced Audio Coding)
"""


def _is_listing(argv: list[str]) -> bool:
    return "-encoders" in argv


def _is_test_encode(argv: list[str]) -> bool:
    return "lavfi" in argv


def make(
    runner: fakes.FakeRunner,
    gpus: list[fakes.FakeGPU] | None = None,
    *,
    listing: str = ENCODERS_LIST,
    test: seams.Completed | None = None,
    init_error: str | None = None,
    environ: dict[str, str] | None = None,
    device_index: int = -1,
) -> probe.Prober:
    runner.on_run(_is_listing, seams.Completed(0, listing, ""))
    runner.on_run(_is_test_encode, test or seams.Completed(0, "", ""))
    nvml = fakes.FakeNVML(gpus if gpus is not None else [fakes.FakeGPU()], init_error)
    return probe.Prober(nvml=nvml, runner=runner, timeout=5, min_free_mib=500,
                        device_index=device_index, environ=environ or {})


def test_usable_gpu_passes_every_check_and_names_the_device(runner: fakes.FakeRunner) -> None:
    decision = make(runner).decide("h264")
    assert decision.usable and decision.reason is None
    assert (decision.encoder, decision.device, decision.device_name) == ("h264_nvenc", 0, "NVIDIA L4")
    test_encode = next(argv for argv in runner.ran if _is_test_encode(argv))
    assert test_encode[-3:] == ["-f", "null", "-"]
    assert ["-frames:v", "1"] == test_encode[test_encode.index("-frames:v"):][:2]
    assert ["-gpu", "0"] == test_encode[test_encode.index("-gpu"):][:2]


def test_no_device_is_no_gpu(runner: fakes.FakeRunner) -> None:
    assert make(runner, gpus=[]).decide("h264").reason == Reason.NO_GPU


def test_missing_nvml_library_is_nvml_unavailable_after_a_real_test_encode(
    runner: fakes.FakeRunner,
) -> None:
    failed = seams.Completed(1, "", "[h264_nvenc @ 0x55c0a7aa8840] Cannot load libcuda.so.1\n")
    decision = make(runner, init_error="NVML Shared Library Not Found", test=failed).decide("h264")
    assert decision.reason == Reason.NVML_UNAVAILABLE and not decision.usable
    assert "NVML Shared Library Not Found" in decision.message
    assert "h264_nvenc: Cannot load libcuda.so.1" in decision.message


def test_nvenc_working_without_nvml_is_usable(runner: fakes.FakeRunner) -> None:
    decision = make(runner, init_error="NVML Shared Library Not Found").decide("h264")
    assert decision.usable and decision.device is None


def test_too_little_free_memory(runner: fakes.FakeRunner) -> None:
    decision = make(runner, [fakes.FakeGPU(free_mib=300)]).decide("h264")
    assert decision.reason == Reason.INSUFFICIENT_GPU_MEMORY
    assert "300 MiB" in decision.message and "500 MiB" in decision.message


def test_encoder_missing_from_ffmpeg(runner: fakes.FakeRunner) -> None:
    listing = ENCODERS_LIST.replace("h264_nvenc", "h264_vaapi")
    decision = make(runner, listing=listing).decide("h264")
    assert decision.reason == Reason.ENCODER_NOT_IN_FFMPEG
    assert not any(_is_test_encode(argv) for argv in runner.ran)


@pytest.mark.parametrize("listing", [seams.Completed(0, "", "", timed_out=True),
                                     seams.Completed(1, "", "Killed")])
@pytest.mark.parametrize("nvml_error", [None, "NVML Shared Library Not Found"])
def test_an_encoder_list_ffmpeg_could_not_give_claims_nothing_missing(
        runner: fakes.FakeRunner, listing: seams.Completed, nvml_error: str | None) -> None:
    failed = seams.Completed(1, "", "[h264_nvenc @ 0x55c0a7aa8840] Cannot load libcuda.so.1\n")
    runner.on_run(_is_listing, listing)
    decision = make(runner, init_error=nvml_error, test=failed).decide("h264")
    assert not decision.usable and decision.tested  # the test encode had the last word
    assert "lacks" not in decision.message and "built without" not in decision.message
    assert "Cannot load libcuda.so.1" in decision.message


@pytest.mark.parametrize(
    "device",
    [
        # The encoder-capacity query answers NotSupported ...
        fakes.FakeGPU(name="NVIDIA A100-SXM4-40GB", capacity={0: None, 1: None, 2: None}),
        # ... or a driver answers 0 for a model known to have no NVENC.
        fakes.FakeGPU(name="NVIDIA H100 80GB HBM3", capacity={0: 0, 1: 0, 2: 0}),
        fakes.FakeGPU(name="NVIDIA H200", capacity={0: 0, 1: 0, 2: None}),
    ],
)
def test_decode_only_datacentre_gpus_have_no_encoder(
    runner: fakes.FakeRunner, device: fakes.FakeGPU
) -> None:
    decision = make(runner, [device]).decide("h264")
    assert decision.reason == Reason.NO_ENCODER_ON_DEVICE
    assert device.name in decision.message


def test_nvenc_init_failure_names_the_missing_video_capability(runner: fakes.FakeRunner) -> None:
    failed = seams.Completed(
        1, "", "[h264_nvenc @ 0x5600] Cannot load libnvidia-encode.so.1\n"
        "[h264_nvenc @ 0x5600] The minimum required Nvidia driver for nvenc is 520.56.06\n")
    decision = make(runner, test=failed,
                     environ={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"}).decide("h264")
    assert decision.reason == Reason.NVENC_INIT_FAILED
    assert "libnvidia-encode" in decision.message
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility lacks `video`" in decision.message


def test_nvenc_init_failure_without_capability_hint_when_video_is_there(
    runner: fakes.FakeRunner,
) -> None:
    failed = seams.Completed(1, "", "OpenEncodeSessionEx failed: unsupported device (2)\n")
    decision = make(runner, test=failed,
                    environ={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility,video"}).decide("h264")
    assert decision.reason == Reason.NVENC_INIT_FAILED
    assert "lacks" not in decision.message


def test_no_encoder_capacity_left_is_the_session_limit(runner: fakes.FakeRunner) -> None:
    busy = fakes.FakeGPU(name="NVIDIA GeForce RTX 3080", sessions=5, capacity={0: 0, 1: 0, 2: None})
    decision = make(runner, [busy]).decide("h264")
    assert decision.reason == Reason.SESSION_LIMIT_REACHED
    assert "5 active sessions" in decision.message


def test_consumer_driver_refusing_another_session_is_the_session_limit(
    runner: fakes.FakeRunner,
) -> None:
    refused = seams.Completed(1, "", "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: "
                                     "incompatible client key (21): (no details)\n")
    decision = make(runner, [fakes.FakeGPU(sessions=3)], test=refused).decide("h264")
    assert decision.reason == Reason.SESSION_LIMIT_REACHED


@pytest.mark.parametrize("codec", ["av1", "vp9"])
def test_codec_without_nvenc_on_this_device(runner: fakes.FakeRunner, codec: str) -> None:
    old = fakes.FakeGPU(name="Tesla T4", capacity={0: 100, 1: 100, 2: None})
    decision = make(runner, [old]).decide(codec)
    assert decision.reason == Reason.CODEC_NOT_SUPPORTED_ON_GPU


def test_failing_or_hanging_test_encode_is_encode_failed(runner: fakes.FakeRunner) -> None:
    hung = seams.Completed(-9, "", "", timed_out=True)
    decision = make(runner, test=hung).decide("hevc")
    assert decision.reason == Reason.ENCODE_FAILED
    assert "timed out" in decision.message


def test_best_gpu_by_free_memory_times_idle_share_and_fewer_sessions(
    runner: fakes.FakeRunner,
) -> None:
    gpus = [
        fakes.FakeGPU(free_mib=8_000, util=90),  # 8000 * 10 = 80k
        fakes.FakeGPU(free_mib=6_000, util=10),  # 6000 * 90 = 540k  <- best
        fakes.FakeGPU(free_mib=9_000, util=10, sessions=2),  # 810k / 3 = 270k
    ]
    decision = make(runner, gpus).decide("h264")
    assert decision.usable and decision.device == 1


def test_pinned_gpu_index_is_honoured(runner: fakes.FakeRunner) -> None:
    gpus = [fakes.FakeGPU(), fakes.FakeGPU(free_mib=100)]
    assert make(runner, gpus, device_index=1).decide("h264").reason == (
        Reason.INSUFFICIENT_GPU_MEMORY)


def test_capability_has_the_seed_fields_and_per_device_metrics() -> None:
    nvml = fakes.FakeNVML([fakes.FakeGPU(util=25, encoder_util=12, sessions=1, temperature=61),
                           fakes.FakeGPU(name="NVIDIA H100 PCIe", capacity={0: 0, 1: 0, 2: 0})])
    cap = gpu.inventory(nvml)
    assert cap.available and cap.device_count == 2 and cap.nvenc_supported
    assert cap.device_names == ["NVIDIA L4", "NVIDIA H100 PCIe"] and cap.max_encoders == 1
    assert cap.memory_total_mib == [23_034, 23_034] and cap.memory_free_mib == [22_000, 22_000]
    assert (cap.driver_version, cap.cuda_version) == ("550.54.15", "12.4")
    first = cap.to_json()["devices"][0]
    assert (first["utilizationPercent"], first["encoderUtilizationPercent"],
            first["encoderSessions"], first["temperatureC"]) == (25, 12, 1, 61)
    assert nvml.shutdowns == 1


def test_inventory_never_raises_without_the_binding() -> None:
    cap = gpu.inventory(None)
    assert not cap.available and cap.nvml_error and "nvidia-ml-py" in cap.nvml_error


def test_ffmpeg_encoder_list_and_test_encodes_are_cached(runner: fakes.FakeRunner) -> None:
    prober = make(runner)
    prober.decide("h264")
    prober.decide("h264")
    prober.decide("hevc")
    assert sum(map(_is_listing, runner.ran)) == 1
    assert sum(map(_is_test_encode, runner.ran)) == 2
