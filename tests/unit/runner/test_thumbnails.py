"""Thumbnails in the plan: branches of the one graph, storyboard arithmetic, preview clips.

What a viewer would notice if these were wrong: a sideways or stretched poster
(size from the coded frame), a washed-out poster of an HDR film (no tone map),
combing (no deinterlacer), a scrubbing thumbnail that shows the wrong moment or
none at all (cue times, regions, a gap between cues), a preview with the wrong
number of frames, a second decode of the source (twice the CPU), or a poster
that never appears because the graph has no branch for it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.unit.runner import fakes
from transcode_api import spec, thumbnails
from transcode_runner.domain import (
    colorimetry,
    errors,
    graph,
    interlace,
    plan,
    storyboard,
    thumbplan,
    webpanim,
)

SDR = fakes.SOURCE  # 1920x1080, 25 fps, 60 s
PHONE = replace(SDR, width=1280, height=720, rotation=90)
HDR10 = replace(SDR, video_codec="hevc", pix_fmt="yuv420p10le",
                colour=colorimetry.Colour("bt2020", colorimetry.PQ, "bt2020nc", "tv", 10),
                hdr=colorimetry.Hdr(colorimetry.HdrKind.HDR10))
SCRATCH = Path("/scratch/attempt")


def _job(**thumbs: Any) -> spec.TranscodeJobSpec:
    return spec.parse_spec({
        "source": "s3://media-in/trailer.mov", "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "720p", "destination": "s3://media-out/720p.mp4",
                     "video": {"resolution": "720p"}}],
        "thumbnails": {"destination": "s3://media-out/pictures/", **thumbs}})


def _argv(job: spec.TranscodeJobSpec, source: Any = SDR, decode: graph.Decode = graph.CPU
          ) -> list[str]:
    built = plan.build(job, source, plan.choose(job, None), SCRATCH, decode=decode)
    return list(built.passes[-1])


def _graph(argv: list[str]) -> str:
    return argv[argv.index("-filter_complex") + 1]


def _branch(argv: list[str], i: int) -> str:
    """Branch `i` of the graph: from its `[s<i>]` input to its `[v<i>]` output."""
    text = _graph(argv)
    return text[text.index(f";[s{i}]") + 1:text.index(f"[v{i}]") + len(f"[v{i}]")]


def test_every_picture_is_a_branch_of_the_one_decode_after_the_video_outputs() -> None:
    argv = _argv(_job(poster={}, sprite={}, preview={}))
    assert argv.count("-i") == 1
    text = _graph(argv)
    assert text.startswith("[0:v:0]split=4[s0][s1][s2][s3];")
    files = [a.rsplit("/", 1)[-1] for a in argv if a.startswith("file:")][1:]
    assert files == ["out-720p.mp4", "thumb-poster.jpg", "tile-%04d.png", "frame-%04d.png"]
    maps = [argv[i + 1] for i, a in enumerate(argv) if a == "-map" and argv[i + 1][0] == "["]
    assert maps == ["[v0]", "[v1]", "[v2]", "[v3]"]


def test_a_portrait_phone_clip_gives_portrait_pictures() -> None:
    thumbs = thumbplan.build(_job(poster={"width": 360}, sprite={"tileWidth": 160},
                                  preview={"width": 180}).thumbnails, PHONE, SCRATCH)  # type: ignore[arg-type]
    poster, sprite, preview = thumbs.products
    assert (poster.width, poster.height) == (360, 640)
    assert (thumbs.board.tile_width, thumbs.board.tile_height) == (160, 284)  # type: ignore[union-attr]
    assert (preview.width, preview.height) == (180, 320)


def test_pictures_are_never_upscaled_and_keep_the_displayed_aspect() -> None:
    small = replace(SDR, width=720, height=576, sample_aspect=Fraction(16, 15))
    poster = thumbplan.build(_job(poster={"width": 3840}).thumbnails, small, SCRATCH).products[0]  # type: ignore[arg-type]
    assert (poster.width, poster.height) == (768, 576)  # 720 x 16/15 shown, not 3840 wide


def test_hdr_pictures_are_tone_mapped_with_the_video_chain_and_leave_as_rgb() -> None:
    branch = _branch(_argv(_job(poster={"atSeconds": 5}), HDR10), 1)
    main = branch[branch.index(";[l1b]"):]
    assert "tonemap=tonemap=hable" in main and "zscale=t=bt709:m=bt709:r=limited" in main
    assert main.index("select=") < main.index("scale=")  # only the chosen frame is mapped
    assert branch.endswith("concat=n=2:v=1:a=0,scale=in_color_matrix=bt709:in_range=tv,"
                           "format=rgb24[v1]")


def test_an_interlaced_source_is_deinterlaced_once_before_the_split() -> None:
    source = replace(SDR, field_order=interlace.FieldOrder.TFF)
    text = _graph(_argv(_job(sprite={}), source))
    assert text.count("bwdif") == 1 and text.index("bwdif") < text.index("split=")


def test_every_picture_sends_its_first_frame_at_once_so_progress_is_reported() -> None:
    argv = _argv(_job(poster={}, sprite={}, preview={}))
    for i in (1, 2, 3):  # FFmpeg 5.1 reports nothing until every output has had a frame
        branch = _branch(argv, i)
        assert branch.startswith(f"[s{i}]split=2[l{i}a][l{i}b];[l{i}a]trim=end_frame=1,")
        assert f"[l{i}d][l{i}m]concat=n=2:v=1:a=0" in branch
    tiles = argv[argv.index("[v2]") + 1:argv.index("[v3]") - 1]
    assert ["-start_number", "0"] == tiles[-3:-1]  # 0000 is that frame, tiles from 0001


def test_gpu_frames_are_downloaded_before_a_picture_picks_its_frames() -> None:
    decode = graph.Decode(gpu=True, device=0)
    branch = _branch(_argv(_job(sprite={}), decode=decode), 1)
    main = branch[branch.index(";[l1b]"):]
    assert main.index("scale_cuda") < main.index("hwdownload") < main.index("select=")


def test_the_poster_is_the_thumbnail_filters_choice_among_frames_spread_over_the_video() -> None:
    branch = _branch(_argv(_job(poster={})), 1)
    n = thumbnails.POSTER_CANDIDATES
    assert f"select=lt(selected_n\\,{n})*gte(t\\,selected_n*1.2)" in branch  # 60 s / 50
    assert f"thumbnail=n={n}[l1m]" in branch  # the lead frame is no candidate


def test_a_poster_time_past_the_end_takes_the_last_half_second() -> None:
    branch = _branch(_argv(_job(poster={"atSeconds": 600})), 1)
    assert "select=eq(selected_n\\,0)*gte(t\\,59.500)" in branch


def test_the_poster_file_is_written_again_and_sheets_are_laid_out_from_the_tiles() -> None:
    job = _job(poster={"format": "webp"}, sprite={"format": "jpeg", "columns": 4, "rows": 3})
    argv = _argv(job)
    poster = argv[argv.index("[v1]") + 1:argv.index("[v2]") - 1]
    assert poster[:2] == ["-c:v", "libwebp"] and ["-update", "1"] == poster[-3:-1]
    thumbs = thumbplan.build(job.thumbnails, SDR, SCRATCH)  # type: ignore[arg-type]
    sprite, board = thumbs.get("sprite"), thumbs.board
    assert sprite is not None and board is not None
    sheets = thumbplan.sheets_argv("ffmpeg", sprite, board)
    assert sheets[sheets.index("-start_number") + 1] == "1"  # after the lead frame
    assert sheets[sheets.index("-frames:v") + 1] == str(board.tiles) == "6"  # 60 s / 10 s
    assert "tile=4x2:padding=0:margin=0" in sheets  # 6 tiles need 2 of the 3 rows
    assert sheets[-1].endswith("/sprite-%03d.jpg") and "mjpeg" in sheets
    assert sheets.count("-i") == 1 and sheets[sheets.index("-i") + 1].endswith("tile-%04d.png")


def test_the_gif_preview_builds_its_own_palette_from_the_picked_frames() -> None:
    job = _job(preview={"format": "gif", "seconds": 2, "fps": 5})
    assert re.search(r"select=between\(n\\,\d+\\,\d+\)", _branch(_argv(job), 1))
    preview = thumbplan.build(job.thumbnails, SDR, SCRATCH).products[0]  # type: ignore[arg-type]
    played = thumbplan.preview_argv("ffmpeg", preview, 5)
    assert "palettegen=stats_mode=full" in played[played.index("-filter_complex") + 1]
    assert played[played.index("-framerate") + 1] == "5"
    assert played[played.index("-frames:v") + 1] == "10" and played[-1].endswith("preview.gif")


def test_two_pass_outputs_leave_the_pictures_to_the_real_pass() -> None:
    job = spec.parse_spec({**_job(poster={}).to_dict(), "outputs": [
        {"name": "hq", "destination": "s3://media-out/hq.mp4",
         "video": {"twoPass": True, "bitrate": 2_000_000}}]})
    built = plan.build(job, SDR, plan.choose(job, None), SCRATCH)
    assert len(built.passes) == 2
    assert "thumb-poster.jpg" not in " ".join(built.passes[0])
    assert "thumb-poster.jpg" in " ".join(built.passes[1])


def test_a_source_without_a_duration_cannot_have_a_storyboard() -> None:
    with pytest.raises(errors.BadInput, match="duration"):
        thumbplan.build(_job(sprite={}).thumbnails, replace(SDR, duration=0.0), SCRATCH)  # type: ignore[arg-type]


def test_tiles_fall_at_each_interval_while_the_source_has_frames() -> None:
    board = storyboard.layout(12.0, 0.1, 2.0, 1000, 2, 2, 160, 90)
    assert (board.tiles, board.sheets, board.columns, board.rows) == (6, 2, 2, 2)
    assert storyboard.layout(10.0, 0.04, 2.0, 1000, 10, 10, 160, 90).tiles == 5  # no tile at 10 s
    short = storyboard.layout(3.0, 0.04, 1.0, 1000, 10, 10, 160, 90)
    assert (short.tiles, short.columns, short.rows) == (3, 3, 1)  # no sheet of black tiles


def test_a_long_source_gets_a_wider_interval_so_at_most_the_maximum_of_tiles() -> None:
    board = storyboard.layout(4 * 3600.0, 0.04, 1.0, thumbnails.MAX_TILES, 10, 10, 160, 90)
    assert board.widened and board.tiles <= thumbnails.MAX_TILES
    assert board.interval == pytest.approx(14.4)
    assert storyboard.layout(4 * 3600.0, 0.04, 30.0, 1000, 10, 10, 160, 90).widened is False


def test_cues_cover_the_whole_duration_and_point_at_their_regions() -> None:
    board = storyboard.layout(25.0, 0.04, 4.0, 1000, 3, 2, 160, 90)
    text = storyboard.vtt(board, "abc/sprite-{n:03d}.jpg")
    lines = text.splitlines()
    assert lines[:4] == ["WEBVTT", "", "00:00:00.000 --> 00:00:04.000",
                         "abc/sprite-000.jpg#xywh=0,0,160,90"]
    cues = storyboard.cues(board)
    assert [(c.sheet, c.x, c.y) for c in cues] == [
        (0, 0, 0), (0, 160, 0), (0, 320, 0), (0, 0, 90), (0, 160, 90), (0, 320, 90), (1, 0, 0)]
    assert all(a.end == b.start for a, b in zip(cues, cues[1:], strict=False))
    assert cues[-1].end == 25.0 and "00:00:24.000 --> 00:00:25.000" in text
    assert storyboard.timestamp(3725.5) == "01:02:05.500"


@pytest.mark.parametrize(("total", "frames", "clips"), [(600, 60, 3), (100, 95, 4), (10, 30, 3),
                                                        (1000, 7, 7), (50, 50, 1)])
def test_preview_clips_are_evenly_spaced_never_overlap_and_stay_in_the_video(
        total: int, frames: int, clips: int) -> None:
    windows = thumbplan.clip_starts(total, frames, clips)
    assert sum(c for _, c in windows) == min(frames, total)
    assert all(a + c <= b for (a, c), (b, _) in zip(windows, windows[1:], strict=False))
    assert windows[0][0] >= 0 and windows[-1][0] + windows[-1][1] <= total
    assert thumbplan.clip_starts(600, 60, 3) == [(90, 20), (290, 20), (490, 20)]


def _webp(frames: int, width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x02\x00\x00\x00" + (width - 1).to_bytes(
        3, "little") + (height - 1).to_bytes(3, "little")
    anmf = b"ANMF" + struct.pack("<I", 17) + bytes(12) + (100).to_bytes(3, "little") + b"\x00" + b"x"
    body = b"WEBP" + vp8x + (anmf + b"\x00") * frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_an_animated_webp_is_measured_from_its_chunks() -> None:
    assert webpanim.inspect(_webp(30, 180, 320)) == webpanim.Animation(180, 320, 30, 3000)
    with pytest.raises(ValueError, match="not a WebP"):
        webpanim.inspect(b"GIF89a....")
    with pytest.raises(ValueError, match="no animation frames"):
        webpanim.inspect(_webp(0, 8, 8))
