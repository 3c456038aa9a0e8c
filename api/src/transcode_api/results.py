"""What one finished output holds, as `status.outputs[]` lists it, and how that list shrinks.

`OutputResult` is one uploaded and verified file: where it is, its size and
checksum, and what a viewer gets, measured from the file with ffprobe (video
size and codec, each audio track's codec, channels, language and default flag,
each subtitle track's codec and language) plus `messages` naming what the
spec asked for but the output could not hold (a dropped bitmap subtitle, a
missing language, a rung not upscaled). The runner builds these
(`transcode_runner.app.pipeline`, through `transcode_runner.domain.tracks.results`);
`transcode_api.status.RunnerResult` carries them, and its
`to_termination_message` calls `fit_termination`, which drops the long details
step by step (`shrink_outputs`) when a job with many outputs or tracks would
not fit in 4096 bytes (the status patch still carries the full list).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic

from transcode_api import base, packaging, thumbnails

MESSAGE_LIMIT = 160
"""Characters of one output message kept in the termination message when it must shrink."""


class AudioTrackResult(base.StatusModel):
    """One audio track of a finished output (ffprobe of the file)."""

    codec: str = pydantic.Field(description="Audio codec (aac, opus, ac3, ...).")
    channels: int | None = pydantic.Field(default=None, ge=0, description="Channel count (2 = stereo).")
    language: str | None = pydantic.Field(
        default=None, description="Language tag of the track (ISO 639-2, as the file stores it); unset: none."
    )
    default: bool = pydantic.Field(default=False, description="True for the track players pick first.")


class SubtitleTrackResult(base.StatusModel):
    """One subtitle track of a finished output (ffprobe of the file)."""

    codec: str = pydantic.Field(
        description="Subtitle codec (mov_text, webvtt, subrip, ass, hdmv_pgs_subtitle, dvd_subtitle, ...)."
    )
    language: str | None = pydantic.Field(
        default=None, description="Language tag of the track (ISO 639-2, as the file stores it); unset: none."
    )
    default: bool = pydantic.Field(default=False, description="True when the track is shown by default.")
    forced: bool = pydantic.Field(
        default=False, description="True for forced subtitles (shown even with subtitles off)."
    )


class OutputResult(base.StatusModel):
    """One finished, uploaded and verified output file."""

    name: str = pydantic.Field(description="spec.outputs[].name this file was produced for.")
    url: str | None = pydantic.Field(default=None, description="Where it was uploaded (s3://bucket/key).")
    size_bytes: int | None = pydantic.Field(
        default=None, alias="bytes", ge=0, description="Object size in bytes."
    )
    checksum: str | None = pydantic.Field(
        default=None, description="Checksum of the uploaded object, verified after upload (hex)."
    )
    checksum_algorithm: str | None = pydantic.Field(
        default=None, description="Algorithm of checksum (sha256, or the S3 ETag scheme)."
    )
    duration_seconds: float | None = pydantic.Field(
        default=None, ge=0, description="Media duration in seconds (ffprobe)."
    )
    width: int | None = pydantic.Field(default=None, ge=0, description="Video width in pixels.")
    height: int | None = pydantic.Field(default=None, ge=0, description="Video height in pixels.")
    bitrate: int | None = pydantic.Field(
        default=None, ge=0, description="Overall bitrate in bits per second (ffprobe)."
    )
    codec: str | None = pydantic.Field(default=None, description="Video codec of the file (h264, hevc, av1, vp9).")
    encoder: str | None = pydantic.Field(
        default=None, description="FFmpeg encoder that produced it (h264_nvenc, libx264, ...)."
    )
    audio: list[AudioTrackResult] | None = pydantic.Field(
        default=None,
        description="Audio tracks of the file, in file order (ffprobe); empty: no audio.",
    )
    subtitles: list[SubtitleTrackResult] | None = pydantic.Field(
        default=None,
        description="Subtitle tracks of the file, in file order (ffprobe); empty: none.",
    )
    messages: list[str] | None = pydantic.Field(
        default=None,
        description=(
            "Notes about this output a viewer would notice (not upscaled, tone-mapped, "
            "tracks dropped), each starting with a CamelCase reason."
        ),
    )


_DETAIL_STEPS = ("messages", "subtitles", "audio")
_KEEP_SOME = ("name", "url", "bytes", "checksum", "checksumAlgorithm", "codec", "encoder")
_KEEP_FEW = ("name", "bytes")


def shrink_outputs(outputs: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Ever shorter copies of `outputs` (JSON dicts, by alias) for the termination message.

    First each message is cut to `MESSAGE_LIMIT` characters, then the messages,
    the subtitle listings and the audio listings are left out in that order,
    then everything but the file's identity (name, url, bytes, checksum, codec,
    encoder), then all but name and bytes; the caller stops at the first copy
    that fits.
    """
    current = [
        {**o, "messages": [_cut(m) for m in o["messages"]]} if o.get("messages") else dict(o)
        for o in outputs
    ]
    yield current
    for key in _DETAIL_STEPS:
        current = [{k: v for k, v in o.items() if k != key} for o in current]
        yield current
    for keep in (_KEEP_SOME, _KEEP_FEW):
        yield [{k: o[k] for k in keep if k in o} for o in current]


def _cut(message: str) -> str:
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[: MESSAGE_LIMIT - 3] + "..."


def fit_termination(data: dict[str, Any], limit: int) -> str:
    """Compact JSON of a `RunnerResult` dict (by alias), shortened until it is at most `limit` bytes.

    The result's message and metadata.fallbackMessage are cut first (to 1024,
    256, 64 characters, then left out), then the outputs shrink
    (`shrink_outputs`), then the packaging's rendition table (`packaging.shrink`:
    manifest URLs and bytes stay), then the thumbnails' sizes (`thumbnails.shrink`: URLs
    and counts stay), then the outputs and the metadata are left out, and at
    last the reason is cut; `truncated` is set whenever anything was cut.
    """
    text = _dump(data)
    if len(text) <= limit:
        return text
    data["truncated"] = True
    meta = data.get("metadata", {})
    for budget in (1024, 256, 64, 0):
        for holder, key in ((data, "message"), (meta, "fallbackMessage")):
            _clip(holder, key, budget)
        if len(text := _dump(data)) <= limit:
            return text
    for outputs in shrink_outputs(data.get("outputs", [])):
        data["outputs"] = outputs
        if len(text := _dump(data)) <= limit:
            return text
    for smaller in packaging.shrink(data["packaging"]) if data.get("packaging") else ():
        data["packaging"] = smaller
        if len(text := _dump(data)) <= limit:
            return text
    for fewer in thumbnails.shrink(data["thumbnails"]) if data.get("thumbnails") else ():
        data["thumbnails"] = fewer
        if len(text := _dump(data)) <= limit:
            return text
    for key in ("outputs", "metadata"):
        data.pop(key, None)
        if len(text := _dump(data)) <= limit:
            return text
    _clip(data, "reason", 64)
    return _dump(data)


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True)


def _clip(holder: dict[str, Any], key: str, budget: int) -> None:
    value = holder.get(key)
    if isinstance(value, str) and len(value) > budget:
        if budget == 0:
            del holder[key]
        else:
            holder[key] = value[: max(budget - 3, 0)] + "..."
