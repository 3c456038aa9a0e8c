"""The manifests of a package: HLS master playlist, media playlists and the DASH MPD.

`app.package` lets FFmpeg's dash muxer cut the segments and write a first MPD
and media playlists, then uses this module to read the media playlists
(`parse_media`), measure each rendition from its segment sizes (`rates`: the
peak segment bitrate and the average), write the master playlist itself
(`master`: BANDWIDTH = measured peak of the video plus the largest audio
rendition's, AVERAGE-BANDWIDTH likewise, RESOLUTION, FRAME-RATE and the RFC
6381 CODECS of `codecstrings`, one audio group with a rendition per language)
and rewrite the MPD (`rewrite_mpd`: every video Representation in one
AdaptationSet, the same codec strings and peak bandwidths, segment paths
under the attempt's folder, BCP 47 languages).
`clean_media` marks media playlists as VOD and drops FFmpeg's wall-clock
PROGRAM-DATE-TIME tags. Pure: text in, text out.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
_NAMESPACES = {"": MPD_NS, "xsi": "http://www.w3.org/2001/XMLSchema-instance",
               "xlink": "http://www.w3.org/1999/xlink"}
AUDIO_GROUP = "audio"


@dataclass(frozen=True)
class Segment:
    """One media segment a playlist names."""

    uri: str
    seconds: float


@dataclass(frozen=True)
class MediaPlaylist:
    """What a media playlist names: its init segment and its media segments."""

    init: str | None
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Rendition:
    """One rendition as the master playlist describes it."""

    uri: str
    """Its media playlist, relative to the master playlist."""
    codecs: str
    peak: int
    average: int
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    language: str | None = None
    channels: int | None = None
    default: bool = False


def parse_media(text: str) -> MediaPlaylist:
    """The init segment (EXT-X-MAP URI) and the segments (EXTINF + URI) of a media playlist."""
    init, segments, seconds = None, [], None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            init = _attribute(line, "URI")
        elif line.startswith("#EXTINF:"):
            seconds = float(line.removeprefix("#EXTINF:").split(",", 1)[0])
        elif line and not line.startswith("#") and seconds is not None:
            segments.append(Segment(line, seconds))
            seconds = None
    return MediaPlaylist(init, tuple(segments))


def _attribute(line: str, name: str) -> str | None:
    marker = f'{name}="'
    start = line.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return line[start:line.index('"', start)]


def rates(sizes: Sequence[tuple[float, int]]) -> tuple[int, int]:
    """(peak, average) bits per second of segments given as (seconds, bytes)."""
    timed = [(seconds, size) for seconds, size in sizes if seconds > 0]
    if not timed:
        return 0, 0
    peak = max(size * 8 / seconds for seconds, size in timed)
    average = sum(size for _, size in timed) * 8 / sum(seconds for seconds, _ in timed)
    return math.ceil(peak), math.ceil(average)


def clean_media(text: str) -> str:
    """The media playlist as a VOD playlist, without FFmpeg's PROGRAM-DATE-TIME tags."""
    lines = [line for line in text.splitlines()
             if not line.startswith(("#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-PLAYLIST-TYPE"))]
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-VERSION")), 1)
    lines[at:at] = ["#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    return "\n".join(lines) + "\n"


def master(videos: Sequence[Rendition], audios: Sequence[Rendition]) -> str:
    """The HLS master playlist: one variant per video rendition, one audio group."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for number, audio in enumerate(audios):
        attrs = [f'TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}"',
                 f'NAME="{audio.language or f"audio {number + 1}"}"']
        if audio.language:
            attrs.append(f'LANGUAGE="{audio.language}"')
        attrs.append(f"DEFAULT={'YES' if audio.default else 'NO'},AUTOSELECT=YES")
        if audio.channels:
            attrs.append(f'CHANNELS="{audio.channels}"')
        lines.append("#EXT-X-MEDIA:" + ",".join([*attrs, f'URI="{audio.uri}"']))
    audio_peak = max((a.peak for a in audios), default=0)
    audio_average = max((a.average for a in audios), default=0)
    audio_codecs = list(dict.fromkeys(a.codecs for a in audios))
    for video in videos:
        attrs = [f"BANDWIDTH={video.peak + audio_peak}",
                 f"AVERAGE-BANDWIDTH={video.average + audio_average}"]
        if video.width and video.height:
            attrs.append(f"RESOLUTION={video.width}x{video.height}")
        if video.fps:
            attrs.append(f"FRAME-RATE={video.fps:.3f}")
        attrs.append(f'CODECS="{",".join([video.codecs, *audio_codecs])}"')
        if audios:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), video.uri]
    return "\n".join(lines) + "\n"


def rewrite_mpd(text: str, representations: Mapping[str, tuple[str, int]], folder: str,
                languages: Mapping[str, str]) -> str:
    """The MPD with every video Representation in one AdaptationSet, measured
    `codecs`/`bandwidth` per Representation id, segment paths under `folder/`, and the
    BCP 47 `lang` of each audio Representation's set."""
    for prefix, uri in _NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    root = ET.fromstring(text)  # our own FFmpeg's output, not tenant input
    ns = {"m": MPD_NS}
    for period in root.iterfind("m:Period", ns):
        _merge_video_sets(period)
    for adaptation in root.iterfind(".//m:AdaptationSet", ns):
        for rep in adaptation.iterfind("m:Representation", ns):
            rep_id = rep.get("id", "")
            if rep_id in representations:
                codecs, bandwidth = representations[rep_id]
                rep.set("codecs", codecs)
                rep.set("bandwidth", str(bandwidth))
            if rep_id in languages:
                adaptation.set("lang", languages[rep_id])
            for template in rep.iterfind("m:SegmentTemplate", ns):
                for key in ("initialization", "media"):
                    if template.get(key):
                        template.set(key, f"{folder}/{template.get(key)}")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def _merge_video_sets(period: ET.Element) -> None:
    """One AdaptationSet for every video Representation, so DASH players switch between
    them (segments are aligned: `keyframes`); the frame rate moves to each Representation."""
    name = f"{{{MPD_NS}}}"
    sets = [a for a in period.findall(f"{name}AdaptationSet") if a.get("contentType") == "video"]
    if not sets:
        return
    first, reps = sets[0], []
    for adaptation in sets:
        for rep in adaptation.findall(f"{name}Representation"):
            if adaptation.get("frameRate"):
                rep.set("frameRate", adaptation.get("frameRate", ""))
            adaptation.remove(rep)
            reps.append(rep)
        if adaptation is not first:
            period.remove(adaptation)
    first.extend(reps)
    for attr in ("par", "bitstreamSwitching", "frameRate"):
        first.attrib.pop(attr, None)
    first.set("maxWidth", str(max(int(r.get("width", "0")) for r in reps)))
    first.set("maxHeight", str(max(int(r.get("height", "0")) for r in reps)))
