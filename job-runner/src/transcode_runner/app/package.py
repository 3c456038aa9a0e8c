"""The packaging step of an attempt: segments, measured manifests, directory upload.

`pipeline` calls `deliver` after the outputs are encoded, measured and
uploaded when the job has `spec.packaging`. One FFmpeg process copies every
rung's video and the audio tracks of the first rung that has audio (one
rendition per track, so one per selected language) into fMP4/CMAF segments
(`packager.argv`; the keyframes at the segment boundaries were put there by
the encode, `keyframes`); then each rendition is measured from its files
(codec string from its init segment, `codecstrings`; peak and average bitrate
from its segment sizes, `manifests.rates`), the master playlist is written and
the MPD rewritten with those values, and the files go up with `dirupload`
(segments, then media playlists, then the entry points) under a folder
unique to this attempt. Returns the `PackagingResult` for `status.packaging`.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from transcode_api import packaging, spec
from transcode_runner.domain import (
    codecstrings,
    errors,
    languages,
    manifests,
    media,
    packager,
    plan,
    tracks,
)
from transcode_runner.io import dirupload, s3upload, seams, settings, transfer

log = logging.getLogger(__name__)

_SUFFIXES = (".m4s", ".mp4", ".m3u8", ".mpd")


def deliver(job: spec.TranscodeJobSpec, measured: Sequence[tuple[plan.OutputPlan, media.MediaInfo]],
            scratch: Path, cfg: settings.Settings, runner: seams.ProcessRunner,
            mover: transfer.Transfer, progress: Callable[[int], None] | None = None
            ) -> packaging.PackagingResult:
    """Cut, measure, describe and upload the package of `job` (its `packaging` is set)."""
    pack = job.packaging
    assert pack is not None
    out_dir = scratch / "package"
    out_dir.mkdir(parents=True, exist_ok=True)
    rungs = [out.path for out, _ in measured]
    lead = next((i for i, (_, info) in enumerate(measured) if info.audio_tracks), None)
    kept = measured[lead][1].audio_tracks if lead is not None else ()
    audio = (lead, [t.position for t in kept]) if lead is not None else None
    duration = max((info.duration for _, info in measured), default=0.0)
    done = runner.run(packager.argv(cfg.ffmpeg_path, rungs, audio, pack.segment_seconds, out_dir),
                      timeout=max(120.0, duration))
    if done.returncode != 0 or done.timed_out:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = errors.one_line(" / ".join(lines[-3:]) or f"exit status {done.returncode}",
                              limit=400)
        raise errors.Internal(f"packaging the renditions failed: {why}")
    folder = uuid.uuid4().hex[:12]
    videos = [_measure(out_dir, i, folder, info) for i, (_, info) in enumerate(measured)]
    audios = [_measure(out_dir, len(rungs) + n, folder, None, track)
              for n, track in enumerate(kept)]
    if audios and not any(a.default for a in audios):
        audios[0] = dataclasses.replace(audios[0], default=True)
    hls = pack.format in (packaging.Format.HLS, packaging.Format.CMAF)
    dash = pack.format in (packaging.Format.DASH, packaging.Format.CMAF)
    if hls:
        (out_dir / packager.MASTER).write_text(manifests.master(videos, audios))
    for rep_id in range(len(videos) + len(audios)):
        playlist = out_dir / packager.media_playlist(rep_id)
        playlist.write_text(manifests.clean_media(playlist.read_text()))
    every = [*videos, *audios]
    mpd = out_dir / packager.MPD
    mpd.write_text(manifests.rewrite_mpd(
        mpd.read_text(), {str(i): (r.codecs, r.peak) for i, r in enumerate(every)}, folder,
        {str(len(videos) + n): a.language for n, a in enumerate(audios) if a.language}))
    bucket, prefix = _split(pack.destination)
    waves = _waves(out_dir, prefix, folder, hls, dash, first_audio=len(videos))
    knobs = s3upload.Knobs(mover.part_size, mover.concurrency, mover.multipart_threshold)
    written = dirupload.upload(mover.s3, bucket, waves, knobs, mover.cancel, mover.book, progress)
    manifests_urls = [f"{pack.destination}{name}" for name, wanted
                      in ((packager.MASTER, hls), (packager.MPD, dash)) if wanted]
    log.info("packaged %d video and %d audio rendition(s): %d objects, %d bytes, %s",
             len(videos), len(audios), written.objects, written.bytes, ", ".join(manifests_urls))
    names = [out.name for out, _ in measured]
    return packaging.PackagingResult(
        format=pack.format.value, manifests=manifests_urls, size_bytes=written.bytes,
        objects=written.objects, segment_seconds=pack.segment_seconds,
        renditions=[_result(r, names[i] if i < len(names) else f"audio-{i - len(names)}",
                            i < len(names)) for i, r in enumerate(every)])


def _measure(out_dir: Path, rep_id: int, folder: str, info: media.MediaInfo | None,
             track: tracks.AudioTrack | None = None) -> manifests.Rendition:
    playlist = manifests.parse_media((out_dir / packager.media_playlist(rep_id)).read_text())
    missing = [s.uri for s in playlist.segments if not (out_dir / s.uri).is_file()]
    if missing or not playlist.segments:
        raise errors.Internal(f"packaging rendition {rep_id} lacks segments {missing[:3]}")
    init = (out_dir / (playlist.init or packager.init_segment(rep_id))).read_bytes()
    try:
        codecs = codecstrings.from_init(init)
    except (ValueError, IndexError) as exc:
        raise errors.Internal(f"rendition {rep_id}: no codec string: {exc}") from None
    peak, average = manifests.rates([(s.seconds, (out_dir / s.uri).stat().st_size)
                                     for s in playlist.segments])
    uri = f"{folder}/{packager.media_playlist(rep_id)}"
    if info is not None:
        return manifests.Rendition(uri, codecs, peak, average, info.width, info.height,
                                   round(info.fps, 3) if info.fps else None)
    assert track is not None
    return manifests.Rendition(uri, codecs, peak, average, language=languages.bcp47(track.language),
                               channels=track.channels or None, default=track.default)


def _waves(out_dir: Path, prefix: str, folder: str, hls: bool, dash: bool, first_audio: int
           ) -> list[list[dirupload.Item]]:
    """Segments and init segments; then media playlists (HLS); then the entry points."""
    waves: list[list[dirupload.Item]] = [[], [], []]
    for path in sorted(out_dir.iterdir()):
        name = path.name
        if not path.is_file() or not name.endswith(_SUFFIXES):
            continue
        if (name.endswith(".m3u8") and not hls) or (name.endswith(".mpd") and not dash):
            continue
        audio = name.startswith("init-") and int(name[5:].split(".")[0]) >= first_audio
        content_type, cache = packager.headers(name, audio=audio)
        wave = 2 if packager.is_top(name) else 1 if packager.is_manifest(name) else 0
        waves[wave].append(dirupload.Item(path, packager.key(prefix, folder, name),
                                          content_type, cache))
    return waves


def _split(destination: str) -> tuple[str, str]:
    location = transfer.parse(destination + "_")  # parse wants a key; the prefix is the rest
    return location.bucket, location.key[:-1]


def _result(r: manifests.Rendition, name: str, video: bool) -> packaging.RenditionResult:
    return packaging.RenditionResult(
        name=name, type="video" if video else "audio", codecs=r.codecs, bandwidth=r.peak,
        average_bandwidth=r.average, width=r.width, height=r.height, frame_rate=r.fps,
        language=r.language)
