"""How a package is cut and laid out: the FFmpeg remux into segments, names, headers, order.

`app.package` calls `argv` for the one FFmpeg process that copies (never
re-encodes) every rung's video stream and the chosen audio tracks into fMP4
segments with the CMAF brand (FFmpeg's dash muxer, `-hls_playlist 1` so the
same segments get HLS media playlists too; `use_editlist=1` keeps each rung's
edit list in the init segments, so a player cuts AAC's priming frame instead of
playing it 23 ms late and past the picture's end), cut at the keyframes `keyframes`
put at every segment boundary. Representation ids are the output stream
order: the video rungs first, then one audio rendition per track, each in its
own AdaptationSet (FFmpeg refuses rungs whose aspect ratios differ by
rounding in one set; `manifests.rewrite_mpd` merges the video ones). `headers`
gives each file's Content-Type and Cache-Control (segments immutable, as their
folder is unique to the attempt; manifests short-lived) and `key` where it
goes under the prefix; `is_manifest` and `is_top` say which files upload last.
Pure: argument lists and names only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

MPD = "manifest.mpd"
MASTER = "master.m3u8"
INIT_NAME = "init-$RepresentationID$.mp4"
MEDIA_NAME = "seg-$RepresentationID$-$Number%05d$.m4s"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
"""Segments and init segments: their folder is unique to the attempt, so they never change."""
MANIFEST_CACHE = "public, max-age=5"
"""Playlists and the MPD: a re-run may replace them at the same URL."""
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
          ".m4s": "video/iso.segment", ".mp4": "video/mp4"}


def media_playlist(rep_id: int) -> str:
    """The HLS media playlist FFmpeg writes for representation `rep_id`."""
    return f"media_{rep_id}.m3u8"


def init_segment(rep_id: int) -> str:
    return INIT_NAME.replace("$RepresentationID$", str(rep_id))


def argv(ffmpeg: str, rungs: Sequence[Path], audio: tuple[int, Sequence[int]] | None,
         segment_seconds: int, out_dir: Path) -> list[str]:
    """The remux: `rungs` (video files, in order) and `audio` ((index of the rung whose
    tracks are used, their audio positions)) into segments and manifests in `out_dir`."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    for path in rungs:
        args += ["-i", "file:" + os.fspath(path.resolve())]
    sets = []
    for index in range(len(rungs)):  # one set each: the muxer refuses 854x480 next to 16:9
        args += ["-map", f"{index}:v:0"]
        sets.append(f"id={index},streams={index}")
    if audio is not None:
        source, positions = audio
        for number, position in enumerate(positions):
            args += ["-map", f"{source}:a:{position}"]
            sets.append(f"id={len(rungs) + number},streams={len(rungs) + number}")
    args += ["-c", "copy", "-f", "dash", "-dash_segment_type", "mp4",
             "-format_options", "movflags=+cmaf:use_editlist=1",
             "-seg_duration", str(segment_seconds),
             "-use_template", "1", "-use_timeline", "1", "-hls_playlist", "1",
             "-adaptation_sets", " ".join(sets), "-init_seg_name", INIT_NAME,
             "-media_seg_name", MEDIA_NAME, "file:" + os.fspath((out_dir / MPD).resolve())]
    return args


def is_manifest(name: str) -> bool:
    """Playlists and the MPD: uploaded after every segment they name."""
    return name.endswith((".m3u8", ".mpd"))


def is_top(name: str) -> bool:
    """The entry points (master playlist, MPD): at the prefix, uploaded very last."""
    return name in (MPD, MASTER)


def key(prefix: str, folder: str, name: str) -> str:
    """Object key of `name`: entry points at the prefix, the rest in the attempt's folder."""
    return f"{prefix}{name}" if is_top(name) else f"{prefix}{folder}/{name}"


def headers(name: str, audio: bool = False) -> tuple[str, str]:
    """(Content-Type, Cache-Control) of one file of the package."""
    suffix = Path(name).suffix
    content_type = _TYPES.get(suffix, "application/octet-stream")
    if audio and suffix == ".mp4":
        content_type = "audio/mp4"
    return content_type, MANIFEST_CACHE if is_manifest(name) else SEGMENT_CACHE
