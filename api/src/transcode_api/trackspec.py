"""The audio and subtitle part of one output's spec: `outputs[].audio` and `outputs[].subtitles`.

`AudioSpec` says how audio is encoded (codec, bitrate), which of the source's
audio tracks an output keeps (`tracks`: the default one or all; `languages`:
by language, in order) and how many channels each has (`channels`: keep, or
a downmix to stereo or mono). `SubtitleSpec` says whether the source's
subtitle tracks are carried (`mode`) and which (`languages`).
`transcode_api.output.OutputSpec` holds one of each; the runner's `tracks`
module turns them into FFmpeg arguments; `transcode_api.crdgen` turns their
fields and paired rules into the CRD schema, so every description here is
`kubectl explain` text.
"""

from __future__ import annotations

import enum
from typing import Annotated

import pydantic

from transcode_api import base, constants

MAX_LANGUAGES = 16
Language = Annotated[str, pydantic.StringConstraints(max_length=3, pattern=r"^[a-z]{2,3}$")]


class AudioTracks(enum.StrEnum):
    """Which source audio tracks an output keeps when no languages are named."""

    DEFAULT = "default"
    ALL = "all"


class AudioChannels(enum.StrEnum):
    """Channel count of each audio track in an output."""

    KEEP = "keep"
    STEREO = "stereo"
    MONO = "mono"


class SubtitleMode(enum.StrEnum):
    """Whether an output carries the source's subtitle tracks."""

    NONE = "none"
    COPY = "copy"


_LANGUAGES_HELP = (
    "ISO 639-2 codes (eng, fra or fre, deu or ger) or ISO 639-1 codes (en, fr, de), "
    "lowercase; the two forms match each other."
)


class AudioSpec(base.SpecModel):
    """How the audio of one output is handled: codec, bitrate, tracks and channels."""

    codec: constants.AudioCodec | None = pydantic.Field(
        default=None,
        description=(
            "aac or opus to encode, copy to pass the source tracks through unchanged, "
            "none to drop audio. Default: aac, or opus in a webm container."
        ),
    )
    bitrate: int | None = pydantic.Field(
        default=None,
        ge=constants.AUDIO_BITRATE_MIN,
        le=constants.AUDIO_BITRATE_MAX,
        description=(
            "Audio bitrate of each track in bits per second (16000..512000, i.e. "
            "16..512 kbps); only with aac or opus. Default: 128000 for aac, 96000 for "
            "opus, per two channels (a 5.1 track gets three times that, at most 512000)."
        ),
    )
    tracks: AudioTracks | None = pydantic.Field(
        default=None,
        description=(
            "Which source audio tracks the output keeps: `default` (the track the source "
            "marks default, else its first) or `all` (every track, in source order, the "
            "source's default track staying the default). Not together with languages. "
            "Default: default."
        ),
    )
    languages: list[Language] | None = pydantic.Field(
        default=None,
        min_length=1,
        max_length=MAX_LANGUAGES,
        description=(
            "Keep the source's audio tracks in these languages, in this order (every "
            "track of a language, in source order); the first track is the output's "
            f"default. {_LANGUAGES_HELP} A language the source lacks is skipped and "
            "named in status.outputs[].messages; when none matches, the source's default "
            "track is kept and the message says so. Not together with tracks."
        ),
    )
    channels: AudioChannels = pydantic.Field(
        default=AudioChannels.KEEP,
        description=(
            "Channels of each audio track: keep (as in the source), stereo or mono. A "
            "downmix uses FFmpeg's standard matrix (ITU-R BS.775: centre and surrounds "
            "at -3 dB, LFE left out, scaled so it never clips). Not with codec copy."
        ),
    )

    def effective_codec(self, container: constants.Container) -> constants.AudioCodec:
        """The audio codec used in `container`: `codec`, else opus for webm, else aac."""
        if self.codec is not None:
            return constants.AudioCodec(self.codec)
        if container == constants.Container.WEBM:
            return constants.AudioCodec.OPUS
        return constants.AudioCodec.AAC

    __rules__ = (
        base.Rule(
            cel="!has(self.bitrate) || !has(self.codec) || self.codec in ['aac', 'opus']",
            message="bitrate applies only when audio is encoded (codec aac or opus), not with copy or none",
            field="bitrate",
            check=lambda a: a.bitrate is None or a.codec in (None, "aac", "opus"),
        ),
        base.Rule(
            cel="!has(self.tracks) || !has(self.languages)",
            message="set either tracks (default or all) or languages, not both",
            field="languages",
            check=lambda a: a.tracks is None or a.languages is None,
        ),
        base.Rule(
            cel="!has(self.channels) || self.channels == 'keep' || !has(self.codec) || self.codec != 'copy'",
            message="channels stereo or mono needs the audio encoded (codec aac or opus), not copied",
            field="channels",
            check=lambda a: a.channels == AudioChannels.KEEP or a.codec != constants.AudioCodec.COPY,
        ),
    )


class SubtitleSpec(base.SpecModel):
    """Which of the source's subtitle tracks one output carries."""

    mode: SubtitleMode = pydantic.Field(
        default=SubtitleMode.COPY,
        description=(
            "copy (default): carry the source's subtitle tracks with their language and "
            "default/forced flags. Text tracks (SubRip, ASS, WebVTT, mov_text) are "
            "converted to what the container takes: mov_text in mp4, WebVTT in webm, "
            "kept as they are in mkv. Bitmap tracks (PGS, DVD, DVB) are kept in mkv and "
            "dropped in mp4 and webm, each named in status.outputs[].messages. "
            "none: no subtitles."
        ),
    )
    languages: list[Language] | None = pydantic.Field(
        default=None,
        min_length=1,
        max_length=MAX_LANGUAGES,
        description=(
            "Carry only the subtitle tracks in these languages, in this order. "
            f"{_LANGUAGES_HELP} A language the source lacks is named in "
            "status.outputs[].messages. Default: every subtitle track."
        ),
    )

    __rules__ = (
        base.Rule(
            cel="!has(self.languages) || !has(self.mode) || self.mode != 'none'",
            message="subtitles.languages filters copied tracks; it cannot be used with mode none",
            field="languages",
            check=lambda s: s.languages is None or s.mode != SubtitleMode.NONE,
        ),
    )
