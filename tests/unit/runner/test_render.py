"""What each output looks like: displayed size, never upscaled, HDR policy, colour, timing.

(The frame-size cases moved here from test_plan.py with `plan.frame_size`,
now `render.frame_size`, which also returns the NotUpscaled note.)
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from tests.unit.runner import fakes
from transcode_runner.domain import colorimetry, interlace, media, render

SOURCE = fakes.SOURCE
MASTER = colorimetry.Mastering((0.68, 0.32), (0.265, 0.69), (0.15, 0.06), (0.3127, 0.329),
                               0.0001, 1000.0)
HDR10 = replace(SOURCE, video_codec="hevc",
                colour=colorimetry.Colour("bt2020", colorimetry.PQ, "bt2020nc", "tv", 10),
                hdr=colorimetry.Hdr(colorimetry.HdrKind.HDR10, MASTER,
                                    colorimetry.LightLevel(1000, 400)))
HLG = replace(HDR10, colour=colorimetry.Colour("bt2020", colorimetry.HLG, "bt2020nc", "tv", 10),
              hdr=colorimetry.Hdr(colorimetry.HdrKind.HLG))


def video(**kv: Any) -> Any:
    return fakes.job({"video": kv}).outputs[0].video


def size(source: media.MediaInfo, **kv: Any) -> tuple[int, int]:
    width, height, _ = render.frame_size(video(**kv), source)
    return width, height


@pytest.mark.parametrize(("spec", "expected"), [
    ({"resolution": "720p"}, (1280, 720)),
    ({"resolution": "2160p"}, (1920, 1080)),  # never upscaled
    ({"resolution": "240p"}, (426, 240)),
    ({"resolution": "144p"}, (256, 144)),
    ({"width": 640}, (640, 360)),
    ({"height": 400}, (712, 400)),
    ({"width": 1000, "height": 1000}, (1000, 562)),  # fits the box, aspect kept, even
    ({}, (1920, 1080)),
])
def test_frame_size_keeps_aspect_even_and_no_upscale(spec: dict[str, Any],
                                                     expected: tuple[int, int]) -> None:
    assert size(SOURCE, **spec) == expected


def test_sizes_come_from_the_displayed_frame() -> None:
    assert size(replace(SOURCE, width=1080, height=1920), resolution="720p") == (720, 1280)
    for degrees in (90, 270):  # a phone clip coded landscape, shown portrait
        assert size(replace(SOURCE, width=1280, height=720, rotation=degrees),
                    resolution="720p") == (720, 1280)
    assert size(replace(SOURCE, width=1280, height=720, rotation=180),
                resolution="360p") == (640, 360)
    assert size(replace(SOURCE, width=641, height=361)) == (642, 362)
    dvd = replace(SOURCE, width=720, height=576, sample_aspect=Fraction(64, 45))
    assert size(dvd) == (1024, 576)
    rotated_dvd = replace(dvd, rotation=90)
    assert size(rotated_dvd) == (576, 1024)


def test_not_upscaled_is_said() -> None:
    pal = replace(SOURCE, width=720, height=576, sample_aspect=Fraction(16, 15))
    _, _, note = render.frame_size(video(resolution="720p"), pal)
    assert note == "NotUpscaled: source has 576 lines, 720p asked; the output keeps the source size"
    _, _, note = render.frame_size(video(width=3840), SOURCE)
    assert note == ("NotUpscaled: source is 1920x1080, width 3840 asked; "
                    "the output keeps the source size")
    assert render.frame_size(video(resolution="1080p"), SOURCE)[2] is None
    assert render.decide(video(resolution="720p"), "libx264", pal).messages == (
        "NotUpscaled: source has 576 lines, 720p asked; the output keeps the source size",)


@pytest.mark.parametrize(("encoder", "hdr", "kept"), [
    ("libx265", None, True), ("libsvtav1", None, True), ("libvpx-vp9", None, True),
    ("hevc_nvenc", None, True), ("libx264", None, False), ("h264_nvenc", None, False),
    ("libx265", "tonemap", False), ("libx265", "preserve", True),
])
def test_hdr_policy(encoder: str, hdr: str | None, kept: bool) -> None:
    look = render.decide(video(encoder=encoder, hdr=hdr) if hdr else video(encoder=encoder),
                         encoder, HDR10)
    assert look.tonemap is not kept
    if kept:
        assert (look.colour, look.pix_fmt) == (colorimetry.BT2020_PQ, "yuv420p10le")
    else:
        assert (look.colour, look.pix_fmt) == (colorimetry.SDR_BT709, "yuv420p")
        assert look.messages[0].startswith("ToneMapped: HDR10 source tone-mapped to SDR BT.709")


def test_hdr10_static_metadata_goes_to_x265_and_its_absence_is_said_elsewhere() -> None:
    x265 = render.decide(video(codec="hevc"), "libx265", HDR10)
    assert x265.hdr.mastering == MASTER and x265.messages == ()
    params = colorimetry.x265_hdr_params(x265.colour, x265.hdr)
    assert ("master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
            "L(10000000,1)") in params and "max-cll=1000,400" in params and "hdr10=1" in params
    svt = render.decide(video(codec="av1"), "libsvtav1", HDR10)
    assert svt.hdr.mastering == MASTER and svt.messages == ()
    assert colorimetry.svt_av1_hdr_params(svt.hdr) == [
        "mastering-display=G(0.2650,0.6900)B(0.1500,0.0600)R(0.6800,0.3200)"
        "WP(0.3127,0.3290)L(1000.0000,0.0001)", "content-light=1000,400"]
    vp9 = render.decide(video(codec="vp9"), "libvpx-vp9", HDR10)
    assert vp9.hdr.kind == colorimetry.HdrKind.HDR10 and vp9.hdr.mastering is None
    assert vp9.messages[0].startswith("HDRMetadataNotCarried: libvpx-vp9 output is HDR10")
    hlg = render.decide(video(codec="hevc"), "libx265", HLG)
    assert hlg.colour == colorimetry.BT2020_HLG and hlg.messages == ()


def test_dynamic_metadata_is_never_dropped_silently() -> None:
    dv = replace(HDR10, hdr=replace(HDR10.hdr, dolby_vision=True, hdr10_plus=True))
    notes = render.decide(video(codec="hevc"), "libx265", dv).messages
    assert [n.split(":")[0] for n in notes] == ["DolbyVisionDropped", "HDR10PlusDropped"]


def test_sdr_colour_is_converted_to_bt709_limited_range() -> None:
    assert render.decide(video(), "libx264", SOURCE).convert_from is None  # HD, untagged
    pal = replace(SOURCE, width=720, height=576)
    ntsc = replace(SOURCE, width=720, height=480)
    tagged = replace(SOURCE, colour=colorimetry.Colour("bt470bg", "bt709", "bt470bg", "tv"))
    full = replace(SOURCE, colour=colorimetry.Colour("bt709", "bt709", "bt709", "pc"))
    assert render.decide(video(), "libx264", pal).convert_from == "bt601-6-625"
    assert render.decide(video(), "libx264", ntsc).convert_from == "bt601-6-525"
    assert render.decide(video(), "libx264", tagged).convert_from == "bt601-6-625"
    look = render.decide(video(), "libx264", full)
    assert (look.convert_from, look.in_full_range) == ("bt709", True)
    assert look.colour == colorimetry.SDR_BT709


def test_timing_is_kept_unless_a_rate_is_fixed_or_capped() -> None:
    assert render.decide(video(), "libx264", SOURCE).fps_mode == render.FpsMode.VFR
    fixed = render.decide(video(frameRate=23.976), "libx264", SOURCE)
    assert (fixed.frame_rate, fixed.fps_mode) == (Fraction(24000, 1001), render.FpsMode.CFR)
    fast = replace(SOURCE, fps=59.94, frame_rate=Fraction(60000, 1001))
    assert render.decide(video(maxFrameRate=30), "libx264", fast).frame_rate == 30
    assert render.decide(video(maxFrameRate=60), "libx264", fast).frame_rate is None
    assert render.decide(video(maxFrameRate=59.94), "libx264", fast).frame_rate is None
    assert render.exact_rate(12.5) == Fraction(25, 2)


def test_interlaced_sources_are_deinterlaced_with_their_parity() -> None:
    bff = replace(SOURCE, field_order=interlace.FieldOrder.BFF)
    assert render.decide(video(), "libx264", bff).deinterlace == interlace.FieldOrder.BFF
    assert render.decide(video(), "libx264", SOURCE).deinterlace is None
