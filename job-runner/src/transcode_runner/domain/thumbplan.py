"""The thumbnails' branches of the one filter graph, and the FFmpeg outputs they feed.

`plan.build` calls `build(spec.thumbnails, source, scratch)` and adds each
`Product`'s `graph.Branch` to the encode's graph, after the video outputs, with
its output options: the poster, the storyboard's tiles and the preview's
frames come from the same decode as the video (no second read of the source).
Each branch takes the look of an 8-bit SDR output at its width
(`render.decide`: the displayed size with square pixels, so a portrait phone
clip gives a portrait poster; the deinterlaced picture; HDR tone-mapped to SDR
BT.709 with the video outputs' own chain) and picks its frames: the most
representative of `thumbnails.POSTER_CANDIDATES` frames spread over the video
(FFmpeg's `thumbnail` filter) or the frame at `atSeconds` for the poster; the
first frame at or after each interval for the tiles (`storyboard`); evenly
spaced clips at the asked rate for the preview. Every branch also sends its
first frame at once (`graph.Branch.lead`) so FFmpeg reports progress from the
start; the poster file is written again with the real one, the tiles and
frames (PNG) numbered from 1 after it. After the encode, `sheets_argv` lays the
tiles out on sheets (`tile`) and `preview_argv` plays the frames into the
animated WebP or GIF (`palettegen`/`paletteuse`): small processes that read
only those PNGs. Pictures leave the graph as RGB converted from BT.709 limited
range, so each encoder applies its format's own matrix (JPEG/JFIF full-range
BT.601, WebP's BT.601). Pure: argument lists only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from transcode_api import output, thumbnails
from transcode_runner.domain import errors, graph, media, render, storyboard

SHEET_PATTERN = "sprite-%03d"
"""File names of the sprite sheets (FFmpeg's image2 pattern), numbered from 0."""
TILE_PATTERN = "tile-%04d.png"
"""The encode's tiles, one PNG each; 0000 is the lead frame (`graph.Branch.lead`)."""
FRAME_PATTERN = "frame-%04d.png"
"""The encode's preview frames, one PNG each; 0000 is the lead frame."""
_TO_RGB = "scale=in_color_matrix=bt709:in_range=tv,format=rgb24"
_EXT = {"jpeg": "jpg", "webp": "webp", "gif": "gif"}
_STILL = {"jpeg": ("-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"),
          "webp": ("-c:v", "libwebp", "-quality", "80", "-pix_fmt", "bgra")}
_ANIMATED = {"webp": ("-c:v", "libwebp_anim", "-quality", "70", "-loop", "0", "-pix_fmt", "bgra",
                      "-f", "webp"),
             "gif": ("-c:v", "gif", "-loop", "0", "-f", "gif")}
_PNG = ("-c:v", "png", "-compression_level", "1", "-fps_mode:v:0", "passthrough",
        "-f", "image2", "-start_number", "0")
_QUIET = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error")
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
                 "vtt": "text/vtt; charset=utf-8"}


@dataclass(frozen=True)
class Product:
    """One picture (or set of sheets) the encode writes."""

    kind: str
    """poster, sprite or preview."""
    branch: graph.Branch
    args: tuple[str, ...]
    """Output options after `-map`, ending with the file (or the frames' pattern)."""
    path: Path
    """The picture's file; for the sprite, the folder of its tiles and sheets."""
    width: int
    height: int
    frames: int = 1
    """Frames of the preview (as planned)."""
    ext: str = "jpg"
    """File name extension of the picture(s): jpg, webp or gif."""


@dataclass(frozen=True)
class Thumbs:
    """Every product of `spec.thumbnails` and the storyboard's layout."""

    products: tuple[Product, ...]
    board: storyboard.Layout | None = None

    def get(self, kind: str) -> Product | None:
        return next((p for p in self.products if p.kind == kind), None)


def build(spec: thumbnails.ThumbnailsSpec, source: media.MediaInfo, scratch: Path) -> Thumbs:
    """The branches and outputs of `spec` for `source`; files go straight into `scratch`
    (`thumb-poster.*`; the sprite's tiles and the preview's frames as PNGs, which
    `sheets_argv` and `preview_argv` turn into the pictures after the encode)."""
    if (spec.sprite or spec.preview) and source.duration <= 0:
        raise errors.BadInput("thumbnails.sprite and thumbnails.preview need the source's "
                              "duration, which its container does not give",
                              reason="DurationUnknown")
    products: list[Product] = []
    board = None
    if spec.poster is not None:
        products.append(_poster(spec.poster, source, scratch))
    if spec.sprite is not None:
        sprite, board = _sprite(spec.sprite, source, scratch)
        products.append(sprite)
    if spec.preview is not None:
        products.append(_preview(spec.preview, source, scratch))
    return Thumbs(tuple(products), board)


def _look(source: media.MediaInfo, width: int) -> render.Look:
    """The picture of an 8-bit SDR H.264 output `width` wide: same size rules, same colour."""
    return render.decide(output.VideoSpec(width=width), "libx264", source)


def _file(path: Path) -> str:
    return "file:" + os.fspath(path.resolve())


def _frame_seconds(source: media.MediaInfo) -> float:
    """The longer of the base and the average frame duration (a variable-rate source's
    last frames may be sparser than its base rate says)."""
    rates = [float(r) for r in (source.frame_rate, source.fps) if r and float(r) > 0]
    return 1.0 / min(rates) if rates else 0.04


def _poster(spec: thumbnails.PosterSpec, source: media.MediaInfo, folder: Path) -> Product:
    look = _look(source, spec.width)
    path = folder / f"thumb-poster.{_EXT[spec.format.value]}"
    if spec.at_seconds is not None:
        at = spec.at_seconds
        if source.duration > 0:
            at = min(at, max(0.0, source.duration - 0.5))
        pick: tuple[str, ...] = (f"select=eq(selected_n\\,0)*gte(t\\,{at:.3f})",)
        finish = ""
    else:
        spacing = source.duration / thumbnails.POSTER_CANDIDATES if source.duration > 0 else 0.0
        pick = (storyboard.select_expr(round(spacing, 6), thumbnails.POSTER_CANDIDATES),)
        finish = f"thumbnail=n={thumbnails.POSTER_CANDIDATES}"
    # One file, written again for each frame: the lead frame first, the poster last.
    args = (*_STILL[spec.format.value], "-fps_mode:v:0", "passthrough", "-f", "image2",
            "-update", "1", _file(path))
    branch = graph.Branch(look, "mjpeg", pick, finish, lead=True, tail=_TO_RGB)
    return Product("poster", branch, args, path, look.width, look.height,
                   ext=_EXT[spec.format.value])


def _sprite(spec: thumbnails.SpriteSpec, source: media.MediaInfo, folder: Path
            ) -> tuple[Product, storyboard.Layout]:
    look = _look(source, spec.tile_width)
    board = storyboard.layout(source.duration, _frame_seconds(source), spec.interval_seconds,
                              thumbnails.MAX_TILES, spec.columns, spec.rows, look.width,
                              look.height)
    pick = (storyboard.select_expr(board.interval, board.tiles),)
    branch = graph.Branch(look, "png", pick, lead=True, tail=_TO_RGB)
    return Product("sprite", branch, (*_PNG, _file(folder / TILE_PATTERN)), folder,
                   look.width * board.columns, look.height * board.rows,
                   ext=_EXT[spec.format.value]), board


def sheets_argv(ffmpeg: str, sprite: Product, board: storyboard.Layout) -> tuple[str, ...]:
    """The FFmpeg process that lays the encode's tiles (1..tiles) out on sheets: the
    `tile` filter, `columns` x `rows` a sheet, `SHEET_PATTERN` from 0; reads PNGs only."""
    folder = sprite.path
    return (ffmpeg, *_QUIET, "-f", "image2", "-framerate", "1", "-start_number", "1",
            "-i", _file(folder / TILE_PATTERN), "-frames:v", str(board.tiles),
            "-vf", f"tile={board.columns}x{board.rows}:padding=0:margin=0",
            *_STILL["webp" if sprite.ext == "webp" else "jpeg"], "-fps_mode:v:0",
            "passthrough", "-f", "image2", "-start_number", "0",
            _file(folder / f"{SHEET_PATTERN}.{sprite.ext}"))


def clip_starts(total: int, frames: int, clips: int) -> list[tuple[int, int]]:
    """(first frame, frame count) of each clip: `frames` split over `clips` as evenly as
    they go, each centred on its share of the `total` frames, never overlapping."""
    frames = max(1, min(frames, total))
    clips = max(1, min(clips, frames))
    counts = [frames // clips + (1 if j < frames % clips else 0) for j in range(clips)]
    starts: list[tuple[int, int]] = []
    end = 0
    for j, count in enumerate(counts):
        centre = (j + 0.5) * total / clips
        latest = total - sum(counts[j:])
        first = min(max(round(centre - count / 2), end), latest)
        starts.append((first, count))
        end = first + count
    return starts


def _preview(spec: thumbnails.PreviewSpec, source: media.MediaInfo, folder: Path) -> Product:
    look = _look(source, spec.width)
    ext = _EXT[spec.format.value]
    total = max(1, math.floor(source.duration * spec.fps + 1e-6))
    windows = clip_starts(total, spec.seconds * spec.fps, spec.clips)
    chosen = "+".join(f"between(n\\,{a}\\,{a + c - 1})" for a, c in windows)
    pick = (f"fps={spec.fps}", f"select={chosen}")
    branch = graph.Branch(look, "png", pick, lead=True, tail=_TO_RGB)
    return Product("preview", branch, (*_PNG, _file(folder / FRAME_PATTERN)),
                   folder / f"thumb-preview.{ext}", look.width, look.height,
                   sum(c for _, c in windows), ext)


def preview_argv(ffmpeg: str, preview: Product, fps: int) -> tuple[str, ...]:
    """The FFmpeg process that plays the encode's preview frames (1..) back to back at
    `fps` into the animated WebP, or the GIF with its own palette; reads PNGs only."""
    inputs = ("-f", "image2", "-framerate", str(fps), "-start_number", "1",
              "-i", _file(preview.path.parent / FRAME_PATTERN), "-frames:v", str(preview.frames))
    if preview.ext == "gif":
        palette = ("-filter_complex", "[0:v]split[a][b];[a]palettegen=stats_mode=full[p];"
                                      "[b][p]paletteuse=dither=bayer:bayer_scale=3")
        return (ffmpeg, *_QUIET, *inputs, *palette, *_ANIMATED["gif"], _file(preview.path))
    return (ffmpeg, *_QUIET, *inputs, *_ANIMATED["webp"], _file(preview.path))
