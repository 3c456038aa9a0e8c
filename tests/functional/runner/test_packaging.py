"""A three-rung CMAF job against the real S3 server, read back the way players read it.

Every segment every playlist (and the MPD) names exists with the checksum S3
stores for it and the headers a CDN needs; every segment of every rung starts
with a keyframe at the same boundary; the master playlist's numbers match the
files; the audio's encoder priming is cut by an edit list, so the sound starts
with the picture and stops with it; FFmpeg's own HLS and DASH demuxers read the
manifests over HTTP and decode every rendition to the last frame; a failed
upload leaves nothing.
"""

from __future__ import annotations

import base64
import json
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.services import s3server
from tests.functional.runner import conftest, faultservers, packaged
from transcode_runner.domain import manifests


@pytest.fixture(scope="module")
def package(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[packaged.Packaged]:
    yield from packaged.served(s3_server, tmp_path_factory.mktemp("cmaf"))


def _get(package: packaged.Packaged, key: str) -> bytes:
    s3 = package.origin.s3
    return bytes(s3.get_object(Bucket=package.bucket, Key=key)["Body"].read())


def _playlists(package: packaged.Packaged) -> dict[str, manifests.MediaPlaylist]:
    """Media playlist key -> what it names, for every variant and audio rendition."""
    master = _get(package, package.prefix + "master.m3u8").decode()
    uris = [line for line in master.splitlines() if line and not line.startswith("#")]
    uris += [line.split('URI="')[1].split('"')[0] for line in master.splitlines()
             if line.startswith("#EXT-X-MEDIA:")]
    return {package.prefix + uri: manifests.parse_media(_get(package, package.prefix + uri)
                                                        .decode()) for uri in uris}


def test_status_lists_both_manifests_the_renditions_and_the_bytes(
        package: packaged.Packaged) -> None:
    result = package.result
    assert result["manifests"] == [f"s3://{package.bucket}/{package.prefix}master.m3u8",
                                   f"s3://{package.bucket}/{package.prefix}manifest.mpd"]
    listed = package.origin.s3.list_objects_v2(Bucket=package.bucket, Prefix=package.prefix)
    assert result["bytes"] == sum(o["Size"] for o in listed["Contents"])
    assert result["objects"] == listed["KeyCount"]
    renditions = result["renditions"]
    assert [(r["name"], r["height"]) for r in renditions if r["type"] == "video"] == [
        (name, height) for name, height, _ in packaged.RUNGS]
    assert [(r["type"], r["codecs"], r["language"]) for r in renditions if r["type"] == "audio"
            ] == [("audio", "mp4a.40.2", "en")]
    assert package.run.termination is not None
    assert package.run.termination["packaging"]["manifests"] == result["manifests"]


def test_every_segment_every_manifest_names_exists_with_its_checksum_and_headers(
        package: packaged.Packaged) -> None:
    s3 = package.origin.s3
    named: set[str] = set()
    for key, playlist in _playlists(package).items():
        folder = key.rsplit("/", 1)[0] + "/"
        assert playlist.init is not None and len(playlist.segments) == packaged.SECONDS // 2
        named |= {folder + playlist.init, *(folder + s.uri for s in playlist.segments)}
    mpd = _get(package, package.prefix + "manifest.mpd").decode()
    from_mpd = {package.prefix + name for names in packaged.segments_of_mpd(mpd).values()
                for name in names}
    assert from_mpd == named  # one set of segments, named by both HLS and DASH
    for key in sorted(named):
        head = s3.head_object(Bucket=package.bucket, Key=key, ChecksumMode="ENABLED")
        body = _get(package, key)
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        assert head["ChecksumCRC32"] == crc, key
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        assert head["ContentType"] in ("video/iso.segment", "video/mp4", "audio/mp4")
    for key, kind in (("master.m3u8", "application/vnd.apple.mpegurl"),
                      ("manifest.mpd", "application/dash+xml")):
        head = s3.head_object(Bucket=package.bucket, Key=package.prefix + key)
        assert (head["ContentType"], head["CacheControl"]) == (kind, "public, max-age=5")


def test_the_audio_ends_with_the_picture_so_a_player_reaches_the_end(
        package: packaged.Packaged) -> None:
    mpd = _get(package, package.prefix + "manifest.mpd").decode()
    seconds = packaged.timeline_seconds(mpd)
    rungs = len(packaged.RUNGS)
    video = [s for rep, s in seconds.items() if int(rep) < rungs]
    audio = [s for rep, s in seconds.items() if int(rep) >= rungs]
    assert video == [float(packaged.SECONDS)] * rungs
    # AAC pads its last frame; past the picture's end a DASH player never says "ended"
    assert audio and all(packaged.SECONDS - 1024 / 44100 < s <= packaged.SECONDS for s in audio)
    declared = ET.fromstring(mpd).get("mediaPresentationDuration", "")
    assert float(declared.removeprefix("PT").removesuffix("S")) == packaged.SECONDS


@pytest.fixture(scope="module")
def bframes(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[packaged.Packaged]:
    """The same job with preset veryfast: B-frames, so every rung's first picture is
    decoded 80 ms before it is shown (the rung's edit list says so)."""
    yield from packaged.served(s3_server, tmp_path_factory.mktemp("bframes"), "veryfast")


@pytest.mark.parametrize("fixture", ["package", "bframes"])
def test_sound_and_picture_start_together_and_stop_together(
        request: pytest.FixtureRequest, fixture: str, tmp_path: Path) -> None:
    """Every rendition as a player appends it (init segment, then every segment). The
    init segments keep the rungs' edit lists: the first picture shows at 0, not after the
    B-frame reorder delay (80 ms with veryfast), and AAC's priming frame is cut, not
    heard, so the first sample is the source's first, at 0 too. Without them the sound
    was 23 ms late, or ran about 57 ms ahead of the picture with B-frames, and past its end."""
    package: packaged.Packaged = request.getfixturevalue(fixture)
    mpd = _get(package, package.prefix + "manifest.mpd").decode()
    spans: dict[str, tuple[str, float, float]] = {}
    for rep, names in packaged.segments_of_mpd(mpd).items():
        track = tmp_path / f"rep-{rep}.mp4"
        track.write_bytes(b"".join(_get(package, package.prefix + name) for name in names))
        stream = _ffprobe("-show_entries", "stream=codec_type,start_time,duration",
                          str(track))["streams"][0]  # type: ignore[index]
        start = float(stream["start_time"])
        spans[rep] = (stream["codec_type"], start, start + float(stream["duration"]))
    audio = [s for s in spans.values() if s[0] == "audio"]
    video = [s for s in spans.values() if s[0] == "video"]
    assert len(audio) == 1 and len(video) == len(packaged.RUNGS), spans
    for _, start, end in video:
        assert (start, end) == (pytest.approx(0.0, abs=1e-3), pytest.approx(packaged.SECONDS))
    _, start, end = audio[0]
    assert start == pytest.approx(-1024 / 44100, abs=1e-4)  # the priming, before 0: not heard
    assert packaged.SECONDS - 1024 / 44100 < end <= packaged.SECONDS + 1e-3


def _ffprobe(*args: str) -> dict[str, object]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", *args],
                         check=True, capture_output=True, text=True, timeout=120)
    return dict(json.loads(out.stdout))


def test_every_rung_has_a_keyframe_at_every_segment_boundary(
        package: packaged.Packaged, tmp_path: Path) -> None:
    boundaries = [float(t) for t in range(0, packaged.SECONDS, packaged.SEGMENT)]
    video = {k: p for k, p in _playlists(package).items() if "media_3" not in k}
    assert len(video) == 3
    for key, playlist in video.items():
        folder = key.rsplit("/", 1)[0] + "/"
        assert playlist.init is not None
        joined = tmp_path / "rung.mp4"  # init + segments: the stream a player feeds its decoder
        joined.write_bytes(_get(package, folder + playlist.init) + b"".join(
            _get(package, folder + s.uri) for s in playlist.segments))
        frames = _ffprobe("-select_streams", "v:0", "-skip_frame", "nokey",
                          "-show_entries", "frame=pts_time", str(joined))["frames"]
        keys = [round(float(f["pts_time"]), 3) for f in frames]  # type: ignore[index]
        assert set(boundaries) <= set(keys), f"{key}: keyframes at {keys}"
        starts = [sum(s.seconds for s in playlist.segments[:i]) for i in
                  range(len(playlist.segments))]
        assert [round(s, 3) for s in starts] == boundaries


def test_master_playlist_numbers_are_measured_from_the_files(package: packaged.Packaged) -> None:
    master = _get(package, package.prefix + "master.m3u8").decode().splitlines()
    playlists = _playlists(package)
    audio = next(p for k, p in playlists.items() if "media_3" in k)
    audio_folder = package.prefix + next(k for k in playlists if "media_3" in k).split(
        package.prefix, 1)[1].rsplit("/", 1)[0] + "/"
    audio_peak, audio_avg = manifests.rates(
        [(s.seconds, len(_get(package, audio_folder + s.uri))) for s in audio.segments])
    variants = [(line, master[i + 1]) for i, line in enumerate(master)
                if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 3
    for (line, uri), (name, height, _) in zip(variants, packaged.RUNGS, strict=True):
        playlist = playlists[package.prefix + uri]
        folder = package.prefix + uri.rsplit("/", 1)[0] + "/"
        sizes = [(s.seconds, len(_get(package, folder + s.uri))) for s in playlist.segments]
        peak = max(size * 8 / seconds for seconds, size in sizes)
        joined = b"".join(_get(package, folder + s.uri) for s in playlist.segments)
        average = len(joined) * 8 / sum(s for s, _ in sizes)
        attrs = line.removeprefix("#EXT-X-STREAM-INF:")
        assert f"BANDWIDTH={int(-(-peak // 1)) + audio_peak}," in attrs
        assert f"AVERAGE-BANDWIDTH={int(-(-average // 1)) + audio_avg}," in attrs
        width = {720: 1280, 480: 854, 360: 640}[height]
        assert f"RESOLUTION={width}x{height}" in attrs and "FRAME-RATE=25.000" in attrs
        local = Path(package.work) / f"{name}.mp4"
        local.write_bytes(_get(package, f"files/{name}.mp4"))
        stream = _ffprobe("-select_streams", "v:0", "-show_entries", "stream=profile,level",
                          str(local))["streams"][0]  # type: ignore[index]
        profile = {"High": 0x64, "Main": 0x4D, "Constrained Baseline": 0x42}[stream["profile"]]
        assert f'CODECS="avc1.{profile:02x}' in attrs
        assert f'{int(stream["level"]):02x},mp4a.40.2"' in attrs and 'AUDIO="audio"' in attrs


@pytest.mark.parametrize("manifest", ["master.m3u8", "manifest.mpd"])
def test_ffmpeg_demuxers_decode_every_rendition_to_the_end(
        package: packaged.Packaged, manifest: str) -> None:
    url = package.origin.url(package.prefix + manifest)
    info = _ffprobe("-count_frames", "-show_entries",
                    "stream=codec_type,height,nb_read_frames", url)
    streams = info["streams"]
    video = sorted(s["height"] for s in streams if s["codec_type"] == "video")  # type: ignore
    assert video == [360, 480, 720]
    for stream in streams:  # type: ignore[attr-defined]
        if stream["codec_type"] == "video":
            assert int(stream["nb_read_frames"]) == packaged.SECONDS * packaged.FPS
        else:  # AAC at 44.1 kHz: 1024 samples a frame, the whole duration
            assert int(stream["nb_read_frames"]) >= packaged.SECONDS * 44100 // 1024
    assert all(status == 200 for path, status in package.origin.log)


def test_a_failed_segment_upload_leaves_nothing_under_the_prefix(
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    bucket, prefix = s3_server.make_bucket(), "broken/"
    proxy = faultservers.FaultProxy(s3_server.port, {"segment": lambda m, t, h: (
        m == "PUT" and "seg-1-00003.m4s" in t)})
    try:
        spec = {"storage": conftest.storage(s3_server, proxy.endpoint),
                **packaged.job_spec(packaged.make_source(tmp_path), bucket, prefix)}
        env = conftest.runner_env(s3_server, tmp_path, TRANSCODER_S3_MAX_ATTEMPTS="1")
        run = conftest.finish(conftest.start_job(spec, tmp_path, env), tmp_path, None)
    finally:
        proxy.close()
    assert proxy.fired["segment"] == 1
    assert run.code == 75, run.stderr[-2000:]  # transient: the job is retried
    assert "seg-1-00003.m4s" in run.result["message"]
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert listed["KeyCount"] == 0, [o["Key"] for o in listed.get("Contents", [])]
