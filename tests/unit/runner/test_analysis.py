"""Source analysis: rotation, displayed size, field order (flag or idet), rate, colour and HDR.

ffprobe and FFmpeg answers are canned at the `seams.ProcessRunner` seam; the
functional tests run the same code on real generated files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.runner import fakes
from transcode_runner.domain import colorimetry, errors, interlace, media
from transcode_runner.io import idet, mediaprobe, seams

VIDEO: dict[str, Any] = {"codec_type": "video", "codec_name": "h264", "width": 1280,
                         "height": 720, "avg_frame_rate": "30/1", "r_frame_rate": "30/1",
                         "field_order": "progressive", "pix_fmt": "yuv420p", "nb_frames": "90"}
FRAME_SIDE = {"frames": [{"side_data_list": [
    {"side_data_type": "Mastering display metadata", "red_x": "34000/50000",
     "red_y": "16000/50000", "green_x": "13250/50000", "green_y": "34500/50000",
     "blue_x": "7500/50000", "blue_y": "3000/50000", "white_point_x": "15635/50000",
     "white_point_y": "16450/50000", "min_luminance": "1/10000",
     "max_luminance": "10000000/10000"},
    {"side_data_type": "Content light level metadata", "max_content": 1000, "max_average": 400},
    {"side_data_type": "HDR Dynamic Metadata SMPTE2094-40 (HDR10+)"},
]}]}
IDET_TFF = ("[Parsed_idet_0 @ 0x5] Single frame detection: TFF: 30 BFF: 0 Progressive: 2\n"
            "[Parsed_idet_0 @ 0x5] Multi frame detection: TFF:    40 BFF:     0 "
            "Progressive:     1 Undetermined:     3\n")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.mp4"
    path.write_bytes(b"\0" * 1000)
    return path


def analyse(runner: fakes.FakeRunner, path: Path, **stream: Any) -> media.MediaInfo:
    data = {"streams": [{**VIDEO, **stream}], "format": {"format_name": "mov,mp4",
                                                          "duration": "3.0"}}
    runner.on_run(lambda argv: "-show_frames" in argv,
                  seams.Completed(0, json.dumps(FRAME_SIDE), ""))
    runner.on_run(lambda argv: "idet" in argv, seams.Completed(0, "", IDET_TFF))
    runner.on_run(lambda argv: argv[0] == "ffprobe", seams.Completed(0, json.dumps(data), ""))
    return mediaprobe.inspect_source(path, runner, "ffprobe", 5, ffmpeg="ffmpeg")


@pytest.mark.parametrize(("side", "clockwise", "shown"), [
    (90, 270, (720.0, 1280.0)), (-90, 90, (720.0, 1280.0)), (180, 180, (1280.0, 720.0)),
    (-180, 180, (1280.0, 720.0)), (0, 0, (1280.0, 720.0)),
])
def test_rotation_from_the_display_matrix(runner: fakes.FakeRunner, source: Path, side: int,
                                          clockwise: int, shown: tuple[float, float]) -> None:
    info = analyse(runner, source, side_data_list=[
        {"side_data_type": "Display Matrix", "rotation": side}])
    assert (info.rotation, info.display_size) == (clockwise, shown)


def test_rotation_not_a_multiple_of_90_is_bad_input(runner: fakes.FakeRunner,
                                                    source: Path) -> None:
    with pytest.raises(errors.BadInput, match="rotated by 315 degrees") as caught:
        analyse(runner, source, side_data_list=[{"side_data_type": "Display Matrix",
                                                 "rotation": 45}])
    assert caught.value.reason == "UnsupportedRotation" and caught.value.exit_code == 65


def test_anamorphic_and_rotated_display_size(runner: fakes.FakeRunner, source: Path) -> None:
    info = analyse(runner, source, width=720, height=576, sample_aspect_ratio="32:27",
                   side_data_list=[{"rotation": -90}])
    assert info.display_size == pytest.approx((576.0, 720 * 32 / 27))


@pytest.mark.parametrize(("flag", "order"), [
    ("progressive", interlace.FieldOrder.PROGRESSIVE), ("tt", interlace.FieldOrder.TFF),
    ("tb", interlace.FieldOrder.TFF), ("bb", interlace.FieldOrder.BFF),
    ("bt", interlace.FieldOrder.BFF),
])
def test_field_order_flag_decides_without_idet(runner: fakes.FakeRunner, source: Path,
                                               flag: str, order: interlace.FieldOrder) -> None:
    assert analyse(runner, source, field_order=flag).field_order == order
    assert not any("idet" in argv for argv in runner.ran)


@pytest.mark.parametrize("flag", [None, "unknown"])
def test_missing_field_order_is_decided_by_idet(runner: fakes.FakeRunner, source: Path,
                                                flag: str | None) -> None:
    info = analyse(runner, source, field_order=flag)
    assert info.field_order == interlace.FieldOrder.TFF and info.interlaced
    (sample_run,) = [argv for argv in runner.ran if "idet" in argv]
    assert sample_run[sample_run.index("-frames:v") + 1] == str(idet.SAMPLE_FRAMES)
    assert sample_run[sample_run.index("-i") + 1] == "file:" + str(source)


def test_idet_needs_a_clear_majority() -> None:
    assert interlace.parse_idet(IDET_TFF) == interlace.FieldOrder.TFF
    assert interlace.parse_idet("Multi frame detection: TFF: 1 BFF: 30 Progressive: 0"
                                ) == interlace.FieldOrder.BFF
    assert interlace.parse_idet("Multi frame detection: TFF: 10 BFF: 0 Progressive: 40"
                                ) == interlace.FieldOrder.PROGRESSIVE
    assert interlace.parse_idet("no idet here") == interlace.FieldOrder.PROGRESSIVE


def test_variable_frame_rate(runner: fakes.FakeRunner, source: Path) -> None:
    info = analyse(runner, source, avg_frame_rate="1800/103", r_frame_rate="30/1")
    assert info.variable_frame_rate and info.frame_rate == 30
    assert not analyse(fakes.FakeRunner(), source).variable_frame_rate


def test_hdr10_with_static_and_dynamic_metadata(runner: fakes.FakeRunner, source: Path) -> None:
    info = analyse(runner, source, codec_name="hevc", pix_fmt="yuv420p10le",
                   color_primaries="bt2020", color_transfer="smpte2084",
                   color_space="bt2020nc", color_range="tv")
    assert info.colour == colorimetry.BT2020_PQ and info.bit_depth == 10
    assert info.hdr.kind == colorimetry.HdrKind.HDR10 and info.hdr.hdr10_plus
    assert info.hdr.light_level == colorimetry.LightLevel(1000, 400)
    assert info.hdr.mastering is not None
    assert info.hdr.mastering.x265() == (
        "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)")


def test_sdr_8_bit_source_reads_no_frame(runner: fakes.FakeRunner, source: Path) -> None:
    info = analyse(runner, source)
    assert info.hdr.kind == colorimetry.HdrKind.SDR and info.colour.primaries is None
    assert not any("-show_frames" in argv for argv in runner.ran)


def test_dolby_vision_and_hlg(runner: fakes.FakeRunner, source: Path) -> None:
    info = analyse(runner, source, codec_name="hevc", pix_fmt="p010le",
                   color_transfer="arib-std-b67",
                   side_data_list=[{"side_data_type": "DOVI configuration record"}])
    assert info.hdr.kind == colorimetry.HdrKind.HLG and info.hdr.dolby_vision
    assert info.bit_depth == 10


@pytest.mark.parametrize(("stream", "reason"), [
    ({"codec_name": None}, "UndecodableVideo"),
    ({"nb_frames": "0"}, "NoVideoFrames"),
])
def test_sources_that_cannot_be_rendered(runner: fakes.FakeRunner, source: Path,
                                         stream: dict[str, Any], reason: str) -> None:
    with pytest.raises(errors.BadInput) as caught:
        analyse(runner, source, **stream)
    assert caught.value.reason == reason
