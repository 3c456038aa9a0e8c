"""Outputs are shown the way the source is shown: rotation, pixel aspect, odd sizes, 4K, no upscale.

Each source comes from dev/corpus.py; each output is fetched from the real
S3 server and judged with FFmpeg (tests/functional/runner/viewer.py): its
displayed aspect equals the source's within 1 %, it carries no rotation of its
own, and one frame scores SSIM >= 0.90 against FFmpeg's autorotated rendering
of the same source frame at the output's size.
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
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shape")


def encode(run_job: Callable[..., Run], source: Path, bucket: str, video: dict[str, Any],
           container: str = "mp4") -> Run:
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "out", "destination": f"s3://{bucket}/{source.stem}.{container}",
                     "container": container, "video": {"preset": "ultrafast", **video}}],
    })
    assert run.code == 0, run.stderr[-3000:]
    return run


def output_file(run: Run, server: s3server.S3Server, folder: Path) -> Path:
    return fetch(server, run.result["outputs"][0]["url"], folder)


@pytest.mark.parametrize(("degrees", "portrait"), [(90, True), (270, True), (180, False)])
def test_rotated_phone_clip_comes_out_upright_at_its_displayed_size(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, sources: Path,
    tmp_path: Path, degrees: int, portrait: bool,
) -> None:
    source = corpus.rotated(sources / f"rot{degrees}.mp4", degrees)  # coded 1280x720
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": rung, "destination": f"s3://{bucket}/rot{degrees}-{rung}.mp4",
                     "video": {"preset": "ultrafast", "resolution": rung}}
                    for rung in ("720p", "360p")],
    })
    assert run.code == 0, run.stderr[-3000:]
    expected = {"720p": (1280, 720), "360p": (640, 360)}
    for result in run.result["outputs"]:
        size = expected[result["name"]][::-1] if portrait else expected[result["name"]]
        out = fetch(s3_server, result["url"], tmp_path)
        stream = viewer.video(out)
        assert (stream["width"], stream["height"]) == size
        assert (result["width"], result["height"]) == size
        assert viewer.rotation(stream) == 0  # no stale rotation: players show it as stored
        assert viewer.displayed_aspect(stream) == pytest.approx(
            viewer.displayed_aspect(viewer.video(source)), rel=0.01)
        assert viewer.ssim(source, out, source_frame=5, output_frame=5) >= viewer.MIN_SSIM
        assert "messages" not in result  # 720p of a 720-line-wide clip is no upscale


def test_full_range_source_comes_out_limited_range_bt709(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, sources: Path,
    tmp_path: Path,
) -> None:
    source = corpus.full_range(sources / "camera.mp4")
    out = output_file(encode(run_job, source, bucket, {}), s3_server, tmp_path)
    stream = viewer.video(out)
    assert (stream["pix_fmt"], stream["color_range"], stream["color_space"]) == (
        "yuv420p", "tv", "bt709")
    assert viewer.ssim(source, out, source_frame=5, output_frame=5) >= viewer.MIN_SSIM


def test_anamorphic_sd_gets_square_pixels_and_is_not_upscaled(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, sources: Path,
    tmp_path: Path,
) -> None:
    source = corpus.anamorphic(sources / "anamorphic.mp4", sar="32/27")  # 720x576 shown 853x576
    run = encode(run_job, source, bucket, {"resolution": "720p"})
    out = output_file(run, s3_server, tmp_path)
    stream = viewer.video(out)
    assert (stream["width"], stream["height"]) == (854, 576)
    assert stream.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")
    assert viewer.displayed_aspect(stream) == pytest.approx(720 * 32 / 27 / 576, rel=0.01)
    assert viewer.ssim(source, out, source_frame=10, output_frame=10) >= viewer.MIN_SSIM
    assert run.result["outputs"][0]["messages"] == [
        "NotUpscaled: source has 576 lines, 720p asked; the output keeps the source size"]
    assert run.result["message"] == ("1 output(s) uploaded and verified; notes: out NotUpscaled "
                                     "(see outputs[].messages)")


def test_odd_sized_source_keeps_its_shape(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, sources: Path,
    tmp_path: Path,
) -> None:
    source = corpus.progressive(sources / "odd.mp4", size="641x361")
    out = output_file(encode(run_job, source, bucket, {}), s3_server, tmp_path)
    stream = viewer.video(out)
    assert stream["width"] % 2 == 0 and stream["height"] % 2 == 0
    assert viewer.displayed_aspect(stream) == pytest.approx(641 / 361, rel=0.01)
    assert viewer.ssim(source, out, source_frame=3, output_frame=3) >= viewer.MIN_SSIM


def test_4k_source_down_to_240p_and_144p_rungs(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, sources: Path,
    tmp_path: Path,
) -> None:
    source = corpus.progressive(sources / "uhd.mp4", size="3840x2160", rate=10, seconds=1.0)
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": rung, "destination": f"s3://{bucket}/uhd-{rung}.mp4",
                     "video": {"preset": "ultrafast", "resolution": rung}}
                    for rung in ("240p", "144p")],
    })
    assert run.code == 0, run.stderr[-3000:]
    sizes = {}
    for result in run.result["outputs"]:
        out = fetch(s3_server, result["url"], tmp_path)
        stream = viewer.video(out)
        sizes[result["name"]] = (stream["width"], stream["height"])
        assert viewer.ssim(source, out, source_frame=4, output_frame=4) >= viewer.MIN_SSIM
        assert "messages" not in result
    assert sizes == {"240p": (426, 240), "144p": (256, 144)}
