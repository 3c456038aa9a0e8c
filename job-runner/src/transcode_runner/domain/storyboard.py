"""Where the storyboard's tiles fall and the WebVTT file that names them (pure arithmetic).

`thumbplan` calls `layout` to decide the tile times of a sprite (the first
frame at or after each multiple of the interval, as many as the source has
frames for, at most `thumbnails.MAX_TILES`: a longer source gets a wider
interval) and `select_expr` for the FFmpeg `select` expression that picks
exactly those frames; `app.thumbs` calls `vtt` to write the storyboard whose
cues cover the whole duration without gaps, each pointing at its tile's
`sheet#xywh=x,y,w,h` region (the media-fragment syntax video.js, JW Player and
Vidstack read for trick-play thumbnails).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Tile times and sheet geometry of one storyboard."""

    interval: float
    """Seconds between tiles (the asked interval, or wider: see `widened`)."""
    tiles: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    duration: float
    widened: bool = False

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    @property
    def sheets(self) -> int:
        return math.ceil(self.tiles / self.per_sheet)


def layout(duration: float, frame_seconds: float, interval: float, max_tiles: int,
           columns: int, rows: int, tile_width: int, tile_height: int) -> Layout:
    """Tiles at 0, interval, 2 x interval, ... while a frame surely exists there (the last
    two frames' time is left out, so a rounding of the source's duration never asks for a
    frame it lacks); the interval widens in 0.1 s steps until at most `max_tiles` fit."""
    last = max(0.0, duration - 2 * frame_seconds)
    interval, widened = round(interval, 3), False
    while math.floor(last / interval + 1e-9) + 1 > max_tiles:
        interval = math.ceil(last / max_tiles * 10 + 1e-6) / 10 if not widened else interval + 0.1
        widened = True
    tiles = math.floor(last / interval + 1e-9) + 1
    across = min(columns, tiles)  # a short source gets a sheet no larger than its tiles
    return Layout(round(interval, 3), tiles, across, min(rows, math.ceil(tiles / across)),
                  tile_width, tile_height, duration, widened)


def select_expr(interval: float, count: int) -> str:
    """The `select` filter (commas escaped for a filter graph): the first frame at or after
    each multiple of `interval`, `count` frames at most."""
    return f"select=lt(selected_n\\,{count})*gte(t\\,selected_n*{interval:g})"


@dataclass(frozen=True)
class Cue:
    """One storyboard cue: a time span and its tile's region."""

    start: float
    end: float
    sheet: int
    x: int
    y: int


def cues(board: Layout) -> list[Cue]:
    """One cue per tile, from its time to the next tile's (the last to the end)."""
    found = []
    for k in range(board.tiles):
        cell = k % board.per_sheet
        end = board.duration if k == board.tiles - 1 else (k + 1) * board.interval
        found.append(Cue(k * board.interval, max(end, k * board.interval), k // board.per_sheet,
                         (cell % board.columns) * board.tile_width,
                         (cell // board.columns) * board.tile_height))
    return found


def timestamp(seconds: float) -> str:
    """WebVTT time: hh:mm:ss.ttt."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def vtt(board: Layout, sheet_uri: str) -> str:
    """The WebVTT storyboard; `sheet_uri` has a `{n}` for the sheet number (relative URL)."""
    lines = ["WEBVTT", ""]
    for cue in cues(board):
        lines += [f"{timestamp(cue.start)} --> {timestamp(cue.end)}",
                  f"{sheet_uri.format(n=cue.sheet)}#xywh={cue.x},{cue.y},"
                  f"{board.tile_width},{board.tile_height}", ""]
    return "\n".join(lines)
