"""The thumbnails step of an attempt: measure what the encode wrote, write the storyboard, upload.

`pipeline` calls `deliver` after the outputs are uploaded when the job has
`spec.thumbnails`: the encode's one FFmpeg process already wrote the poster,
the storyboard's tiles and the preview's frames into scratch
(`domain.thumbplan`); two small FFmpeg processes that read only those PNGs lay
the tiles out on sheets and play the frames into the preview. Each picture is
measured from its file (ffprobe, or the RIFF chunks of an animated
WebP, `webpanim`); the WebVTT storyboard (`domain.storyboard`) names the
sheets relative to itself, under a folder unique to this attempt; then
`dirupload` sends the pictures in parallel, verified, each with its
Content-Type and Cache-Control (sheets immutable, the fixed names short-lived),
and the storyboard last, so a player never reads a cue whose sheet is missing;
on failure it deletes what this attempt wrote. Returns the `ThumbnailsResult`
for `status.thumbnails`.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from transcode_api import spec, thumbnails
from transcode_runner.domain import errors, packager, storyboard, thumbplan, webpanim
from transcode_runner.io import dirupload, ffprobe_json, s3upload, seams, settings, transfer

log = logging.getLogger(__name__)

ENTRY_CACHE = "public, max-age=60"
"""poster.*, preview.* and storyboard.vtt: a re-run of the job replaces them at the same URL."""
STORYBOARD = "storyboard.vtt"


def deliver(job: spec.TranscodeJobSpec, thumbs: thumbplan.Thumbs, scratch: Path,
            cfg: settings.Settings, runner: seams.ProcessRunner, mover: transfer.Transfer,
            progress: Callable[[int], None] | None = None) -> thumbnails.ThumbnailsResult:
    """Measure, describe and upload the thumbnails of `job` (its `thumbnails` is set)."""
    want = job.thumbnails
    assert want is not None
    bucket, prefix = _split(want.destination)
    folder = uuid.uuid4().hex[:12]
    pictures: list[dirupload.Item] = []
    result = thumbnails.ThumbnailsResult()

    def put(path: Path, key: str, cache: str) -> str:
        content_type = thumbplan.CONTENT_TYPES[path.suffix.lstrip(".")]
        pictures.append(dirupload.Item(path, prefix + key, content_type, cache))
        return f"s3://{bucket}/{prefix}{key}"

    def probe(path: Path, count: bool = False) -> tuple[int, int, int | None]:
        if not path.is_file() or path.stat().st_size == 0:
            raise errors.Internal(f"the encode wrote no {path.name}")
        return ffprobe_json.picture(path, runner, cfg.ffprobe_path,
                                    cfg.ffprobe_timeout_seconds, count)

    last: list[dirupload.Item] = []
    if (poster := thumbs.get("poster")) is not None:
        width, height, _ = probe(poster.path)
        url = put(poster.path, "poster" + poster.path.suffix, ENTRY_CACHE)
        result.poster = thumbnails.ImageResult(url=url, width=width, height=height,
                                               size_bytes=poster.path.stat().st_size)
    if (preview := thumbs.get("preview")) is not None:
        assert want.preview is not None
        _ffmpeg(runner, thumbplan.preview_argv(cfg.ffmpeg_path, preview, want.preview.fps),
                "preview", preview.frames)
        width, height, frames = _animation(preview.path, probe)
        url = put(preview.path, "preview" + preview.path.suffix, ENTRY_CACHE)
        result.preview = thumbnails.ImageResult(url=url, width=width, height=height,
                                                frames=frames,
                                                size_bytes=preview.path.stat().st_size)
    if (sprite := thumbs.get("sprite")) is not None and thumbs.board is not None:
        board = _tiles_written(sprite, thumbs.board)
        _ffmpeg(runner, thumbplan.sheets_argv(cfg.ffmpeg_path, sprite, board), "sprite sheets",
                board.tiles)
        result.sprite, vtt = _sprite(sprite, board, folder, probe, put, bucket, prefix)
        last.append(dirupload.Item(vtt, prefix + STORYBOARD, thumbplan.CONTENT_TYPES["vtt"],
                                   ENTRY_CACHE))
    knobs = s3upload.Knobs(mover.part_size, mover.concurrency, mover.multipart_threshold)
    written = dirupload.upload(mover.s3, bucket, [pictures, last], knobs, mover.cancel,
                               mover.book, progress)
    if result.sprite is not None:
        result.sprite.size_bytes = sum(i.path.stat().st_size for i in pictures
                                       if i.path.name.startswith("sprite-")) + (
            last[0].path.stat().st_size if last else 0)
    result.size_bytes, result.objects = written.bytes, written.objects
    log.info("thumbnails: %d objects, %d bytes under %s", written.objects, written.bytes,
             want.destination)
    return result


def _ffmpeg(runner: seams.ProcessRunner, argv: tuple[str, ...], what: str, frames: int) -> None:
    done = runner.run(argv, timeout=120.0 + frames / 5)
    if done.returncode != 0 or done.timed_out:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = errors.one_line(" / ".join(lines[-3:]) or f"exit status {done.returncode}",
                              limit=400)
        raise errors.Internal(f"writing the {what} failed: {why}")


def _tiles_written(sprite: thumbplan.Product, board: storyboard.Layout) -> storyboard.Layout:
    """The layout with as many tiles as the encode wrote (never more than planned: the
    `select` stops there; fewer when the source ends before a frame the plan expected)."""
    written = len(list(sprite.path.glob("tile-*.png"))) - 1  # 0000 is the lead frame
    if written < 1:
        raise errors.Internal("the encode wrote no storyboard tile")
    return dataclasses.replace(board, tiles=min(written, board.tiles))


def _animation(path: Path, probe: Callable[..., tuple[int, int, int | None]]
               ) -> tuple[int, int, int | None]:
    """Size and frames of the preview: ffprobe counts a GIF's; a WebP's are its ANMF chunks."""
    if path.suffix != ".webp":
        return probe(path, True)
    if not path.is_file():
        raise errors.Internal(f"the encode wrote no {path.name}")
    try:
        anim = webpanim.inspect(path.read_bytes())
    except ValueError as exc:
        raise errors.Internal(f"{path.name}: {exc}") from None
    return anim.width, anim.height, anim.frames


def _sprite(product: thumbplan.Product, board: storyboard.Layout, folder: str,
            probe: Callable[..., tuple[int, int, int | None]],
            put: Callable[[Path, str, str], str], bucket: str, prefix: str
            ) -> tuple[thumbnails.SpriteResult, Path]:
    ext = product.ext
    sheets = sorted(product.path.glob(f"sprite-*.{ext}"))
    if len(sheets) != board.sheets:
        raise errors.Internal(f"the encode wrote {len(sheets)} sprite sheet(s), "
                              f"{board.sheets} planned for {board.tiles} tiles")
    for sheet in sheets:
        width, height, _ = probe(sheet)
        if (width, height) != (product.width, product.height):
            raise errors.Internal(f"{sheet.name} is {width}x{height}, "
                                  f"{product.width}x{product.height} planned")
        put(sheet, f"{folder}/{sheet.name}", packager.SEGMENT_CACHE)
    vtt = product.path / STORYBOARD
    vtt.write_text(storyboard.vtt(board, f"{folder}/sprite-{{n:03d}}.{ext}"))
    if board.widened:
        log.info("storyboard: %d tiles at most, so one tile every %.1f s", thumbnails.MAX_TILES,
                 board.interval)
    return thumbnails.SpriteResult(
        storyboard=f"s3://{bucket}/{prefix}{STORYBOARD}", sheets=len(sheets), tiles=board.tiles,
        interval_seconds=board.interval, tile_width=board.tile_width,
        tile_height=board.tile_height, columns=board.columns, rows=board.rows), vtt


def _split(destination: str) -> tuple[str, str]:
    location = transfer.parse(destination + "_")  # parse wants a key; the prefix is the rest
    return location.bucket, location.key[:-1]
