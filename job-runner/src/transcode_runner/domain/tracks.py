"""Audio and subtitle tracks: what a file holds, and what each output keeps of the source's.

`media` calls `parse` on ffprobe's streams (of the source, and of every
finished output) for typed `AudioTrack`s and `SubtitleTrack`s. `plan` calls
`select` once per output: from the spec's `audio` (`tracks` or `languages`,
`channels`, codec, bitrate) and `subtitles` (`mode`, `languages`) it returns
the FFmpeg arguments that map, encode, tag and flag those tracks (exactly one
default audio track; text subtitles converted to what the container takes,
bitmap subtitles kept in mkv only) and messages naming every track or
language the output could not have. `pipeline` calls `results` to list a
finished output's tracks in `status.outputs[]`. Pure: argument lists only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transcode_api import constants, output, trackspec
from transcode_api import results as listing
from transcode_runner.domain import languages

TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text",
                            "microdvd", "subviewer", "subviewer1", "sami", "realtext",
                            "jacosub", "mpl2", "pjs", "vplayer", "stl", "ttml"})
BITMAP_SUBTITLES = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle"})
_MKV_TEXT = frozenset({"subrip", "ass", "ssa", "webvtt"})  # Matroska stores these as they are
_TEXT_TARGET = {"mp4": "mov_text", "webm": "webvtt", "mkv": "subrip"}
_SHORT = {"hdmv_pgs_subtitle": "pgs", "dvd_subtitle": "dvdsub", "dvb_subtitle": "dvbsub"}
_BASE_BITRATE = {constants.AudioCodec.AAC: 128_000, constants.AudioCodec.OPUS: 96_000}
_ENCODER = {constants.AudioCodec.AAC: "aac", constants.AudioCodec.OPUS: "libopus"}
_OPUS_LAYOUTS = "aformat=channel_layouts=mono|stereo|3.0|quad|5.0|5.1|6.1|7.1"
_TARGET_CHANNELS = {trackspec.AudioChannels.STEREO: 2, trackspec.AudioChannels.MONO: 1}


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a file."""

    index: int
    """Absolute stream index (ffprobe's `index`)."""
    position: int
    """N in `-map 0:a:N`: the stream's place among the file's audio streams."""
    codec: str
    channels: int
    layout: str | None
    language: str | None
    """The file's language tag as written (`eng`, `fre`); None when missing or `und`."""
    default: bool
    title: str | None = None


@dataclass(frozen=True)
class SubtitleTrack:
    """One subtitle stream of a file."""

    index: int
    position: int
    """N in `-map 0:s:N`."""
    codec: str
    language: str | None
    default: bool
    forced: bool
    text: bool
    """True for text subtitles (SubRip, ASS, WebVTT, mov_text), False for bitmaps."""
    title: str | None = None


@dataclass(frozen=True)
class Selection:
    """What one output keeps: its FFmpeg arguments, tracks (in output order) and messages."""

    args: tuple[str, ...]
    audio: tuple[AudioTrack, ...]
    subtitles: tuple[SubtitleTrack, ...]
    messages: tuple[str, ...]


def parse(streams: Sequence[Mapping[str, Any]]
          ) -> tuple[tuple[AudioTrack, ...], tuple[SubtitleTrack, ...]]:
    """The audio and subtitle tracks in ffprobe's `streams` list (other streams ignored)."""
    audio: list[AudioTrack] = []
    subs: list[SubtitleTrack] = []
    for stream in streams:
        kind = stream.get("codec_type")
        tags = {str(k).lower(): v for k, v in dict(stream.get("tags") or {}).items()}
        flags = dict(stream.get("disposition") or {})
        codec = str(stream.get("codec_name") or "unknown")
        language = _tag(tags.get("language"))
        if languages.normalise(language) is None:
            language = None
        index = int(stream.get("index", len(audio) + len(subs)))
        default, title = bool(flags.get("default")), _tag(tags.get("title"))
        if kind == "audio":
            audio.append(AudioTrack(index, len(audio), codec, int(stream.get("channels") or 0),
                                    _tag(stream.get("channel_layout")), language, default,
                                    title))
        elif kind == "subtitle":
            subs.append(SubtitleTrack(index, len(subs), codec, language, default,
                                      bool(flags.get("forced")), codec in TEXT_SUBTITLES,
                                      title))
    return tuple(audio), tuple(subs)


def select(out: output.OutputSpec, audio: Sequence[AudioTrack],
           subtitles: Sequence[SubtitleTrack]) -> Selection:
    """The tracks `out` keeps of the source's `audio` and `subtitles`, as FFmpeg arguments."""
    a_args, a_kept, a_notes = _audio(out, audio)
    s_args, s_kept, s_notes = _subtitles(out, subtitles)
    return Selection(tuple(a_args + s_args), a_kept, s_kept, tuple(a_notes + s_notes))


def results(audio: Sequence[AudioTrack], subtitles: Sequence[SubtitleTrack]
            ) -> tuple[list[listing.AudioTrackResult], list[listing.SubtitleTrackResult]]:
    """The `status.outputs[]` listing of a finished file's tracks."""
    return (
        [listing.AudioTrackResult(codec=t.codec, channels=t.channels or None,
                                  language=t.language, default=t.default) for t in audio],
        [listing.SubtitleTrackResult(codec=t.codec, language=t.language, default=t.default,
                                     forced=t.forced) for t in subtitles],
    )


# --- audio ----------------------------------------------------------------------
def _audio(out: output.OutputSpec, tracks: Sequence[AudioTrack]
           ) -> tuple[list[str], tuple[AudioTrack, ...], list[str]]:
    spec = out.audio
    codec = spec.effective_codec(constants.Container(out.container))
    if codec == constants.AudioCodec.NONE or not tracks:
        return ["-an"], (), []
    notes: list[str] = []
    usable = [t for t in tracks if t.codec not in ("unknown", "none")]
    for t in tracks:
        if t not in usable:
            notes.append(f"AudioTrackDropped: audio track {t.position} ({_name(t)}) has a "
                         "codec FFmpeg cannot read")
    if not usable:
        return ["-an"], (), notes
    chosen, default = _choose_audio(spec, usable, notes)
    args: list[str] = []
    for k, track in enumerate(chosen):
        args += ["-map", f"0:a:{track.position}"]
        args += _audio_codec(k, track, spec, codec)
        if track.language:
            args += [f"-metadata:s:a:{k}", f"language={track.language}"]
        args += [f"-disposition:a:{k}", "default" if track == default else "0"]
    return args, tuple(chosen), notes


def _choose_audio(spec: trackspec.AudioSpec, tracks: Sequence[AudioTrack], notes: list[str]
                  ) -> tuple[list[AudioTrack], AudioTrack]:
    """The tracks to keep, in output order, and the one that is the output's default."""
    source_default = next((t for t in tracks if t.default), tracks[0])
    if spec.languages:
        chosen, missing = _by_language(tracks, spec.languages)
        for code in missing:
            notes.append(f"AudioLanguageMissing: the source has no audio track in {code!r}")
        if chosen:
            return chosen, chosen[0]
        notes.append(f"AudioLanguageMissing: no audio track in {', '.join(spec.languages)}; "
                     f"kept the source's default track {source_default.position} "
                     f"({_name(source_default)})")
        return [source_default], source_default
    if spec.tracks == trackspec.AudioTracks.ALL:
        return list(tracks), source_default
    others = [t for t in tracks if t != source_default]
    if others:
        named = ", ".join(f"{t.position} ({_name(t)})" for t in others)
        notes.append(f"AudioTracksNotSelected: audio tracks {named} not kept (audio.tracks "
                     "default keeps the source's default track; set all or languages)")
    return [source_default], source_default


def _audio_codec(k: int, track: AudioTrack, spec: trackspec.AudioSpec,
                 codec: constants.AudioCodec) -> list[str]:
    if codec == constants.AudioCodec.COPY:
        return [f"-c:a:{k}", "copy"]
    args = [f"-c:a:{k}", _ENCODER[codec]]
    target = _TARGET_CHANNELS.get(trackspec.AudioChannels(spec.channels))
    if target is not None and track.channels != target:
        # swresample's default matrix: ITU-R BS.775 coefficients, normalised (no clipping).
        args += [f"-ac:a:{k}", str(target)]
    elif target is None and codec == constants.AudioCodec.OPUS and track.channels > 2:
        # libopus takes only the Vorbis layouts: 5.1(side) becomes 5.1, sides as backs.
        args += [f"-filter:a:{k}", _OPUS_LAYOUTS]
    channels = target or track.channels or 2
    bitrate = spec.bitrate or min(_BASE_BITRATE[codec] * max(1, channels // 2),
                                  constants.AUDIO_BITRATE_MAX)
    return args + [f"-b:a:{k}", str(bitrate)]


# --- subtitles --------------------------------------------------------------------
def _subtitles(out: output.OutputSpec, tracks: Sequence[SubtitleTrack]
               ) -> tuple[list[str], tuple[SubtitleTrack, ...], list[str]]:
    spec = out.subtitles
    if spec.mode == trackspec.SubtitleMode.NONE or not tracks:
        return ["-sn"], (), []
    notes: list[str] = []
    wanted = list(tracks)
    if spec.languages:
        wanted, missing = _by_language(tracks, spec.languages)
        notes += [f"SubtitleLanguageMissing: the source has no subtitle track in {code!r}"
                  for code in missing]
    container = constants.Container(out.container).value
    args: list[str] = []
    kept: list[SubtitleTrack] = []
    for track in wanted:
        codec, why = _subtitle_codec(track, container)
        if codec is None:
            notes.append(f"SubtitleDropped: subtitle track {track.position} ({_name(track)}) "
                         f"dropped: {why}")
            continue
        k = len(kept)
        kept.append(track)
        args += ["-map", f"0:s:{track.position}", f"-c:s:{k}", codec]
        if track.language:
            args += [f"-metadata:s:s:{k}", f"language={track.language}"]
        flags = [f for f, on in (("default", track.default), ("forced", track.forced)) if on]
        args += [f"-disposition:s:{k}", "+".join(flags) or "0"]
    return (args or ["-sn"]), tuple(kept), notes


def _subtitle_codec(track: SubtitleTrack, container: str) -> tuple[str | None, str]:
    """FFmpeg's `-c:s` for `track` in `container` (copy or a conversion), or None and why."""
    if track.text:
        target = _TEXT_TARGET[container]
        keep = track.codec in _MKV_TEXT if container == "mkv" else track.codec == target
        return ("copy" if keep else target), ""
    if track.codec not in BITMAP_SUBTITLES:
        return None, f"{track.codec} subtitles are neither text nor a known bitmap format"
    if container == "mkv":
        return "copy", ""
    return None, f"{container} cannot carry bitmap subtitles"


# --- shared -----------------------------------------------------------------------
def _by_language(tracks: Sequence[AudioTrack] | Sequence[SubtitleTrack], wanted: Sequence[str]
                 ) -> tuple[list[Any], list[str]]:
    """Every track in each wanted language (languages in the spec's order), and the missing ones."""
    chosen: list[Any] = []
    missing: list[str] = []
    seen: set[str | None] = set()
    for code in wanted:
        norm = languages.normalise(code)
        if norm in seen:
            continue
        seen.add(norm)
        found = [t for t in tracks if norm is not None and languages.normalise(t.language) == norm]
        chosen += found
        if not found:
            missing.append(code)
    return chosen, missing


def _name(track: AudioTrack | SubtitleTrack) -> str:
    """`aac, eng` / `pgs, fra` / `ac3, no language`: how messages name a track."""
    return f"{_SHORT.get(track.codec, track.codec)}, {track.language or 'no language'}"


def _tag(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
