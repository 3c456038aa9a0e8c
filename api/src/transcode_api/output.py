"""The per-output part of a TranscodeJob spec: `spec.outputs[]`, its video, audio and subtitles.

`OutputSpec`, `VideoSpec` (defined in `transcode_api.video`), `AudioSpec` and
`SubtitleSpec` (defined in `transcode_api.trackspec`) say what one rendition
should look like. `transcode_api.spec.TranscodeJobSpec` holds a list of them;
the runner's planner reads them (through `effective_codec`) to pick an encoder
and build the FFmpeg arguments; `transcode_api.crdgen` turns their fields,
bounds and paired rules into the CRD schema, so every description here is
`kubectl explain` text.
"""

from __future__ import annotations

import re

import pydantic

from transcode_api import base, constants, trackspec, urls, video

_WEBM_CODECS = (constants.Codec.AV1.value, constants.Codec.VP9.value)
_WEBM_ENCODERS = tuple(e for e, c in constants.ENCODER_CODEC.items() if c in _WEBM_CODECS)
_WEBM_AUDIO = (constants.AudioCodec.OPUS.value, constants.AudioCodec.NONE.value, "copy")
_S3_URL = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


VideoSpec = video.VideoSpec
"""Re-exported: the operator and the tests name `output.VideoSpec`."""


AudioSpec = trackspec.AudioSpec
SubtitleSpec = trackspec.SubtitleSpec
"""Re-exported from `transcode_api.trackspec` (audio tracks and subtitles)."""


class OutputSpec(base.SpecModel):
    """One rendition: where it goes, in which container, with which video and audio."""

    name: str = pydantic.Field(
        max_length=constants.MAX_NAME_LENGTH,
        pattern=DNS_LABEL,
        description=(
            "Name of this output, unique within the job: a DNS label (lowercase letters, "
            "digits, '-', at most 63 characters). Used in status.outputs and metrics."
        ),
    )
    destination: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "Where the file is uploaded: s3://bucket/key, unique within the job. Written "
            "with a parallel multipart upload and verified by checksum; an existing "
            "object is overwritten."
        ),
    )
    container: constants.Container = pydantic.Field(
        default=constants.Container.MP4,
        description=(
            "Container format: mp4 (default, with +faststart), mkv or webm. webm needs "
            "video codec vp9 or av1 and audio opus, copy or none."
        ),
    )
    video: VideoSpec = pydantic.Field(
        default_factory=VideoSpec,
        json_schema_extra={"default": {}},
        description="Video encoding settings. Default: h264 at the source size, quality-based.",
    )
    audio: AudioSpec = pydantic.Field(
        default_factory=AudioSpec,
        json_schema_extra={"default": {}},
        description=(
            "Audio settings. Default: the source's default track, channels kept, aac at "
            "128 kbps (opus at 96 kbps in webm)."
        ),
    )
    subtitles: SubtitleSpec = pydantic.Field(
        default_factory=SubtitleSpec,
        json_schema_extra={"default": {}},
        description=(
            "Subtitle tracks. Default: every source subtitle track the container can "
            "carry (text converted for mp4/webm; bitmap kept in mkv only)."
        ),
    )

    __rules__ = (
        base.Rule(
            cel=f"self.destination.matches('{_S3_URL}')",
            message="destination must be an s3://bucket/key URL",
            field="destination",
            check=lambda o: re.fullmatch(_S3_URL, o.destination) is not None,
        ),
        *urls.DESTINATION_RULES,
        base.Rule(
            cel=(
                "!has(self.container) || self.container != 'webm' || (has(self.video) && "
                f"(has(self.video.codec) ? self.video.codec in {base.cel_list(_WEBM_CODECS)} : "
                f"(has(self.video.encoder) && self.video.encoder in {base.cel_list(_WEBM_ENCODERS)})))"
            ),
            message="container webm needs video codec vp9 or av1",
            field="container",
            check=lambda o: o.container != "webm" or o.video.effective_codec in _WEBM_CODECS,
        ),
        base.Rule(
            cel=(
                "!has(self.container) || self.container != 'webm' || !has(self.audio) || "
                f"!has(self.audio.codec) || self.audio.codec in {base.cel_list(_WEBM_AUDIO)}"
            ),
            message="container webm needs audio codec opus, copy or none",
            field="container",
            check=lambda o: o.container != "webm" or o.audio.codec in (None, *_WEBM_AUDIO),
        ),
    )

