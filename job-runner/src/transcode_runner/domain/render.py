"""What one output should look like: size, fields, dynamic range, colour, pixels, timing.

`plan` calls `decide(video_spec, encoder, source)` for every output; `graph`
turns the resulting `Look` into filters and `encoders` into options. The
rules are DESIGN.md's "Media rules": sizes come from the *displayed* frame
(rotation and pixel aspect applied) and are never upscaled (the output says
`NotUpscaled`); interlaced sources are deinterlaced; HDR10/HLG is kept where
the codec carries 10 bits and `video.hdr` allows it, else tone-mapped to SDR
BT.709 (`ToneMapped`); Dolby Vision and HDR10+ dynamic metadata, which no
output keeps, are named in the messages; every output gets explicit colour
tags; the source's timing is kept (a VFR source stays VFR) unless
`frameRate`/`maxFrameRate` asks for a constant rate. Pure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from transcode_api import constants, output
from transcode_runner.domain import colorimetry, interlace, media

HdrMode = constants.HdrMode
_TEN_BIT_CODECS = frozenset({"hevc", "av1", "vp9"})
_HDR10_METADATA_ENCODERS = frozenset({"libx265", "libsvtav1"})
"""Encoders this runner can hand the mastering display and MaxCLL/MaxFALL to (FFmpeg 5.1)."""
# ffprobe matrix -> the `colorspace` filter's `iall` (matrix, primaries and transfer together).
_COLORSPACE_INPUT = {"bt709": "bt709", "smpte170m": "bt601-6-525", "bt470bg": "bt601-6-625",
                     "fcc": "bt601-6-525", "smpte240m": "smpte240m", "bt2020nc": "bt2020",
                     "bt2020c": "bt2020"}
_NTSC_RATES = (24, 30, 60, 120)


class FpsMode(enum.StrEnum):
    """FFmpeg's `-fps_mode` for the output's video stream."""

    VFR = "vfr"  # the source's timestamps, frames never duplicated
    CFR = "cfr"  # constant rate after an `fps` filter


@dataclass(frozen=True)
class Look:
    """The decisions for one output's picture."""

    width: int
    height: int
    deinterlace: interlace.FieldOrder | None
    """Parity to deinterlace with; None for a progressive source."""
    tonemap: bool
    """HDR source made SDR BT.709 (zscale + tonemap, on the CPU)."""
    colour: colorimetry.Colour
    """What the output is converted to and tagged with (bit depth included)."""
    hdr: colorimetry.Hdr
    """The output's dynamic range and the HDR10 static metadata it carries."""
    pix_fmt: str
    """yuv420p or yuv420p10le (p010le for 10-bit CUDA frames)."""
    convert_from: str | None
    """`colorspace` filter input (`iall`) of an SDR source that is not BT.709 limited
    range, converted to it; None when nothing is converted."""
    in_full_range: bool
    """The SDR source is full range (converted to limited)."""
    frame_rate: Fraction | None
    """Constant output rate (an `fps` filter); None keeps the source's timing."""
    fps_mode: FpsMode
    messages: tuple[str, ...] = ()


def decide(video: output.VideoSpec, encoder: str, source: media.MediaInfo) -> Look:
    """The `Look` of one output encoded with `encoder` from `source`."""
    width, height, note = frame_size(video, source)
    messages = [note] if note else []
    codec = constants.ENCODER_CODEC[encoder]
    mode = HdrMode(video.hdr) if video.hdr is not None else HdrMode.AUTO
    keep = source.hdr.is_hdr and mode != HdrMode.TONEMAP and codec in _TEN_BIT_CODECS
    tonemap = source.hdr.is_hdr and not keep
    hdr = colorimetry.Hdr()
    if keep:
        out_colour = (colorimetry.BT2020_PQ if source.hdr.kind == colorimetry.HdrKind.HDR10
                      else colorimetry.BT2020_HLG)
        hdr = colorimetry.Hdr(source.hdr.kind, source.hdr.mastering, source.hdr.light_level)
        has_static = source.hdr.mastering is not None or source.hdr.light_level is not None
        if has_static and encoder not in _HDR10_METADATA_ENCODERS:
            hdr = colorimetry.Hdr(source.hdr.kind)
            messages.append(f"HDRMetadataNotCarried: {encoder} output is {source.hdr.kind} "
                            "(BT.2020 tags) without the source's mastering display and "
                            "MaxCLL/MaxFALL (FFmpeg 5.1 cannot pass them to this encoder)")
    else:
        out_colour = colorimetry.SDR_BT709
    if tonemap:
        why = ("hdr tonemap asked" if mode == HdrMode.TONEMAP
               else f"{codec} output is 8-bit")
        messages.append(f"ToneMapped: {source.hdr.kind} source tone-mapped to SDR BT.709 "
                        f"({why})")
    messages += _dynamic_metadata_notes(source.hdr)
    rate, fps_mode = _timing(video, source)
    return Look(
        width=width,
        height=height,
        deinterlace=source.field_order if source.interlaced else None,
        tonemap=tonemap,
        colour=out_colour,
        hdr=hdr,
        pix_fmt="yuv420p10le" if keep else "yuv420p",
        convert_from=None if (keep or tonemap) else _sdr_input(source),
        in_full_range=source.colour.range == "pc" and not (keep or tonemap),
        frame_rate=rate,
        fps_mode=fps_mode,
        messages=tuple(messages),
    )


def frame_size(video: output.VideoSpec, source: media.MediaInfo) -> tuple[int, int, str | None]:
    """Output width, height (even, square pixels, displayed aspect kept) and a NotUpscaled note.

    A named resolution sets the short side of the displayed frame, so `720p`
    of a portrait 1280x720 clip rotated 90 degrees is 720x1280. Width and
    height together are a box the frame fits in. Nothing is ever upscaled.
    """
    src_w, src_h = (max(side, 2.0) for side in source.display_size)
    short = min(src_w, src_h)
    note = None
    if video.resolution is not None:
        target = float(constants.RESOLUTION_HEIGHTS[video.resolution.value])
        scale = target / short
        if scale > 1.0 and round(short) < target:
            note = (f"NotUpscaled: source has {round(short)} lines, {video.resolution.value} "
                    "asked; the output keeps the source size")
    elif video.width is not None and video.height is not None:
        scale = min(video.width / src_w, video.height / src_h)
        asked = f"{video.width}x{video.height}"
    elif video.width is not None:
        scale, asked = video.width / src_w, f"width {video.width}"
    elif video.height is not None:
        scale, asked = video.height / src_h, f"height {video.height}"
    else:
        scale = 1.0
    if video.resolution is None and scale > 1.0 + 1e-9:
        note = (f"NotUpscaled: source is {round(src_w)}x{round(src_h)}, {asked} asked; "
                "the output keeps the source size")
    scale = min(scale, 1.0)
    return _even(src_w * scale), _even(src_h * scale), note


def _even(value: float) -> int:
    return max(2, int(value / 2 + 0.5) * 2)


def _sdr_input(source: media.MediaInfo) -> str | None:
    """What an SDR source is, for the `colorspace` filter: None when it is BT.709 limited.

    An untagged source is taken as players take it: BT.709 when it is coded at
    least 1280 wide or 720 high, else BT.601 (625 lines for 576-line PAL, else 525).
    """
    matrix = source.colour.matrix
    if matrix is None:
        if source.width >= 1280 or source.height >= 720:
            found = "bt709"
        else:
            found = "bt601-6-625" if source.height == 576 else "bt601-6-525"
    else:
        found = _COLORSPACE_INPUT.get(matrix, "bt709")
    if found == "bt709" and source.colour.range != "pc":
        return None
    return found


def _timing(video: output.VideoSpec, source: media.MediaInfo) -> tuple[Fraction | None, FpsMode]:
    if video.frame_rate is not None:
        return exact_rate(video.frame_rate), FpsMode.CFR
    if video.max_frame_rate is not None:
        cap = exact_rate(video.max_frame_rate)
        base = source.frame_rate or (Fraction(source.fps) if source.fps else None)
        if base is not None and base > cap * Fraction(1001, 1000):
            return cap, FpsMode.CFR
    return None, FpsMode.VFR


def exact_rate(rate: float) -> Fraction:
    """29.97 -> 30000/1001 (and 23.976, 59.94, 119.88); other rates as written."""
    for nominal in _NTSC_RATES:
        ntsc = Fraction(nominal * 1000, 1001)
        if abs(float(ntsc) - rate) < 0.006:
            return ntsc
    return Fraction(rate).limit_denominator(1001)


def _dynamic_metadata_notes(hdr: colorimetry.Hdr) -> list[str]:
    notes = []
    if hdr.dolby_vision:
        notes.append("DolbyVisionDropped: the source's Dolby Vision dynamic metadata is not "
                     "carried; the output keeps the base layer only")
    if hdr.hdr10_plus:
        notes.append("HDR10PlusDropped: the source's HDR10+ dynamic metadata is not carried; "
                     "the output keeps the static HDR10 metadata only")
    return notes
