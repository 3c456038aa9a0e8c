"""Subtitles as a viewer gets them: converted for mp4/webm, kept in mkv, bitmaps dropped with a message.

The source (dev/media_tracks.py) has SubRip eng and fra, a forced PGS fra
and a DVD deu track. Each output is judged from the file: ffprobe for codecs,
languages and flags, and the cue text read back by FFmpeg itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev import media_tracks
from dev.services import s3server
from tests.functional.runner.conftest import FFMPEG, Run, fetch, ffprobe

DROPPED = "SubtitleDropped: subtitle track {n} ({codec}, {lang}) dropped: {container} cannot carry bitmap subtitles"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media_tracks.multi_language(tmp_path_factory.mktemp("tracks-subs"))


def subtitle_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == "subtitle"]


def cue_text(path: Path, track: int) -> str:
    """Subtitle track `track` of `path` as SubRip text, converted by FFmpeg."""
    done = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin",
                           "-i", str(path), "-map", f"0:s:{track}", "-f", "srt", "-"],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def packets(path: Path, track: int) -> int:
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", f"s:{track}",
                           "-count_packets", "-show_entries", "stream=nb_read_packets",
                           "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, check=True, timeout=60)
    return int(done.stdout.strip() or 0)


def test_subtitles_per_container(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, source: Path,
    tmp_path: Path,
) -> None:
    s3_server.client().upload_file(str(source), bucket, "in/multi.mkv")
    dest = f"s3://{bucket}/out/subs"
    run = run_job({
        "source": f"s3://{bucket}/in/multi.mkv",
        "acceleration": {"mode": "cpu"},
        "outputs": [
            {"name": "mp4", "destination": f"{dest}/a.mp4", "video": {"preset": "ultrafast"}},
            {"name": "webm", "destination": f"{dest}/a.webm", "container": "webm",
             "video": {"codec": "vp9", "preset": "ultrafast"}},
            {"name": "mkv", "destination": f"{dest}/a.mkv", "container": "mkv",
             "video": {"preset": "ultrafast"}},
            {"name": "french", "destination": f"{dest}/fr.mkv", "container": "mkv",
             "video": {"preset": "ultrafast"}, "subtitles": {"languages": ["fr", "jpn"]}},
            {"name": "none", "destination": f"{dest}/none.mp4",
             "video": {"preset": "ultrafast"}, "subtitles": {"mode": "none"}},
        ],
    })
    assert run.code == 0, run.stderr[-3000:]
    by_name = {o["name"]: o for o in run.result["outputs"]}
    files = {name: fetch(s3_server, o["url"], tmp_path) for name, o in by_name.items()}
    eng, fra = media_tracks.CUES["eng"], media_tracks.CUES["fra"]

    # mp4: text as mov_text with languages and cues; both bitmap tracks named as dropped
    mp4 = subtitle_streams(ffprobe(files["mp4"]))
    assert [(s["codec_name"], s["tags"].get("language")) for s in mp4] == [
        ("mov_text", "eng"), ("mov_text", "fra")]
    assert all(cue in cue_text(files["mp4"], 0) for cue in eng)
    assert fra[0] in cue_text(files["mp4"], 1)
    assert [(s["codec"], s["language"]) for s in by_name["mp4"]["subtitles"]] == [
        ("mov_text", "eng"), ("mov_text", "fra")]
    assert by_name["mp4"]["messages"][-2:] == [
        DROPPED.format(n=2, codec="pgs", lang="fra", container="mp4"),
        DROPPED.format(n=3, codec="dvdsub", lang="deu", container="mp4")]

    # webm: WebVTT
    webm = subtitle_streams(ffprobe(files["webm"]))
    assert [(s["codec_name"], s["tags"].get("language")) for s in webm] == [
        ("webvtt", "eng"), ("webvtt", "fra")]
    assert eng[1] in cue_text(files["webm"], 0)
    assert by_name["webm"]["messages"][-1] == DROPPED.format(n=3, codec="dvdsub", lang="deu",
                                                            container="webm")

    # mkv: every track as it is, bitmaps included, forced flag kept, each with its content
    mkv = subtitle_streams(ffprobe(files["mkv"]))
    assert [(s["codec_name"], s["tags"].get("language"), s["disposition"]["forced"])
            for s in mkv] == [("subrip", "eng", 0), ("subrip", "fra", 0),
                              ("hdmv_pgs_subtitle", "fra", 1), ("dvd_subtitle", "deu", 0)]
    assert all(packets(files["mkv"], k) > 0 for k in range(4))
    assert eng[0] in cue_text(files["mkv"], 0)
    assert by_name["mkv"]["subtitles"][2] == {"codec": "hdmv_pgs_subtitle", "language": "fra",
                                              "default": False, "forced": True}
    assert not any(m.startswith("Subtitle") for m in by_name["mkv"].get("messages", []))

    # a language filter: the French text and bitmap tracks only; jpn named as missing
    french = subtitle_streams(ffprobe(files["french"]))
    assert [(s["codec_name"], s["tags"].get("language")) for s in french] == [
        ("subrip", "fra"), ("hdmv_pgs_subtitle", "fra")]
    assert "SubtitleLanguageMissing: the source has no subtitle track in 'jpn'" in (
        by_name["french"]["messages"])

    # mode none: no subtitle stream at all, and nothing to say about it
    assert subtitle_streams(ffprobe(files["none"])) == []
    assert by_name["none"].get("subtitles", []) == []
    assert not any(m.startswith("Subtitle") for m in by_name["none"].get("messages", []))
    # the termination copy may be shortened, never broken: every output is named in it
    assert run.termination is not None
    assert [o["name"] for o in run.termination["outputs"]] == list(by_name)


def test_mov_text_from_an_mp4_source_becomes_subrip_in_mkv_and_webvtt_in_webm(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, tmp_path: Path,
) -> None:
    phone = media_tracks.phone_mp4(tmp_path)
    s3_server.client().upload_file(str(phone), bucket, "in/phone.mp4")
    dest = f"s3://{bucket}/out/phone"
    run = run_job({
        "source": f"s3://{bucket}/in/phone.mp4",
        "acceleration": {"mode": "cpu"},
        "outputs": [
            {"name": "mkv", "destination": f"{dest}/a.mkv", "container": "mkv",
             "video": {"preset": "ultrafast"}},
            {"name": "webm", "destination": f"{dest}/a.webm", "container": "webm",
             "video": {"codec": "vp9", "preset": "ultrafast"}},
            {"name": "mp4", "destination": f"{dest}/a.mp4", "video": {"preset": "ultrafast"}},
        ],
    })
    assert run.code == 0, run.stderr[-3000:]
    by_name = {o["name"]: o for o in run.result["outputs"]}
    for name, codec in (("mkv", "subrip"), ("webm", "webvtt"), ("mp4", "mov_text")):
        local = fetch(s3_server, by_name[name]["url"], tmp_path)
        subs = subtitle_streams(ffprobe(local))
        assert [(s["codec_name"], s["tags"].get("language")) for s in subs] == [(codec, "eng")]
        text = cue_text(local, 0)
        assert all(cue in text for cue in media_tracks.CUES["eng"]), (name, text)
        assert "messages" not in by_name[name]
    assert run.termination == run.result
