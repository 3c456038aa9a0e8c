"""HDR as a viewer gets it: kept (10-bit, PQ/HLG tags, HDR10 metadata) or tone-mapped to BT.709.

Sources from dev/corpus.py: 10-bit HEVC BT.2020 with PQ and HDR10 static
metadata (mastering display, MaxCLL/MaxFALL), and HLG. `video.hdr: auto` keeps
HDR in HEVC/AV1 and tone-maps for H.264; `tonemap` always gives SDR. Each
output's tags, bit depth and first-frame side data are read back with ffprobe;
kept outputs are compared with FFmpeg's rendering of the source (SSIM).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from dev import corpus
from dev.services import s3server
from tests.functional.runner import viewer
from tests.functional.runner.conftest import Run, fetch


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hdr")


@pytest.fixture(scope="module")
def pq(folder: Path) -> Path:
    return corpus.hdr(folder / "hdr10.mkv", "smpte2084")


@pytest.fixture(scope="module")
def hlg(folder: Path) -> Path:
    return corpus.hdr(folder / "hlg.mkv", "arib-std-b67")


def encode(run_job: Callable[..., Run], source: Path, bucket: str,
           outputs: dict[str, dict[str, Any]]) -> Run:
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": name, "destination": f"s3://{bucket}/{source.stem}-{name}.mkv",
                     "container": "mkv", "video": {"preset": "ultrafast", **video}}
                    for name, video in outputs.items()],
    })
    assert run.code == 0, run.stderr[-3000:]
    return run


def outputs(run: Run, server: s3server.S3Server, folder: Path) -> dict[str, tuple[Path, dict]]:
    return {o["name"]: (fetch(server, o["url"], folder), o) for o in run.result["outputs"]}


def tags(stream: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(stream.get(k)) for k in ("pix_fmt", "color_primaries", "color_transfer",
                                               "color_space", "color_range"))


def hdr10_metadata(path: Path) -> tuple[Any, ...]:
    """Mastering red and green xy, max/min luminance, MaxCLL, MaxFALL of the first frame."""
    side = {s["side_data_type"]: s for s in viewer.first_frame(path).get("side_data_list", [])}
    master, light = side["Mastering display metadata"], side["Content light level metadata"]

    def value(key: str, places: int = 3) -> float:
        return round(float(Fraction(master[key])), places)

    return ((value("red_x"), value("red_y")), (value("green_x"), value("green_y")),
            value("max_luminance", 1), value("min_luminance", 4), light["max_content"],
            light["max_average"])


def test_hdr10_kept_in_hevc_av1_and_vp9_tone_mapped_for_h264(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, pq: Path,
    tmp_path: Path,
) -> None:
    run = encode(run_job, pq, bucket, {"hevc": {"codec": "hevc"}, "av1": {"codec": "av1"},
                                       "vp9": {"codec": "vp9"}, "h264": {"codec": "h264"}})
    got = outputs(run, s3_server, tmp_path)
    for name in ("hevc", "av1"):
        kept, result = got[name]
        assert tags(viewer.video(kept)) == ("yuv420p10le", "bt2020", "smpte2084", "bt2020nc",
                                            "tv")
        assert hdr10_metadata(kept) == ((0.68, 0.32), (0.265, 0.69), 1000.0, 0.0001, 1000, 400)
        assert viewer.ssim(pq, kept, source_frame=5, output_frame=5) >= viewer.MIN_SSIM
        assert "messages" not in result

    vp9, vp9_result = got["vp9"]  # VP9 profile 2: HDR kept, metadata not (said so)
    stream = viewer.video(vp9)
    assert tags(stream) == ("yuv420p10le", "bt2020", "smpte2084", "bt2020nc", "tv")
    assert stream["profile"] == "Profile 2"
    assert vp9_result["messages"][0].startswith("HDRMetadataNotCarried: libvpx-vp9")

    h264, h264_result = got["h264"]
    assert tags(viewer.video(h264)) == ("yuv420p", "bt709", "bt709", "bt709", "tv")
    assert h264_result["messages"] == [
        "ToneMapped: HDR10 source tone-mapped to SDR BT.709 (h264 output is 8-bit)"]


def test_hlg_kept_in_hevc_and_tone_mapped_when_asked(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, hlg: Path,
    tmp_path: Path,
) -> None:
    run = encode(run_job, hlg, bucket, {"kept": {"codec": "hevc", "hdr": "preserve"},
                                        "sdr": {"codec": "hevc", "hdr": "tonemap"}})
    got = outputs(run, s3_server, tmp_path)
    kept, _ = got["kept"]
    assert tags(viewer.video(kept)) == ("yuv420p10le", "bt2020", "arib-std-b67", "bt2020nc",
                                        "tv")
    assert viewer.ssim(hlg, kept, source_frame=5, output_frame=5) >= viewer.MIN_SSIM
    sdr, sdr_result = got["sdr"]
    assert tags(viewer.video(sdr)) == ("yuv420p", "bt709", "bt709", "bt709", "tv")
    assert sdr_result["messages"] == [
        "ToneMapped: HLG source tone-mapped to SDR BT.709 (hdr tonemap asked)"]
