"""Fields and timing as a viewer sees them: interlaced sources come out progressive, VFR stays VFR.

The interlaced sources are woven by dev/corpus.py from a 50p truth (each
frame's two fields from two instants, as broadcast sends them), top or bottom
field first, flagged in the stream or not (then only `idet` can tell). The
output must be progressive per FFmpeg's `idet`, and each output frame must look
like the truth at its first field's instant (SSIM), which woven frames do not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev import corpus
from dev.services import s3server
from tests.functional.runner import viewer
from tests.functional.runner.conftest import Run, fetch


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("time")


@pytest.fixture(scope="module")
def truth(folder: Path) -> Path:
    return corpus.motion_50p(folder / "truth-50p.mp4")


def encode(run_job: Callable[..., Run], server: s3server.S3Server, source: Path, bucket: str,
           folder: Path, video: dict[str, Any]) -> tuple[Run, Path]:
    folder.mkdir(exist_ok=True)
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "out", "destination": f"s3://{bucket}/{source.stem}.mp4",
                     "video": {"preset": "ultrafast", "crf": 16, **video}}],
    })
    assert run.code == 0, run.stderr[-3000:]
    return run, fetch(server, run.result["outputs"][0]["url"], folder)


@pytest.mark.parametrize(("order", "flagged"), [("tff", True), ("bff", True), ("tff", False)],
                         ids=["tff-flagged", "bff-flagged", "tff-unflagged-idet"])
def test_interlaced_source_comes_out_progressive_without_combing(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, folder: Path,
    truth: Path, tmp_path: Path, order: str, flagged: bool,
) -> None:
    suffix = "mkv" if flagged else "avi"
    source = corpus.interlaced(folder / f"{order}-{flagged}.{suffix}", truth, order, flagged)
    combed, _ = viewer.combed_frames(source)
    assert combed >= 20  # the source really is interlaced (25 frames of woven fields)
    run, out = encode(run_job, s3_server, source, bucket, tmp_path, {})
    combed, progressive = viewer.combed_frames(out)
    assert combed <= 2 and progressive >= 20
    assert viewer.video(out).get("field_order", "progressive") == "progressive"
    # Output frame k shows the instant of its first field: truth frame 2k.
    deinterlaced = viewer.ssim(truth, out, source_frame=10, output_frame=5)
    woven = viewer.ssim(truth, source, source_frame=10, output_frame=5)
    assert deinterlaced >= viewer.MIN_SSIM and deinterlaced > woven
    assert (run.encodes[0][run.encodes[0].index("-filter_complex") + 1]
            .count(f"bwdif=mode=send_frame:parity={order}") == 1)


def test_upside_down_interlaced_clip_is_deinterlaced_with_its_fields_swapped(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, folder: Path,
    truth: Path, tmp_path: Path,
) -> None:
    woven = corpus.interlaced(folder / "tff-for-180.mkv", truth, "tff")
    source = folder / "tff-180.mp4"  # autorotate flips it first: the top field is then bottom
    corpus.ffmpeg("-i", str(woven), "-c", "copy", "-metadata:s:v:0", "rotate=180", str(source))
    _, out = encode(run_job, s3_server, source, bucket, tmp_path, {})
    assert viewer.combed_frames(out)[0] <= 2
    # With the wrong parity bwdif interpolates from the later field: about 0.95 here.
    assert viewer.ssim(truth, out, source_frame=10, output_frame=5,
                       source_filters="hflip,vflip") >= 0.98


def test_variable_frame_rate_stays_variable_without_duplicated_frames(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, folder: Path,
    tmp_path: Path,
) -> None:
    source = corpus.variable_rate(folder / "vfr.mp4")  # 60 frames over 3.4 s
    _, out = encode(run_job, s3_server, source, bucket, tmp_path, {})
    assert viewer.frame_count(out) == viewer.frame_count(source) == 60
    stream = viewer.video(out)
    assert stream["avg_frame_rate"] != stream["r_frame_rate"]  # still variable
    assert float(stream["duration"]) == pytest.approx(float(viewer.video(source)["duration"]),
                                                      abs=0.1)
    # The slow part is where it was: frame 40 at 1 + 10/12 s.
    assert viewer.ssim(source, out, source_frame=40, output_frame=40) >= viewer.MIN_SSIM


def test_frame_rate_fixes_and_max_frame_rate_caps(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, folder: Path,
    tmp_path: Path,
) -> None:
    source = corpus.progressive(folder / "p50.mp4", rate=50, seconds=2.0)
    _, fixed = encode(run_job, s3_server, source, bucket, tmp_path, {"frameRate": 25})
    assert viewer.video(fixed)["avg_frame_rate"] == "25/1"
    assert viewer.frame_count(fixed) == 50
    _, capped = encode(run_job, s3_server, source, bucket, tmp_path / "c",
                       {"maxFrameRate": 29.97})
    assert viewer.video(capped)["avg_frame_rate"] == "30000/1001"
    _, kept = encode(run_job, s3_server, source, bucket, tmp_path / "k", {"maxFrameRate": 60})
    assert viewer.frame_count(kept) == 100 and viewer.video(kept)["avg_frame_rate"] == "50/1"
