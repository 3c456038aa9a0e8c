"""Thumbnails from the real runner, FFmpeg and S3 server, judged the way a viewer sees them.

Two jobs run once each: a 12 s portrait phone clip (coded 1280x720, rotated 90
degrees, its whole picture moving) with a poster, a 2x2 JPEG sprite storyboard
and an animated WebP preview; and a 1 s anamorphic PAL clip (720x576 with pixel
aspect 32/27, shown 853x576) with a WebP poster at a given time, a WebP sprite and a GIF preview.
Everything comes from the one FFmpeg process that encodes the video; every
object is read back from S3: sizes and counts in the status match the files,
the poster keeps the displayed aspect, each storyboard cue's `#xywh` region
matches FFmpeg's own rendering of the source frame at the cue's time (SSIM),
the cues cover the whole duration, the preview has the asked frames and size,
and a failed upload leaves nothing under the prefix.
"""

from __future__ import annotations

import json
import re
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dev import corpus
from dev.services import s3server
from tests.functional.runner import conftest, faultservers, viewer
from transcode_api import spec
from transcode_runner.domain import plan
from transcode_runner.io import mediaprobe, seams

CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$")


@dataclass
class Done:
    run: conftest.Run
    source: Path
    bucket: str
    prefix: str
    work: Path

    @property
    def thumbs(self) -> dict[str, Any]:
        return dict(self.run.result["thumbnails"])

    def get(self, server: s3server.S3Server, url: str) -> Path:
        return conftest.fetch(server, url, self.work)


def _wrapper(work: Path) -> tuple[Path, Path]:
    log, wrapper = work / "ffmpeg-calls.jsonl", work / "ffmpeg-logged"
    wrapper.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                       f"with open({str(log)!r}, 'a') as f:\n"
                       "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                       f"os.execv({conftest.FFMPEG!r}, [{conftest.FFMPEG!r}] + sys.argv[1:])\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper, log


def _run(server: s3server.S3Server, work: Path, source: Path, thumbs: dict[str, Any],
         endpoint: str | None = None, **env: str) -> Done:
    bucket, prefix = server.make_bucket(), "pictures/clip/"
    wrapper, log = _wrapper(work)
    spec = {"storage": conftest.storage(server, endpoint), "source": str(source),
            "acceleration": {"mode": "cpu"},
            "outputs": [{"name": "360p", "destination": f"s3://{bucket}/files/360p.mp4",
                         "video": {"preset": "ultrafast", "resolution": "360p"}}],
            "thumbnails": {"destination": f"s3://{bucket}/{prefix}", **thumbs}}
    full_env = conftest.runner_env(server, work, TRANSCODER_FFMPEG_PATH=str(wrapper), **env)
    run = conftest.finish(conftest.start_job(spec, work, full_env), work, log)
    return Done(run, source, bucket, prefix, work)


@pytest.fixture(scope="module")
def phone(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory) -> Done:
    work = tmp_path_factory.mktemp("thumbs-phone")
    source = corpus.panning(work / "phone.mp4", 90, seconds=12.0)
    done = _run(s3_server, work, source, {
        "poster": {"width": 360},
        "sprite": {"intervalSeconds": 2, "columns": 2, "rows": 2, "tileWidth": 160},
        "preview": {"format": "webp", "seconds": 3, "fps": 10, "clips": 3, "width": 180}})
    assert done.run.code == 0, done.run.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def pal(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory) -> Done:
    work = tmp_path_factory.mktemp("thumbs-pal")
    source = corpus.anamorphic(work / "pal.mp4")
    done = _run(s3_server, work, source, {
        "poster": {"format": "webp", "width": 320, "atSeconds": 0.52},
        "sprite": {"format": "webp", "intervalSeconds": 0.5, "tileWidth": 128},
        "preview": {"format": "gif", "seconds": 1, "fps": 10, "clips": 2, "width": 160}})
    assert done.run.code == 0, done.run.stderr[-3000:]
    return done


def _cues(text: str) -> list[tuple[float, float, str]]:
    lines = text.splitlines()
    assert lines[0] == "WEBVTT"
    found = []
    for i, line in enumerate(lines):
        if (m := CUE.match(line)) is not None:
            n = [int(g) for g in m.groups()]
            found.append((n[0] * 3600 + n[1] * 60 + n[2] + n[3] / 1000,
                          n[4] * 3600 + n[5] * 60 + n[6] + n[7] / 1000, lines[i + 1]))
    return found


def _storyboard(done: Done, server: s3server.S3Server) -> list[tuple[float, float, str]]:
    return _cues(done.get(server, done.thumbs["sprite"]["storyboard"]).read_text())


def _duration(path: Path) -> float:
    return float(conftest.ffprobe(path)["format"]["duration"])


def _anmf_frames(data: bytes) -> int:
    """Frames of an animated WebP: its ANMF chunks (FFmpeg 5.1 cannot decode animated WebP)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    at, frames = 12, 0
    while at + 8 <= len(data):
        size = struct.unpack_from("<I", data, at + 4)[0]
        frames += data[at:at + 4] == b"ANMF"
        at += 8 + size + (size & 1)
    return frames


def test_one_ffmpeg_process_decodes_the_source_for_the_video_and_every_picture(
        phone: Done) -> None:
    assert len(phone.run.encodes) == 1
    written = [a for a in phone.run.encodes[0] if a.startswith("file:")]
    names = [Path(a).name for a in written]
    assert names[1:] == ["out-360p.mp4", "thumb-poster.jpg", "tile-%04d.png",
                         "frame-%04d.png"]  # the source first, then every output
    assert sum(1 for a in phone.run.encodes[0] if a == "-i") == 1
    others = [argv for argv in phone.run.ffmpeg_calls if "-progress" not in argv
              and any(a.endswith((".jpg", ".webp", ".gif")) for a in argv)]
    inputs = [Path(argv[argv.index("-i") + 1]).name for argv in others]
    assert sorted(inputs) == ["frame-%04d.png", "tile-%04d.png"]  # sheets and preview: PNGs


def test_a_job_with_pictures_reports_progress_from_the_start_of_its_encode(
        tmp_path: Path) -> None:
    """FFmpeg 5.1 prints no -progress until every output has had a frame; a poster chosen at
    the end would hide progress (and trip the stall watch) for the whole encode."""
    source = corpus.progressive(tmp_path / "long.mp4", "640x360", 25, 20.0)
    job = spec.parse_spec({
        "source": "s3://media-in/long.mp4", "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "360p", "destination": "s3://media-out/360p.mp4",
                     "video": {"preset": "ultrafast", "resolution": "360p"}}],
        "thumbnails": {"destination": "s3://media-out/p/", "poster": {}, "sprite": {},
                       "preview": {}}})
    info = mediaprobe.inspect_source(source, seams.SubprocessRunner(), "ffprobe", 60,
                                     ffmpeg=conftest.FFMPEG)
    argv = plan.build(job, info, plan.choose(job, None), tmp_path, conftest.FFMPEG).passes[-1]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    reported = [int(line.split("=")[1]) / 1e6 for line in done.stdout.splitlines()
                if line.startswith("out_time_us=") and line.split("=")[1].isdigit()]
    assert reported and reported[0] < 5.0, reported[:3]  # the first report, 20 s of media


def test_status_lists_every_picture_with_the_sizes_and_counts_of_the_objects(
        phone: Done, s3_server: s3server.S3Server) -> None:
    thumbs = phone.thumbs
    s3 = s3_server.client()
    listed = s3.list_objects_v2(Bucket=phone.bucket, Prefix=phone.prefix)["Contents"]
    assert thumbs["bytes"] == sum(o["Size"] for o in listed)
    assert thumbs["objects"] == len(listed) == 1 + 1 + 2 + 1  # poster, preview, 2 sheets, vtt
    base = f"s3://{phone.bucket}/{phone.prefix}"
    assert thumbs["poster"]["url"] == base + "poster.jpg"
    assert thumbs["preview"]["url"] == base + "preview.webp"
    sprite = thumbs["sprite"]
    assert (sprite["storyboard"], sprite["sheets"], sprite["tiles"]) == (
        base + "storyboard.vtt", 2, 6)  # a tile at 0, 2, ..., 10 s: 4 on the first sheet
    for kind in ("poster", "preview"):
        head = s3.head_object(Bucket=phone.bucket,
                              Key=thumbs[kind]["url"].removeprefix(f"s3://{phone.bucket}/"))
        assert head["ContentLength"] == thumbs[kind]["bytes"]
    assert phone.run.termination is not None
    assert phone.run.termination["thumbnails"]["sprite"]["storyboard"] == sprite["storyboard"]


def test_every_object_has_its_content_type_and_cache_control(
        phone: Done, pal: Done, s3_server: s3server.S3Server) -> None:
    s3 = s3_server.client()
    kinds = {".jpg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif",
             ".vtt": "text/vtt; charset=utf-8"}
    for done in (phone, pal):
        listed = s3.list_objects_v2(Bucket=done.bucket, Prefix=done.prefix)["Contents"]
        for obj in listed:
            head = s3.head_object(Bucket=done.bucket, Key=obj["Key"])
            assert head["ContentType"] == kinds[Path(obj["Key"]).suffix], obj["Key"]
            sheet = "/sprite-" in obj["Key"]
            assert head["CacheControl"] == ("public, max-age=31536000, immutable" if sheet
                                            else "public, max-age=60"), obj["Key"]


def test_the_poster_of_a_portrait_phone_clip_is_portrait_at_its_displayed_aspect(
        phone: Done, s3_server: s3server.S3Server) -> None:
    poster = phone.get(s3_server, phone.thumbs["poster"]["url"])
    stream = viewer.video(poster)
    assert (stream["width"], stream["height"]) == (360, 640)
    assert (phone.thumbs["poster"]["width"], phone.thumbs["poster"]["height"]) == (360, 640)
    assert viewer.displayed_aspect(stream) == pytest.approx(
        viewer.displayed_aspect(viewer.video(phone.source)), rel=0.01)


def test_storyboard_cues_cover_the_whole_duration_without_gaps(
        phone: Done, pal: Done, s3_server: s3server.S3Server) -> None:
    for done, interval in ((phone, 2.0), (pal, 0.5)):
        cues = _storyboard(done, s3_server)
        assert cues[0][0] == 0.0
        assert all(a[1] == b[0] for a, b in zip(cues, cues[1:], strict=False))
        assert [c[0] for c in cues] == [pytest.approx(k * interval) for k in range(len(cues))]
        assert cues[-1][1] == pytest.approx(_duration(done.source), abs=0.002)
        assert len(cues) == done.thumbs["sprite"]["tiles"]


def test_storyboard_regions_match_the_source_frames_at_their_cue_times(
        phone: Done, pal: Done, s3_server: s3server.S3Server) -> None:
    for done in (phone, pal):
        vtt_url = done.thumbs["sprite"]["storyboard"]
        folder = vtt_url.rsplit("/", 1)[0] + "/"
        scores = []
        for start, _, target in _storyboard(done, s3_server):
            name, _, fragment = target.partition("#xywh=")
            x, y, w, h = (int(v) for v in fragment.split(","))
            sheet = done.get(s3_server, folder + name)  # relative to the storyboard
            shown = viewer.video(sheet)
            assert x + w <= int(shown["width"]) and y + h <= int(shown["height"])
            if done is phone:  # portrait tiles at the shown aspect, 160 wide
                assert (w, h) == (160, 284)
            scores.append(viewer.picture_ssim(done.source, sheet, at=start, region=(x, y, w, h)))
        assert min(scores) >= viewer.MIN_SSIM, scores


def test_a_storyboard_tile_does_not_match_a_neighbouring_time(
        phone: Done, s3_server: s3server.S3Server) -> None:
    """The SSIM bar tells frames apart: tile 1 (2 s) against the source at 2.5 s scores low."""
    folder = phone.thumbs["sprite"]["storyboard"].rsplit("/", 1)[0] + "/"
    _, _, target = _storyboard(phone, s3_server)[1]
    name, _, fragment = target.partition("#xywh=")
    region = tuple(int(v) for v in fragment.split(","))
    sheet = phone.get(s3_server, folder + name)
    assert viewer.picture_ssim(phone.source, sheet, at=2.5, region=region) < viewer.MIN_SSIM  # type: ignore[arg-type]


def test_the_preview_has_the_asked_frames_and_size(
        phone: Done, pal: Done, s3_server: s3server.S3Server) -> None:
    webp = phone.get(s3_server, phone.thumbs["preview"]["url"]).read_bytes()
    assert _anmf_frames(webp) == 3 * 10 == phone.thumbs["preview"]["frames"]
    canvas = webp[24:30]  # VP8X: 24-bit width - 1, height - 1
    assert (1 + int.from_bytes(canvas[:3], "little"), 1 + int.from_bytes(canvas[3:], "little")
            ) == (180, 320)
    gif = pal.get(s3_server, pal.thumbs["preview"]["url"])
    assert viewer.frame_count(gif) == 1 * 10 == pal.thumbs["preview"]["frames"]
    stream = viewer.video(gif)
    assert (stream["width"], stream["height"]) == (160, 108)  # 853x576 shown


def test_an_anamorphic_poster_at_a_time_is_that_frame_with_square_pixels(
        pal: Done, s3_server: s3server.S3Server) -> None:
    poster = pal.get(s3_server, pal.thumbs["poster"]["url"])
    stream = viewer.video(poster)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("webp", 320, 216)  # 853x576 shown
    assert viewer.picture_ssim(pal.source, poster, at=0.52) >= viewer.MIN_SSIM


def test_a_failed_sheet_upload_leaves_nothing_under_the_prefix(
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    source = corpus.panning(tmp_path / "phone.mp4", 90, seconds=3.0)
    proxy = faultservers.FaultProxy(s3_server.port, {"sheet": lambda m, t, h: (
        m == "PUT" and "sprite-001" in t)})
    try:
        done = _run(s3_server, tmp_path, source, {
            "poster": {"width": 64}, "sprite": {"intervalSeconds": 1, "columns": 1, "rows": 1,
                                                "tileWidth": 64}},
            endpoint=proxy.endpoint, TRANSCODER_S3_MAX_ATTEMPTS="1")
    finally:
        proxy.close()
    assert proxy.fired["sheet"] == 1
    assert done.run.code == 75, done.run.stderr[-2000:]  # transient: the job is retried
    listed = s3_server.client().list_objects_v2(Bucket=done.bucket, Prefix=done.prefix)
    assert listed["KeyCount"] == 0, [o["Key"] for o in listed.get("Contents", [])]
    assert json.dumps(done.run.result).count("sprite-001") >= 1


def test_an_hdr10_poster_is_tone_mapped_like_the_sdr_output_of_the_same_job(
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    source = corpus.hdr(tmp_path / "pq.mkv")  # 10-bit HEVC, BT.2020 PQ, HDR10 metadata
    done = _run(s3_server, tmp_path, source, {"poster": {"width": 320, "atSeconds": 0.4}})
    assert done.run.code == 0, done.run.stderr[-2000:]
    video = done.get(s3_server, done.run.result["outputs"][0]["url"])  # H.264: tone-mapped
    assert any(m.startswith("ToneMapped:") for m in done.run.result["outputs"][0]["messages"])
    poster = done.get(s3_server, done.thumbs["poster"]["url"])
    assert (viewer.video(poster)["width"], viewer.video(poster)["height"]) == (320, 180)
    assert viewer.picture_ssim(video, poster, at=0.4) >= viewer.MIN_SSIM


def test_a_variable_rate_source_gets_a_tile_for_every_cue(
        s3_server: s3server.S3Server, tmp_path: Path) -> None:
    source = corpus.variable_rate(tmp_path / "vfr.mp4")  # 30 fps for 1 s, then 12 fps
    done = _run(s3_server, tmp_path, source, {"sprite": {"intervalSeconds": 0.5, "columns": 4,
                                                         "rows": 2, "tileWidth": 96}})
    assert done.run.code == 0, done.run.stderr[-2000:]
    cues = _storyboard(done, s3_server)
    assert cues[-1][1] == pytest.approx(_duration(source), abs=0.002)
    folder = done.thumbs["sprite"]["storyboard"].rsplit("/", 1)[0] + "/"
    for start, _, target in cues:
        name, _, fragment = target.partition("#xywh=")
        region = tuple(int(v) for v in fragment.split(","))
        sheet = done.get(s3_server, folder + name)
        assert viewer.picture_ssim(source, sheet, at=start, region=region  # type: ignore[arg-type]
                                   ) >= viewer.MIN_SSIM, start
