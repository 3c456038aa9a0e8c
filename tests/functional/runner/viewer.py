"""Judge an output as a viewer would, with FFmpeg's own tools: shape, picture, fields, colour.

Used by tests/functional/runner/test_fidelity_*.py and test_thumbnails.py. `displayed_aspect` is
width x pixel aspect / height as a player shows it (a leftover rotation
counted); `ssim` compares one frame of the output with FFmpeg's own rendering
of the source (autorotated, scaled to the output's size with square pixels, in
the output's colour matrix and range when a player would read the source with
others:
the tag, else BT.709 for HD and BT.601 for SD) with the `ssim` filter;
`picture_ssim` does the same for a still picture or a region of it (a storyboard
tile) against the source frame at a time, both sides through RGB as a browser
shows them;
`combed_frames` counts the frames `idet` (single-frame detection) calls interlaced; `video` is the
output's ffprobe video stream. FFmpeg gets argument lists, never a shell.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.functional.runner.conftest import FFMPEG

MIN_SSIM = 0.90  # the bar: one output frame vs FFmpeg's own rendering of the source
_SSIM = re.compile(r"All:([0-9.]+)")
_SINGLE = re.compile(r"Single frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)")


def video(path: Path) -> dict[str, Any]:
    """The first video stream, as ffprobe describes it (side data included)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams",
                          "-select_streams", "v:0", str(path)],
                         check=True, capture_output=True, text=True, timeout=60)
    return dict(json.loads(out.stdout)["streams"][0])


def first_frame(path: Path) -> dict[str, Any]:
    """The first video frame's properties and side data (HDR metadata)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-select_streams",
                          "v:0", "-read_intervals", "%+#1", "-show_frames", str(path)],
                         check=True, capture_output=True, text=True, timeout=60)
    return dict(json.loads(out.stdout)["frames"][0])


def rotation(stream: dict[str, Any]) -> float:
    return next((float(s["rotation"]) for s in stream.get("side_data_list") or []
                 if "rotation" in s), 0.0)


def displayed_aspect(stream: dict[str, Any]) -> float:
    """Shown width / shown height: pixel aspect applied, a 90/270 rotation swaps the sides."""
    num, _, den = str(stream.get("sample_aspect_ratio") or "1:1").partition(":")
    sar = int(num) / int(den) if num.isdigit() and den.isdigit() and int(num) > 0 else 1.0
    width, height = int(stream["width"]) * sar, float(stream["height"])
    if round(rotation(stream)) % 180 == 90:
        width, height = height, width
    return width / height


def ssim(source: Path, output: Path, *, source_frame: int, output_frame: int,
         source_filters: str = "") -> float:
    """SSIM (Y, U, V weighted) of output frame N against FFmpeg's rendering of source frame M.

    The reference is the source as FFmpeg shows it (autorotated), scaled to the
    output's size with square pixels and, when a player would read the two with
    different colour matrices, converted to the output's (`colorspace`).
    """
    stream = video(output)
    src = video(source)
    width, height = int(stream["width"]), int(stream["height"])
    depth = "yuv420p10le" if "10" in str(stream.get("pix_fmt")) else "yuv420p"
    prefix = f"{source_filters}," if source_filters else ""
    convert = ""
    ranges = [str(s.get("color_range")) if s.get("color_range") == "pc" else "tv"
              for s in (src, stream)]
    if shown_matrix(src) != shown_matrix(stream) or ranges[0] != ranges[1]:
        convert = (f",colorspace=all={_ALL[shown_matrix(stream)]}:iall={_ALL[shown_matrix(src)]}"
                   f":irange={ranges[0]}:range={ranges[1]}")
    graph = (
        f"[0:v:0]{prefix}trim=start_frame={source_frame}:end_frame={source_frame + 1},"
        f"setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic,setsar=1,"
        f"format={depth}{convert},format={depth}[ref];"
        f"[1:v:0]trim=start_frame={output_frame}:end_frame={output_frame + 1},"
        f"setpts=PTS-STARTPTS,format={depth}[out];[out][ref]ssim"
    )
    done = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(source), "-i",
                           str(output), "-filter_complex", graph, "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    found = _SSIM.findall(done.stderr)
    assert done.returncode == 0 and found, done.stderr[-2000:]
    return float(found[-1])


_ALL = {"bt709": "bt709", "smpte170m": "bt601-6-525", "bt470": "bt601-6-625",
        "bt601-625": "bt601-6-625", "bt601": "bt601-6-525", "bt2020": "bt2020"}


def shown_matrix(stream: dict[str, Any]) -> str:
    """The YUV matrix a player uses: the stream's tag, else BT.709 for HD, BT.601 below."""
    tagged = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470bg": "bt470",
              "bt2020nc": "bt2020"}.get(str(stream.get("color_space")))
    if tagged:
        return tagged
    if int(stream["width"]) >= 1280 or int(stream["height"]) >= 720:
        return "bt709"
    return "bt601-625" if int(stream["height"]) == 576 else "bt601"


def combed_frames(path: Path) -> tuple[int, int]:
    """(frames idet calls interlaced, frames it calls progressive), judged frame by frame."""
    done = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-vf", "idet", "-an", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    found = _SINGLE.findall(done.stderr)
    assert done.returncode == 0 and found, done.stderr[-2000:]
    tff, bff, progressive = (int(n) for n in found[-1])
    return tff + bff, progressive


def frame_count(path: Path) -> int:
    """Video frames in the file, counted by decoding."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip())


def picture_ssim(source: Path, picture: Path, *, at: float,
                 region: tuple[int, int, int, int] | None = None) -> float:
    """SSIM of a still picture (or a `region` x, y, w, h of it) against FFmpeg's rendering
    of the source's first frame at or after `at` seconds, scaled to that size.

    Both sides go through RGB the way a browser shows them (the source in its shown
    matrix, limited range; the picture as its decoder reads it: JPEG/WebP BT.601) and are
    compared as yuv420p, so a picture with the wrong matrix, range, shape or frame scores low.
    """
    width, height = region[2:] if region else (int(video(picture)["width"]),
                                              int(video(picture)["height"]))
    crop = f"crop={width}:{height}:{region[0]}:{region[1]}," if region else ""
    matrix = shown_matrix(video(source))
    graph = (
        f"[0:v:0]trim=start={at},setpts=PTS-STARTPTS,trim=end_frame=1,scale={width}:{height}:flags=bicubic"
        f":in_color_matrix={_SCALE_MATRIX[matrix]},setsar=1,format=rgb24,format=yuv420p[ref];"
        f"[1:v:0]{crop}setpts=PTS-STARTPTS,format=rgb24,format=yuv420p[pic];[pic][ref]ssim"
    )
    done = subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-i", str(source), "-i",
                           str(picture), "-filter_complex", graph, "-frames:v", "1", "-f",
                           "null", "-"], capture_output=True, text=True, timeout=120)
    found = _SSIM.findall(done.stderr)
    assert done.returncode == 0 and found, done.stderr[-2000:]
    return float(found[-1])


_SCALE_MATRIX = {"bt709": "bt709", "smpte170m": "smpte170m", "bt470": "bt470",
                 "bt601-625": "bt470", "bt601": "smpte170m", "bt2020": "bt2020"}
