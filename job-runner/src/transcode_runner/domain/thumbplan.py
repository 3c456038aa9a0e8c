"""The thumbnails' branches of the one filter graph, and the FFmpeg outputs they feed.

`plan.build` calls `build(spec.thumbnails, source, scratch)` and adds each
`Product`'s `graph.Branch` to the encode's graph, after the video outputs, with
its output options: the poster, the sprite sheets and the preview come from
the same decode as the video (no second read of the source). Each branch
takes the look of an 8-bit SDR output at its width (`render.decide`: the
displayed size with square pixels, so a portrait phone clip gives a portrait
poster; the deinterlaced picture; HDR tone-mapped to SDR BT.709 with the
video outputs' own chain), picks its frames (`select` by time, or an `fps`
decimation for the preview) and finishes the picture: the `thumbnail` filter
(the most representative of `thumbnails.POSTER_CANDIDATES` frames spread over the video)
or the frame at `atSeconds` for the poster; `tile` for the sprite
(`storyboard.layout` says which frames); evenly spaced clips, retimed to the
asked rate, for the preview (GIF through `palettegen`/`paletteuse`). Pictures
leave the graph as RGB converted from BT.709 limited range, so each encoder
applies its format's own matrix (JPEG/JFIF full-range BT.601, WebP's BT.601).
Pure: argument lists only.
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
_TO_RGB = "scale=in_color_matrix=bt709:in_range=tv,format=rgb24"
_EXT = {"jpeg": "jpg", "webp": "webp", "gif": "gif"}
_STILL = {"jpeg": ("-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"),
          "webp": ("-c:v", "libwebp", "-quality", "80", "-pix_fmt", "bgra")}
_ANIMATED = {"webp": ("-c:v", "libwebp_anim", "-quality", "70", "-loop", "0", "-pix_fmt", "bgra",
                      "-f", "webp"),
             "gif": ("-c:v", "gif", "-loop", "0", "-f", "gif")}
CONTENT_TYPES = {"jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
                 "vtt": "text/vtt; charset=utf-8"}


@dataclass(frozen=True)
class Product:
    """One picture (or set of sheets) the encode writes."""

    kind: str
    """poster, sprite or preview."""
    branch: graph.Branch
    args: tuple[str, ...]
    """Output options after `-map`, ending with the file (or the sheets' pattern)."""
    path: Path
    """The file written; for the sprite, the folder of its sheets (`SHEET_PATTERN`)."""
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
    (`thumb-poster.*`, `sprite-NNN.*`, `thumb-preview.*`)."""
    folder = scratch
    if (spec.sprite or spec.preview) and source.duration <= 0:
        raise errors.BadInput("thumbnails.sprite and thumbnails.preview need the source's "
                              "duration, which its container does not give",
                              reason="DurationUnknown")
    products: list[Product] = []
    board = None
    if spec.poster is not None:
        products.append(_poster(spec.poster, source, folder))
    if spec.sprite is not None:
        sprite, board = _sprite(spec.sprite, source, folder)
        products.append(sprite)
    if spec.preview is not None:
        products.append(_preview(spec.preview, source, folder, tag=f"p{len(products)}"))
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
        finish = _TO_RGB
    else:
        spacing = source.duration / thumbnails.POSTER_CANDIDATES if source.duration > 0 else 0.0
        pick = (storyboard.select_expr(round(spacing, 6), thumbnails.POSTER_CANDIDATES),)
        finish = f"thumbnail=n={thumbnails.POSTER_CANDIDATES},{_TO_RGB}"
    args = (*_STILL[spec.format.value], "-fps_mode:v:0", "passthrough", "-frames:v", "1",
            "-f", "image2", "-update", "1", _file(path))
    return Product("poster", graph.Branch(look, "mjpeg", pick, finish), args, path,
                   look.width, look.height, ext=_EXT[spec.format.value])


def _sprite(spec: thumbnails.SpriteSpec, source: media.MediaInfo, folder: Path
            ) -> tuple[Product, storyboard.Layout]:
    look = _look(source, spec.tile_width)
    board = storyboard.layout(source.duration, _frame_seconds(source), spec.interval_seconds,
                              thumbnails.MAX_TILES, spec.columns, spec.rows, look.width,
                              look.height)
    ext = _EXT[spec.format.value]
    sheets = folder
    pick = (storyboard.select_expr(board.interval, board.tiles),)
    finish = f"tile={board.columns}x{board.rows}:padding=0:margin=0,{_TO_RGB}"
    args = (*_STILL[spec.format.value], "-fps_mode:v:0", "passthrough", "-f", "image2",
            "-start_number", "0", _file(sheets / f"{SHEET_PATTERN}.{ext}"))
    return Product("sprite", graph.Branch(look, "mjpeg", pick, finish), args, sheets,
                   look.width * board.columns, look.height * board.rows, ext=ext), board


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


def _preview(spec: thumbnails.PreviewSpec, source: media.MediaInfo, folder: Path, tag: str
             ) -> Product:
    look = _look(source, spec.width)
    ext = _EXT[spec.format.value]
    path = folder / f"thumb-preview.{ext}"
    total = max(1, math.floor(source.duration * spec.fps + 1e-6))
    windows = clip_starts(total, spec.seconds * spec.fps, spec.clips)
    chosen = "+".join(f"between(n\\,{a}\\,{a + c - 1})" for a, c in windows)
    pick = (f"fps={spec.fps}", f"select={chosen}", f"setpts=N/({spec.fps}*TB)")
    finish = _TO_RGB
    if spec.format == thumbnails.PreviewFormat.GIF:
        finish += (f",split[{tag}a][{tag}b];[{tag}a]palettegen=stats_mode=full[{tag}p];"
                   f"[{tag}b][{tag}p]paletteuse=dither=bayer:bayer_scale=3")
    args = (*_ANIMATED[spec.format.value], "-fps_mode:v:0", "passthrough", _file(path))
    return Product("preview", graph.Branch(look, "mjpeg", pick, finish), args, path,
                   look.width, look.height, sum(c for _, c in windows), ext)
