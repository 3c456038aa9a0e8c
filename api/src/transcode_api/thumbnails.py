"""Thumbnails: `spec.thumbnails` (poster, sprite storyboard, animated preview) and `status.thumbnails`.

`ThumbnailsSpec` asks for up to three pictures of the source, written under
one `s3://bucket/prefix/`: a poster (FFmpeg's `thumbnail` filter picks a
representative frame, or the frame at `atSeconds`), a sprite storyboard (a
tile every `intervalSeconds` in sheets of `columns` x `rows`, with a WebVTT
file whose cues name `sheet#xywh=x,y,w,h` regions, for trick-play scrubbing)
and an animated preview (`clips` evenly spaced short clips, `seconds` long in
all). The bounds here (`MAX_TILES`, `MAX_PREVIEW_FRAMES`, the grid and widths)
are admission rules; `JOB_RULES` are the paired rules
`transcode_api.spec.TranscodeJobSpec` lists because they read the outputs too.
The runner (`transcode_runner.app.thumbs`) fills `ThumbnailsResult`, which
travels in `RunnerResult.thumbnails` (its termination message shrinks it with
`shrink`) to `status.thumbnails`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any

import pydantic

from transcode_api import base, constants, packaging, urls

MAX_TILES = 1000
"""Tiles of one storyboard at most: a longer source gets a wider interval (the runner says so)."""
MAX_GRID = 20
"""Columns and rows of one sprite sheet at most."""
MAX_PREVIEW_FRAMES = 600
"""Frames of the animated preview at most (seconds x fps)."""
POSTER_CANDIDATES = 50
"""Frames, spread evenly over the source, FFmpeg's `thumbnail` filter picks the poster from."""


class ImageFormat(enum.StrEnum):
    """Still picture formats (poster and sprite sheets)."""

    JPEG = "jpeg"
    WEBP = "webp"


class PreviewFormat(enum.StrEnum):
    """Animated preview formats."""

    WEBP = "webp"
    GIF = "gif"


def _width(default: int, low: int, high: int, what: str) -> Any:
    return pydantic.Field(
        default=default, ge=low, le=high,
        description=f"Width of {what} in pixels ({low}..{high}); the height follows the "
                    f"displayed aspect of the source (rotation and pixel aspect applied), "
                    f"never upscaled. Default: {default}.")


def _format(default: enum.StrEnum, kinds: str) -> Any:
    return pydantic.Field(default=default, description=f"{kinds}. Default: {default.value}.")


class PosterSpec(base.SpecModel):
    """One still picture that stands for the video."""

    format: ImageFormat = _format(ImageFormat.JPEG, "jpeg or webp")
    width: int = _width(1280, 32, 3840, "the poster")
    at_seconds: float | None = pydantic.Field(
        default=None, ge=0, allow_inf_nan=False,
        description=(
            "Take the first frame at or after this time (seconds from the start; past the end: "
            f"the last half second). Default: FFmpeg's thumbnail filter picks the most "
            f"representative of {POSTER_CANDIDATES} frames spread over the whole video."
        ),
    )


class SpriteSpec(base.SpecModel):
    """Sprite sheets of small tiles and a WebVTT storyboard naming them (trick-play)."""

    interval_seconds: float = pydantic.Field(
        default=10.0, ge=0.5, le=3600, allow_inf_nan=False,
        description=(
            f"One tile every this many seconds (0.5..3600): the first frame at or after "
            f"each multiple. A source that would need more than {MAX_TILES} tiles gets the "
            "smallest wider interval that fits (status.thumbnails.sprite.intervalSeconds). "
            "Default: 10."
        ),
    )
    columns: int = pydantic.Field(default=10, ge=1, le=MAX_GRID,
                                  description=f"Tiles across one sheet (1..{MAX_GRID}). Default: 10.")
    rows: int = pydantic.Field(default=10, ge=1, le=MAX_GRID,
                               description=f"Tiles down one sheet (1..{MAX_GRID}); a full sheet "
                                           "starts the next one. Default: 10.")
    tile_width: int = _width(160, 32, 640, "one tile")
    format: ImageFormat = _format(ImageFormat.JPEG, "jpeg or webp (the sheets)")


class PreviewSpec(base.SpecModel):
    """A short animated picture made of evenly spaced clips of the video."""

    format: PreviewFormat = _format(PreviewFormat.WEBP, "webp (animated) or gif")
    width: int = _width(320, 32, 640, "the preview")
    fps: int = pydantic.Field(default=10, ge=1, le=30,
                              description="Frames per second of the preview (1..30). Default: 10.")
    seconds: int = pydantic.Field(
        default=6, ge=1, le=60,
        description=(f"Length of the preview in seconds (1..60), all clips together; seconds x "
                     f"fps is at most {MAX_PREVIEW_FRAMES} frames. Default: 6."))
    clips: int = pydantic.Field(
        default=3, ge=1, le=20,
        description="Clips the preview is cut from, spread evenly over the video (1..20). "
                    "Default: 3.")

    __rules__ = (
        base.Rule(
            cel=f"self.seconds * self.fps <= {MAX_PREVIEW_FRAMES}",
            message=f"thumbnails.preview.seconds x fps must be at most {MAX_PREVIEW_FRAMES} "
                    "frames",
            field="seconds",
            check=lambda p: p.seconds * p.fps <= MAX_PREVIEW_FRAMES,
        ),
        base.Rule(
            cel="self.clips <= self.seconds * self.fps",
            message="thumbnails.preview.clips must be at most seconds x fps (a frame per clip)",
            field="clips",
            check=lambda p: p.clips <= p.seconds * p.fps,
        ),
    )


class ThumbnailsSpec(base.SpecModel):
    """Poster, sprite storyboard and animated preview of the source, under one s3:// prefix."""

    destination: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "Folder the pictures are written to: s3://bucket/prefix/ (ending in '/'), outside "
            "every output's destination (it may be spec.packaging.destination). poster.*, "
            "preview.* and storyboard.vtt are at the prefix, the sprite sheets under a folder "
            "unique to the attempt; storyboard.vtt goes up last."
        ),
    )
    poster: PosterSpec | None = pydantic.Field(default=None, description="A poster frame. Default: none.")
    sprite: SpriteSpec | None = pydantic.Field(
        default=None, description="Sprite sheets with a WebVTT storyboard. Default: none.")
    preview: PreviewSpec | None = pydantic.Field(
        default=None, description="An animated preview. Default: none.")

    __rules__ = (
        base.Rule(
            cel=f"self.destination.matches('{packaging.PREFIX}')",
            message="thumbnails.destination must be an s3://bucket/prefix/ URL ending in '/'",
            field="destination",
            check=lambda t: re.fullmatch(packaging.PREFIX, t.destination) is not None,
        ),
        *urls.DESTINATION_RULES,
        base.Rule(
            cel=f"!self.destination.matches('{packaging.DOT_SEGMENT}')",
            message="thumbnails.destination must not contain '.' or '..' path segments",
            field="destination",
            check=lambda t: re.search(packaging.DOT_SEGMENT, t.destination) is None,
        ),
        base.Rule(
            cel="has(self.poster) || has(self.sprite) || has(self.preview)",
            message="thumbnails needs at least one of poster, sprite and preview",
            field="destination",
            check=lambda t: any(p is not None for p in (t.poster, t.sprite, t.preview)),
        ),
    )


JOB_RULES: tuple[base.Rule, ...] = (packaging.apart_from_outputs("thumbnails"),)


class ImageResult(base.StatusModel):
    """One picture written (measured from the file)."""

    url: str = pydantic.Field(description="Where it is (s3://).")
    width: int | None = pydantic.Field(default=None, ge=0, description="Width in pixels.")
    height: int | None = pydantic.Field(default=None, ge=0, description="Height in pixels.")
    size_bytes: int | None = pydantic.Field(default=None, alias="bytes", ge=0, description="Bytes.")
    frames: int | None = pydantic.Field(
        default=None, ge=0, description="Frames of the animated preview (counted by decoding).")


class SpriteResult(base.StatusModel):
    """The storyboard: its WebVTT file, its sheets and tiles."""

    storyboard: str = pydantic.Field(description="The WebVTT storyboard's URL (s3://); its cues "
                                                 "name every sheet, relative to it.")
    sheets: int = pydantic.Field(ge=0, description="Sprite sheets written.")
    tiles: int = pydantic.Field(ge=0, description="Tiles (cues) in all sheets.")
    interval_seconds: float | None = pydantic.Field(
        default=None, ge=0, description="Seconds between tiles (wider than asked when the "
                                        f"source would need more than {MAX_TILES} tiles).")
    tile_width: int | None = pydantic.Field(default=None, ge=0, description="Tile width, pixels.")
    tile_height: int | None = pydantic.Field(default=None, ge=0, description="Tile height, pixels.")
    columns: int | None = pydantic.Field(default=None, ge=1, description="Tiles across a sheet.")
    rows: int | None = pydantic.Field(default=None, ge=1, description="Tiles down a full sheet.")
    size_bytes: int | None = pydantic.Field(
        default=None, alias="bytes", ge=0, description="Bytes of the sheets and the storyboard.")


class ThumbnailsResult(base.StatusModel):
    """`status.thumbnails`: where the poster, storyboard and preview are, their sizes and counts."""

    poster: ImageResult | None = pydantic.Field(default=None, description="The poster.")
    sprite: SpriteResult | None = pydantic.Field(default=None, description="The storyboard.")
    preview: ImageResult | None = pydantic.Field(default=None, description="The animated preview.")
    size_bytes: int | None = pydantic.Field(
        default=None, alias="bytes", ge=0, description="Bytes of every object written.")
    objects: int | None = pydantic.Field(default=None, ge=0, description="Objects written.")


_SPRITE_FEW = ("storyboard", "sheets", "tiles")
_IMAGE_FEW = ("url", "frames")


def shrink(thumbs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Ever shorter copies of a `ThumbnailsResult` dict (by alias) for the termination
    message: URLs and counts only, then the storyboard's and the pictures' URLs only."""
    few = dict(thumbs)
    if "sprite" in few:
        few["sprite"] = {k: v for k, v in few["sprite"].items() if k in _SPRITE_FEW}
    for name in ("poster", "preview"):
        if name in few:
            few[name] = {k: v for k, v in few[name].items() if k in _IMAGE_FEW}
    yield few
    yield {k: v for k, v in few.items() if k in ("poster", "sprite", "preview")}
