"""ffprobe answers become MediaInfo, or a one-line bad-input reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import pytest

from tests.unit.runner import fakes
from transcode_runner.domain import errors, media
from transcode_runner.io import mediaprobe, seams


def probe_json(*streams: Mapping[str, object], fmt: Mapping[str, object] | None = None) -> str:
    return json.dumps({"streams": list(streams),
                       "format": fmt or {"format_name": "mov,mp4", "duration": "12.5"}})


VIDEO: dict[str, object] = {"codec_type": "video", "codec_name": "h264", "width": 720, "height": 576,
         "sample_aspect_ratio": "16:15", "avg_frame_rate": "25/1"}
AUDIO = {"codec_type": "audio", "codec_name": "aac"}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.mp4"
    path.write_bytes(b"\0" * 1000)
    return path


def inspect(runner: fakes.FakeRunner, path: Path, answer: seams.Completed) -> media.MediaInfo:
    runner.on_run(lambda argv: True, answer)
    return mediaprobe.inspect_source(path, runner, "ffprobe", 5)


def test_facts_of_a_normal_source(runner: fakes.FakeRunner, source: Path) -> None:
    info = inspect(runner, source, seams.Completed(0, probe_json(VIDEO, AUDIO), ""))
    assert (info.width, info.height, info.sample_aspect, info.fps, info.duration) == (
        720, 576, Fraction(16, 15), 25.0, 12.5)
    assert info.has_audio and info.audio_codec == "aac" and info.bit_rate == 640
    assert runner.ran[0][-1] == "file:" + str(source)


def test_the_video_end_counts_from_the_files_start() -> None:
    late = {**VIDEO, "duration": "8.000000", "start_time": "1.500000"}
    info = media.parse(Path("in.ts"), 1000, json.loads(probe_json(
        late, AUDIO, fmt={"format_name": "mpegts", "duration": "9.6", "start_time": "1.400000"})))
    assert info.video_end == pytest.approx(8.1)  # FFmpeg's output starts at the earliest stream
    unsaid = media.parse(Path("in.mkv"), 1000, json.loads(probe_json(VIDEO, AUDIO)))
    assert unsaid.video_end == 0.0  # Matroska streams do not say: nothing is cut


def test_empty_file(runner: fakes.FakeRunner, tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(errors.BadInput, match="empty") as caught:
        mediaprobe.inspect_source(tmp_path / "empty.mp4", runner, "ffprobe", 5)
    assert caught.value.reason == "SourceEmpty" and runner.ran == []


@pytest.mark.parametrize(("answer", "message"), [
    (seams.Completed(1, "{}", "{path}: Invalid data found when processing input\n"),
     "not a readable media file: Invalid data found"),
    (seams.Completed(-9, "", "", timed_out=True), "no answer within 5 s"),
    (seams.Completed(0, probe_json(AUDIO), ""), "no video stream"),
    (seams.Completed(0, probe_json({**VIDEO, "codec_name": "ansi"},
                                   fmt={"format_name": "tty"}), ""), "not a video"),
    (seams.Completed(0, probe_json({**VIDEO, "codec_name": "png"},
                                   fmt={"format_name": "png_pipe"}), ""), "still image"),
    (seams.Completed(0, probe_json({**VIDEO, "width": 0}), ""), "no frame size"),
])
def test_bad_sources_have_one_line_reasons(runner: fakes.FakeRunner, source: Path,
                                           answer: seams.Completed, message: str) -> None:
    answer = seams.Completed(answer.returncode, answer.stdout,
                             answer.stderr.replace("{path}", "file:" + str(source)),
                             answer.timed_out)
    with pytest.raises(errors.BadInput, match=message) as caught:
        inspect(runner, source, answer)
    assert str(source.parent) not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cover_art_is_not_the_video(runner: fakes.FakeRunner, source: Path) -> None:
    cover = {**VIDEO, "codec_name": "mjpeg", "disposition": {"attached_pic": 1}}
    with pytest.raises(errors.BadInput, match="no video stream"):
        inspect(runner, source, seams.Completed(0, probe_json(AUDIO, cover), ""))
