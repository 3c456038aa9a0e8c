"""Colour and HDR facts of a video stream, read from ffprobe's JSON, and how to tag outputs.

`media.parse` and `io.mediaprobe` call `describe(stream, frame_side_data)`:
it returns a `Colour` (primaries, transfer, matrix, range and bit depth as
ffprobe names them) and an `Hdr` (HDR10/PQ, HLG or SDR; the HDR10 static
metadata, a mastering display and a content light level; whether Dolby
Vision or HDR10+ dynamic metadata is present). `render` decides from them what
each output carries; `tag_args`, `x265_hdr_params` and `svt_av1_hdr_params`
turn that decision into FFmpeg options. Pure functions, no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

PQ = "smpte2084"
HLG = "arib-std-b67"
_DOVI = re.compile(r"DOVI|Dolby Vision", re.IGNORECASE)
_HDR10_PLUS = re.compile(r"SMPTE2094-40|HDR10\+", re.IGNORECASE)


class HdrKind(enum.StrEnum):
    """The dynamic range a stream is signalled as."""

    SDR = "SDR"
    HDR10 = "HDR10"  # PQ (SMPTE ST 2084) transfer
    HLG = "HLG"  # ARIB STD-B67 transfer


@dataclass(frozen=True)
class Colour:
    """Colour signalling of a stream; None where the stream does not say."""

    primaries: str | None = None
    transfer: str | None = None
    matrix: str | None = None
    range: str | None = None
    """`tv` (limited) or `pc` (full)."""
    bit_depth: int = 8


SDR_BT709 = Colour("bt709", "bt709", "bt709", "tv", 8)
"""What every SDR output is tagged (and converted to)."""
BT2020_PQ = Colour("bt2020", PQ, "bt2020nc", "tv", 10)
BT2020_HLG = Colour("bt2020", HLG, "bt2020nc", "tv", 10)


@dataclass(frozen=True)
class Mastering:
    """SMPTE ST 2086 mastering display: CIE 1931 xy chromaticities, luminance in cd/m2."""

    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float]
    min_luminance: float
    max_luminance: float

    def x265(self) -> str:
        """x265's `master-display` value (chromaticity in 0.00002, luminance in 0.0001 units)."""
        def xy(point: tuple[float, float]) -> str:
            return f"({round(point[0] * 50000)},{round(point[1] * 50000)})"

        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
                f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})")


    def svt_av1(self) -> str:
        """SVT-AV1's `mastering-display` value (chromaticity and cd/m2 as decimals)."""
        def xy(point: tuple[float, float]) -> str:
            return f"({point[0]:.4f},{point[1]:.4f})"

        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
                f"L({self.max_luminance:.4f},{self.min_luminance:.4f})")


@dataclass(frozen=True)
class LightLevel:
    """CTA-861.3 content light level: MaxCLL and MaxFALL in cd/m2."""

    max_cll: int
    max_fall: int


@dataclass(frozen=True)
class Hdr:
    """The source's dynamic range and its HDR metadata."""

    kind: HdrKind = HdrKind.SDR
    mastering: Mastering | None = None
    light_level: LightLevel | None = None
    dolby_vision: bool = False
    """A Dolby Vision configuration record or RPU is present (dynamic metadata)."""
    hdr10_plus: bool = False
    """HDR10+ (SMPTE 2094-40) dynamic metadata is present."""

    @property
    def is_hdr(self) -> bool:
        return self.kind != HdrKind.SDR


def describe(stream: Mapping[str, Any], frame_side_data: Sequence[Mapping[str, Any]] = ()
             ) -> tuple[Colour, Hdr]:
    """Colour and HDR of one ffprobe video stream (plus its first frame's side data)."""
    colour = Colour(
        primaries=_name(stream.get("color_primaries")),
        transfer=_name(stream.get("color_transfer")),
        matrix=_name(stream.get("color_space")),
        range=_name(stream.get("color_range")),
        bit_depth=bit_depth(stream),
    )
    side = [*list(stream.get("side_data_list") or []), *frame_side_data]
    kind = {PQ: HdrKind.HDR10, HLG: HdrKind.HLG}.get(colour.transfer or "", HdrKind.SDR)
    types = [str(entry.get("side_data_type") or "") for entry in side]
    hdr = Hdr(
        kind=kind,
        mastering=next((m for e in side if (m := _mastering(e)) is not None), None),
        light_level=next((c for e in side if (c := _light_level(e)) is not None), None),
        dolby_vision=any(_DOVI.search(t) for t in types),
        hdr10_plus=any(_HDR10_PLUS.search(t) for t in types),
    )
    return colour, hdr


def bit_depth(stream: Mapping[str, Any]) -> int:
    """Bits per sample: `bits_per_raw_sample`, else read from the pixel format name."""
    raw = str(stream.get("bits_per_raw_sample") or "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    fmt = str(stream.get("pix_fmt") or "")
    if fmt.startswith("p0") and fmt[2:4].isdigit():  # p010le, p016le
        return int(fmt[1:4])
    found = re.search(r"p(9|10|12|14|16)(le|be)$", fmt)
    return int(found.group(1)) if found else 8


def tag_args(colour: Colour, stream: int | None = None) -> list[str]:
    """`-color_primaries -color_trc -colorspace -color_range` for one output's video."""
    suffix = f":v:{stream}" if stream is not None else ""
    return [f"-color_primaries{suffix}", colour.primaries or "bt709",
            f"-color_trc{suffix}", colour.transfer or "bt709",
            f"-colorspace{suffix}", colour.matrix or "bt709",
            f"-color_range{suffix}", colour.range or "tv"]


def x265_hdr_params(colour: Colour, hdr: Hdr) -> list[str]:
    """x265 options that signal HDR10/HLG in the bitstream, with the static metadata."""
    params = [f"colorprim={colour.primaries}", f"transfer={colour.transfer}",
              f"colormatrix={colour.matrix}", "range=limited", "repeat-headers=1"]
    if hdr.kind == HdrKind.HDR10:
        params.append("hdr10=1")
        if hdr.mastering is not None:
            params.append(f"master-display={hdr.mastering.x265()}")
        if hdr.light_level is not None:
            params.append(f"max-cll={hdr.light_level.max_cll},{hdr.light_level.max_fall}")
    return params


def svt_av1_hdr_params(hdr: Hdr) -> list[str]:
    """SVT-AV1 options that carry the HDR10 static metadata (the colour tags go by FFmpeg)."""
    params = []
    if hdr.mastering is not None:
        params.append(f"mastering-display={hdr.mastering.svt_av1()}")
    if hdr.light_level is not None:
        params.append(f"content-light={hdr.light_level.max_cll},{hdr.light_level.max_fall}")
    return params


def _name(value: object) -> str | None:
    text = str(value or "").strip()
    return None if text in ("", "unknown", "unspecified", "reserved") else text


def _fraction(value: object) -> float | None:
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        return None


def _mastering(entry: Mapping[str, Any]) -> Mastering | None:
    if "Mastering display" not in str(entry.get("side_data_type") or ""):
        return None
    keys = ("red_x", "red_y", "green_x", "green_y", "blue_x", "blue_y", "white_point_x",
            "white_point_y", "min_luminance", "max_luminance")
    values = [_fraction(entry.get(key)) for key in keys]
    if any(v is None for v in values):
        return None  # ffprobe prints the entry without values when the SEI lacks them
    v = [float(x) for x in values if x is not None]
    return Mastering((v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7]), v[8], v[9])


def _light_level(entry: Mapping[str, Any]) -> LightLevel | None:
    if "Content light level" not in str(entry.get("side_data_type") or ""):
        return None
    try:
        return LightLevel(int(entry.get("max_content") or 0), int(entry.get("max_average") or 0))
    except (TypeError, ValueError):
        return None
