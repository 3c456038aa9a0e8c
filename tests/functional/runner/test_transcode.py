"""End to end without Kubernetes: the runner CLI turns S3 sources into verified S3 outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dev.services import s3server
from tests.functional.runner.conftest import Media, Run, fetch, ffprobe


def video_stream(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def upload_source(server: s3server.S3Server, bucket: str, path: Path) -> str:
    server.client().upload_file(str(path), bucket, f"in/{path.name}")
    return f"s3://{bucket}/in/{path.name}"


def test_1080p_to_720p_h264_and_hevc_from_one_decode(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, media: Media,
    tmp_path: Path,
) -> None:
    run = run_job({
        "source": upload_source(s3_server, bucket, media.hd),
        "acceleration": {"mode": "cpu"},
        "outputs": [
            {"name": "h264", "destination": f"s3://{bucket}/out/720p.mp4",
             "video": {"codec": "h264", "preset": "ultrafast", "resolution": "720p"},
             "audio": {"codec": "aac", "bitrate": 96000}},
            {"name": "hevc", "destination": f"s3://{bucket}/out/720p-hevc.mkv",
             "container": "mkv",
             "video": {"codec": "hevc", "preset": "ultrafast", "resolution": "720p"},
             "audio": {"codec": "opus"}},
        ],
    })
    assert run.code == 0, run.stderr[-2000:]
    assert len(run.encodes) == 1  # both outputs from one FFmpeg process, one decode
    assert run.encodes[0].count("-i") == 1 and "split=2" in " ".join(run.encodes[0])
    by_name = {o["name"]: o for o in run.result["outputs"]}
    for name, codec, audio in (("h264", "h264", "aac"), ("hevc", "hevc", "opus")):
        out = by_name[name]
        local = fetch(s3_server, out["url"], tmp_path)
        info = ffprobe(local)
        video = video_stream(info)
        assert (video["codec_name"], video["width"], video["height"]) == (codec, 1280, 720)
        assert [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"] == [audio]
        assert abs(float(info["format"]["duration"]) - 2.0) < 0.2
        assert out["bytes"] == local.stat().st_size
        assert (out["width"], out["height"], out["codec"]) == (1280, 720, codec)
    assert run.metadata["fallbackReason"] == "CPURequested"
    assert run.metadata["gpuFallback"] is False and run.metadata["gpuEnabled"] is False
    assert run.termination == run.result


def test_mp4_output_is_faststart(run_job: Callable[..., Run], s3_server: s3server.S3Server,
                                 bucket: str, media: Media, tmp_path: Path) -> None:
    run = run_job({
        "source": str(media.hd),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "a", "destination": f"s3://{bucket}/fs.mp4",
                     "video": {"preset": "ultrafast", "resolution": "360p"}}],
    })
    assert run.code == 0, run.stderr[-2000:]
    head = fetch(s3_server, run.result["outputs"][0]["url"], tmp_path).read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_two_pass_runs_an_analysis_pass_then_the_encode(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, media: Media,
    tmp_path: Path,
) -> None:
    run = run_job({
        "source": str(media.hd),
        "outputs": [{"name": "tp", "destination": f"s3://{bucket}/tp.mp4",
                     "video": {"codec": "h264", "preset": "ultrafast", "resolution": "480p",
                               "bitrate": 600_000, "twoPass": True}}],
    })
    assert run.code == 0, run.stderr[-2000:]
    first, second = run.encodes
    assert first[first.index("-pass") + 1] == "1" and second[second.index("-pass") + 1] == "2"
    info = ffprobe(fetch(s3_server, run.result["outputs"][0]["url"], tmp_path))
    video = video_stream(info)
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 854, 480)
    assert run.metadata["encoderUsed"] == "libx264"
    assert run.metadata["fallbackReason"] == "CPURequested"  # two-pass is CPU-only


def test_h264_nvenc_on_a_machine_without_gpu_falls_back_to_libx264(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, media: Media,
    tmp_path: Path,
) -> None:
    spec = {
        "source": str(media.hd),
        "acceleration": {"mode": "gpu"},
        "outputs": [{"name": "gpu", "destination": f"s3://{bucket}/gpu.mp4",
                     "video": {"encoder": "h264_nvenc", "preset": "p1", "resolution": "360p"}}],
    }
    probed = run_job(spec)  # the probe's one-frame h264_nvenc encode fails for real
    assert probed.code == 0, probed.stderr[-2000:]
    meta = probed.metadata
    assert meta["gpuFallback"] is True and meta["encoderUsed"] == "libx264"
    assert meta["fallbackReason"] == "NVMLUnavailable"
    assert "h264_nvenc" in meta["fallbackMessage"]
    assert meta["encoderTried"] == ["h264_nvenc", "libx264"]

    unprobed = run_job(spec, TRANSCODER_GPU_PROBE="false")  # the encode itself fails
    assert unprobed.code == 0, unprobed.stderr[-2000:]
    gpu_run, cpu_run = unprobed.encodes
    assert "h264_nvenc" in gpu_run and "libx264" in cpu_run
    meta = unprobed.metadata
    assert meta["gpuFallback"] is True and meta["fallbackReason"] == "NVENCInitFailed"
    assert "Cannot load" in meta["fallbackMessage"]
    assert meta["encoderTried"] == ["h264_nvenc", "libx264"]
    assert meta["encoderUsed"] == meta["cpuCodec"] == "libx264"
    video = video_stream(ffprobe(fetch(s3_server, unprobed.result["outputs"][0]["url"],
                                       tmp_path)))
    assert (video["codec_name"], video["height"]) == ("h264", 360)


def test_odd_sized_silent_source(run_job: Callable[..., Run], s3_server: s3server.S3Server,
                                 bucket: str, media: Media, tmp_path: Path) -> None:
    run = run_job({
        "source": str(media.odd_silent),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "as-is", "destination": f"s3://{bucket}/odd.mp4",
                     "video": {"preset": "ultrafast"}, "audio": {"codec": "aac"}}],
    })
    assert run.code == 0, run.stderr[-2000:]
    info = ffprobe(fetch(s3_server, run.result["outputs"][0]["url"], tmp_path))
    video = video_stream(info)
    assert (video["width"], video["height"], video["pix_fmt"]) == (642, 362, "yuv420p")
    assert [s for s in info["streams"] if s["codec_type"] == "audio"] == []


def test_output_above_10_mib_is_multipart_and_verified(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, media: Media,
    tmp_path: Path,
) -> None:
    run = run_job({
        "source": str(media.noisy),
        "outputs": [{"name": "big", "destination": f"s3://{bucket}/big.mkv", "container": "mkv",
                     "video": {"encoder": "libx264", "preset": "ultrafast", "crf": 0},
                     "audio": {"codec": "none"}}],
    })
    assert run.code == 0, run.stderr[-2000:]
    out = run.result["outputs"][0]
    assert out["bytes"] > 10 * 1024 * 1024
    parts = -(-out["bytes"] // (10 * 1024 * 1024))
    assert out["checksumAlgorithm"] == "crc32-composite" and out["checksum"].endswith(f"-{parts}")
    head = s3_server.client().head_object(Bucket=bucket, Key="big.mkv")
    assert head["ETag"].strip('"').endswith(f"-{parts}")
    assert head["ContentLength"] == out["bytes"]
