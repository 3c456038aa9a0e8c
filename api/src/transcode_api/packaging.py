"""Adaptive streaming packaging: `spec.packaging`, what each format carries, `status.packaging`.

`PackagingSpec` asks for the job's video outputs to be packaged as HLS, DASH
or CMAF (one set of fMP4 segments named by both an HLS master playlist and a
DASH MPD) under an `s3://bucket/prefix/`, with keyframes every
`segmentSeconds`. `FORMAT_VIDEO` / `FORMAT_AUDIO` are the codec table (every
format uses fMP4/CMAF segments, so outputs stay in container mp4);
`JOB_RULES` are the paired rules `transcode_api.spec.TranscodeJobSpec` lists
because they read the outputs too. The runner (`transcode_runner.app.package`)
fills `PackagingResult`, which travels in `RunnerResult.packaging` (its
termination message shrinks it with `shrink`) to `status.packaging`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any

import pydantic

from transcode_api import base, constants, urls

PREFIX = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^?#]*/)?$"
DOT_SEGMENT = r"/[.][.]?/"
"""`PREFIX`: an s3://bucket/prefix/ folder URL; `DOT_SEGMENT`: a '.' or '..' segment in it
(`transcode_api.thumbnails` checks its destination with both too)."""


class Format(enum.StrEnum):
    """Adaptive streaming formats (`spec.packaging.format`)."""

    HLS = "hls"
    DASH = "dash"
    CMAF = "cmaf"


FORMAT_VIDEO: dict[str, tuple[str, ...]] = {
    Format.HLS: ("h264", "hevc"),
    Format.DASH: ("h264", "hevc", "av1", "vp9"),
    Format.CMAF: ("h264", "hevc", "av1"),
}
"""Video codecs each format carries (HLS: the Apple authoring spec's H.264/HEVC; VP9 is
no CMAF codec; AV1 only where the players' MSE decodes it, DASH and CMAF)."""
FORMAT_AUDIO: dict[str, tuple[str, ...]] = {
    Format.HLS: ("aac", "none"),
    Format.DASH: ("aac", "opus", "none"),
    Format.CMAF: ("aac", "none"),
}
"""Audio codecs each format carries (`copy` is refused: the source's codec is unknown at
admission)."""


def _codec_cel(allowed: tuple[str, ...]) -> str:
    encoders = [e for e, c in constants.ENCODER_CODEC.items() if c in allowed]
    default = "true" if constants.Codec.H264.value in allowed else "false"
    return (f"(has(o.video.codec) ? o.video.codec in {base.cel_list(allowed)} : "
            f"(has(o.video.encoder) ? o.video.encoder in {base.cel_list(encoders)} : {default}))")


def _format_is(name: str) -> str:
    return f"(has(self.packaging) && self.packaging.format == '{name}')"


def _video_ok(job: Any, name: str) -> bool:
    return job.packaging is None or job.packaging.format != name or all(
        o.video.effective_codec.value in FORMAT_VIDEO[name] for o in job.outputs)


def _audio_ok(job: Any, name: str) -> bool:
    return job.packaging is None or job.packaging.format != name or all(
        o.audio.effective_codec(o.container).value in FORMAT_AUDIO[name] for o in job.outputs)


class PackagingSpec(base.SpecModel):
    """Package the video outputs as adaptive streaming renditions (HLS, DASH or both)."""

    format: Format = pydantic.Field(
        description=(
            "hls (fMP4 segments, HLS playlists), dash (fMP4 segments, an MPD) or cmaf (one "
            "set of CMAF segments named by both an HLS master playlist and a DASH MPD)."
        ),
    )
    destination: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "Folder the manifests and segments are written to: s3://bucket/prefix/ (ending "
            "in '/'), outside every output's destination. Manifests (master.m3u8, "
            "manifest.mpd) are at the prefix; segments under a folder unique to the attempt."
        ),
    )
    segment_seconds: int = pydantic.Field(
        default=4,
        ge=1,
        le=30,
        description=(
            "Segment duration in seconds (1..30): every rendition gets a keyframe (IDR, "
            "closed GOP) at each multiple, so players can switch at every segment. Default: 4."
        ),
    )

    __rules__ = (
        base.Rule(
            cel=f"self.destination.matches('{PREFIX}')",
            message="packaging.destination must be an s3://bucket/prefix/ URL ending in '/'",
            field="destination",
            check=lambda p: re.fullmatch(PREFIX, p.destination) is not None,
        ),
        *urls.DESTINATION_RULES,
        base.Rule(
            cel=f"!self.destination.matches('{DOT_SEGMENT}')",
            message="packaging.destination must not contain '.' or '..' path segments",
            field="destination",
            check=lambda p: re.search(DOT_SEGMENT, p.destination) is None,
        ),
    )


def _format_rules(name: str) -> tuple[base.Rule, ...]:
    """The codec rules of one format (none for video when it carries every codec)."""
    video = ", ".join(FORMAT_VIDEO[name])
    audio = ", ".join(FORMAT_AUDIO[name])
    every_video = set(FORMAT_VIDEO[name]) >= {c.value for c in constants.Codec}
    return (
        *(() if every_video else (base.Rule(
            cel=f"!{_format_is(name)} || self.outputs.all(o, {_codec_cel(FORMAT_VIDEO[name])})",
            message=f"packaging format {name} carries video codecs {video} only "
                    "(outputs[].video.codec)",
            field="packaging.format",
            check=lambda job: _video_ok(job, name),
        ),)),
        base.Rule(
            cel=(f"!{_format_is(name)} || self.outputs.all(o, !has(o.audio.codec) || "
                 f"o.audio.codec in {base.cel_list(FORMAT_AUDIO[name])})"),
            message=f"packaging format {name} carries audio codecs {audio} only "
                    "(outputs[].audio.codec; copy is refused)",
            field="packaging.format",
            check=lambda job: _audio_ok(job, name),
        ),
    )



def apart_from_outputs(part: str) -> base.Rule:
    """The job rule that `<part>.destination` (a prefix) holds no output's destination."""
    def check(job: Any) -> bool:
        prefix = getattr(job, part)
        return prefix is None or not any(
            o.destination.startswith(prefix.destination) for o in job.outputs)
    return base.Rule(
        cel=(f"!has(self.{part}) || "
             f"self.outputs.all(o, !o.destination.startsWith(self.{part}.destination))"),
        message=f"{part}.destination must not hold an output's destination "
                "(outputs[].destination)",
        field=f"{part}.destination", check=check)

JOB_RULES: tuple[base.Rule, ...] = (
    base.Rule(
        cel=("!has(self.packaging) || self.outputs.all(o, !has(o.container) || "
             "o.container == 'mp4')"),
        message="packaging needs every output in container mp4 (outputs[].container): "
                "renditions are repackaged as fMP4/CMAF segments",
        field="packaging.format",
        check=lambda job: job.packaging is None
        or all(o.container == constants.Container.MP4 for o in job.outputs),
    ),
    *(rule for name in Format for rule in _format_rules(name)),
    apart_from_outputs("packaging"),
)


class RenditionResult(base.StatusModel):
    """One rendition of the package, as its manifests describe it (measured from the files)."""

    name: str = pydantic.Field(description="The output's name (video) or audio-<n> (audio).")
    type: str = pydantic.Field(description="video or audio.")
    codecs: str = pydantic.Field(description="RFC 6381 codec string (avc1.64001f, mp4a.40.2).")
    bandwidth: int = pydantic.Field(ge=0, description="Peak segment bitrate, bits per second.")
    average_bandwidth: int | None = pydantic.Field(
        default=None, ge=0, description="Average bitrate over all segments, bits per second.")
    width: int | None = pydantic.Field(default=None, ge=0, description="Video width in pixels.")
    height: int | None = pydantic.Field(default=None, ge=0, description="Video height in pixels.")
    frame_rate: float | None = pydantic.Field(default=None, ge=0, description="Frames per second.")
    language: str | None = pydantic.Field(default=None, description="Audio language (BCP 47).")


class PackagingResult(base.StatusModel):
    """`status.packaging`: where the manifests are and what they offer."""

    format: str = pydantic.Field(description="hls, dash or cmaf.")
    manifests: list[str] = pydantic.Field(
        default_factory=list, max_length=2,
        description="Manifest URLs: the HLS master playlist and/or the DASH MPD (s3://).")
    renditions: list[RenditionResult] | None = pydantic.Field(
        default=None, max_length=2 * constants.MAX_OUTPUTS,
        description="Video and audio renditions (left out when the report had to be shortened).")
    size_bytes: int | None = pydantic.Field(
        default=None, alias="bytes", ge=0, description="Bytes of every object written.")
    objects: int | None = pydantic.Field(
        default=None, ge=0, description="Objects written (segments, init segments, playlists).")
    segment_seconds: int | None = pydantic.Field(
        default=None, ge=1, description="Segment duration the renditions were cut at.")


_RENDITION_FEW = ("name", "type", "codecs", "bandwidth")


def shrink(packaging: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Ever shorter copies of a `PackagingResult` dict (by alias) for the termination
    message: renditions with name, type, codecs and peak bandwidth only, then none."""
    renditions = packaging.get("renditions") or []
    yield {**packaging, "renditions": [{k: r[k] for k in _RENDITION_FEW if k in r}
                                       for r in renditions]}
    yield {k: v for k, v in packaging.items() if k != "renditions"}
