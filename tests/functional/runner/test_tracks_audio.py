"""Audio tracks as a listener gets them: the runner against real S3 and FFmpeg, judged by ffprobe and astats.

Sources come from dev/media_tracks.py: three languages told apart by pitch
(eng 440 Hz default, fre 660 Hz, deu 880 Hz) and an AC-3 5.1 track with a
tone in the centre and another in side-left only.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev import media_tracks
from dev.services import s3server
from tests.functional.runner.conftest import FFMPEG, Run, fetch, ffprobe


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tracks-audio")
    return {"multi": media_tracks.multi_language(folder), "surround": media_tracks.surround(folder)}


def upload(server: s3server.S3Server, bucket: str, path: Path) -> str:
    server.client().upload_file(str(path), bucket, f"in/{path.name}")
    return f"s3://{bucket}/in/{path.name}"


def audio_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == "audio"]


def rms_db(path: Path, track: int, band_hz: int | None = None) -> list[float]:
    """RMS level (dB) of each channel of audio track `track`, optionally band-passed around `band_hz`."""
    chain = f"bandpass=f={band_hz}:width_type=q:w=8," if band_hz else ""
    done = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path), "-map", f"0:a:{track}",
         "-af", chain + "astats=measure_overall=none:measure_perchannel=RMS_level",
         "-f", "null", "-"], capture_output=True, text=True, check=True, timeout=60)
    return [float(v) if v != "-inf" else -200.0
            for v in re.findall(r"RMS level dB: (\S+)", done.stderr)]


def pitch(path: Path, track: int) -> int:
    """Which of the source tones (440/660/880 Hz) track `track` carries: the loudest band."""
    return max(media_tracks.TONES.values(), key=lambda hz: rms_db(path, track, hz)[0])


def outputs(run: Run) -> dict[str, dict[str, Any]]:
    assert run.code == 0, run.stderr[-3000:]
    return {o["name"]: o for o in run.result["outputs"]}


def test_default_all_and_languages_keep_the_right_tracks(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str,
    sources: dict[str, Path], tmp_path: Path,
) -> None:
    dest = f"s3://{bucket}/out/audio"
    run = run_job({
        "source": upload(s3_server, bucket, sources["multi"]),
        "acceleration": {"mode": "cpu"},
        "outputs": [
            {"name": "default", "destination": f"{dest}/default.mp4",
             "video": {"preset": "ultrafast"}, "subtitles": {"mode": "none"}},
            {"name": "all", "destination": f"{dest}/all.mkv", "container": "mkv",
             "video": {"preset": "ultrafast"}, "audio": {"tracks": "all"},
             "subtitles": {"mode": "none"}},
            {"name": "langs", "destination": f"{dest}/langs.mp4",
             "video": {"preset": "ultrafast"},
             "audio": {"languages": ["de", "fra", "spa"], "channels": "mono"},
             "subtitles": {"mode": "none"}},
            {"name": "missing", "destination": f"{dest}/missing.mp4",
             "video": {"preset": "ultrafast"}, "audio": {"languages": ["ita"]},
             "subtitles": {"mode": "none"}},
        ],
    })
    by_name = outputs(run)
    files = {name: fetch(s3_server, o["url"], tmp_path) for name, o in by_name.items()}

    # default: only the source's default track (eng, 440 Hz), flagged default
    default = audio_streams(ffprobe(files["default"]))
    assert [(s["tags"].get("language"), s["disposition"]["default"]) for s in default] == [("eng", 1)]
    assert pitch(files["default"], 0) == 440
    assert by_name["default"]["audio"] == [{"codec": "aac", "channels": 2, "language": "eng",
                                            "default": True}]
    assert any(m.startswith("AudioTracksNotSelected: audio tracks 1 (aac, fre), 2 (aac, deu)")
               for m in by_name["default"]["messages"])

    # all: every track in source order, each with its own language and sound, one default
    every = audio_streams(ffprobe(files["all"]))
    assert [s["tags"].get("language") for s in every] == ["eng", "fre", "deu"]
    assert [s["disposition"]["default"] for s in every] == [1, 0, 0]
    assert [pitch(files["all"], k) for k in range(3)] == [440, 660, 880]
    assert [a["language"] for a in by_name["all"]["audio"]] == ["eng", "fre", "deu"]
    assert "messages" not in by_name["all"]

    # languages: spec order, 639-1 codes matched, mono downmix, first one default, spa named
    langs = audio_streams(ffprobe(files["langs"]))
    assert [s["tags"].get("language") for s in langs] == ["deu", "fre"]
    assert [s["channels"] for s in langs] == [1, 1]
    assert [s["disposition"]["default"] for s in langs] == [1, 0]
    assert [pitch(files["langs"], k) for k in range(2)] == [880, 660]
    assert by_name["langs"]["messages"] == [
        "AudioLanguageMissing: the source has no audio track in 'spa'"]

    # no language matches: the default track, and a message that says so
    missing = audio_streams(ffprobe(files["missing"]))
    assert [s["tags"].get("language") for s in missing] == ["eng"]
    assert any("no audio track in ita; kept the source's default track 0 (aac, eng)" in m
               for m in by_name["missing"]["messages"])
    assert run.termination == run.result


def test_surround_downmix_keeps_centre_and_side_content(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str,
    sources: dict[str, Path], tmp_path: Path,
) -> None:
    dest = f"s3://{bucket}/out/surround"
    run = run_job({
        "source": upload(s3_server, bucket, sources["surround"]),
        "acceleration": {"mode": "cpu"},
        "outputs": [
            {"name": "stereo", "destination": f"{dest}/stereo.mp4",
             "video": {"preset": "ultrafast"}, "audio": {"channels": "stereo"}},
            {"name": "keep", "destination": f"{dest}/keep.webm", "container": "webm",
             "video": {"codec": "vp9", "preset": "ultrafast"}},
        ],
    })
    by_name = outputs(run)
    stereo = fetch(s3_server, by_name["stereo"]["url"], tmp_path)
    (track,) = audio_streams(ffprobe(stereo))
    assert (track["codec_name"], track["channels"]) == ("aac", 2)
    assert by_name["stereo"]["audio"] == [{"codec": "aac", "channels": 2, "language": "eng",
                                           "default": True}]
    left, right = rms_db(stereo, 0)
    assert left > -30 and right > -30  # not silent: the centre tone is in both speakers
    # the centre (550 Hz) is in both speakers; side-left (880 Hz) only on the left
    centre_l, centre_r = rms_db(stereo, 0, media_tracks.CENTRE_HZ)
    side_l, side_r = rms_db(stereo, 0, media_tracks.SIDE_LEFT_HZ)
    assert centre_l > -30 and centre_r > -30 and abs(centre_l - centre_r) < 1.5
    assert side_l > -30 and side_r < side_l - 20

    keep = fetch(s3_server, by_name["keep"]["url"], tmp_path)
    (surround,) = audio_streams(ffprobe(keep))
    assert (surround["codec_name"], surround["channels"]) == ("opus", 6)
    levels = rms_db(keep, 0)
    assert sum(1 for db in levels if db > -30) == 2  # centre and side-left still carry sound
