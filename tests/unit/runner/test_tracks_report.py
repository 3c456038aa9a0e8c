"""Track listings in the final report: the termination message (the one channel) shrinks to fit 4 KiB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.runner import fakes
from transcode_api import constants, results, status
from transcode_runner.domain import tracks
from transcode_runner.io import report

LIMIT = constants.TERMINATION_MESSAGE_MAX_BYTES


def output(i: int, audio: int, subs: int, messages: int) -> status.OutputResult:
    source_audio = tuple(tracks.AudioTrack(k + 1, k, "aac", 2 if k else 6, None,
                                           ("eng", "fra", "deu", "spa")[k % 4], k == 0)
                         for k in range(audio))
    source_subs = tuple(tracks.SubtitleTrack(k + 9, k, "mov_text", ("eng", "fra")[k % 2],
                                             False, False, True) for k in range(subs))
    listed_audio, listed_subs = tracks.results(source_audio, source_subs)
    return status.OutputResult(
        name=f"rung-{i}", url=f"s3://media-out/trailer/rung-{i}.mp4", size_bytes=123_456_789,
        checksum="ab" * 32, checksum_algorithm="sha256", duration_seconds=1234.567,
        width=1920, height=1080, bitrate=4_500_000, codec="h264", encoder="libx264",
        audio=listed_audio, subtitles=listed_subs,
        messages=[f"SubtitleDropped: subtitle track {k} (pgs, fra) dropped: mp4 cannot carry "
                  "bitmap subtitles" + " (long detail)" * 20 for k in range(messages)])


def result(outputs: list[status.OutputResult]) -> status.RunnerResult:
    return status.RunnerResult(outcome=constants.Outcome.SUCCEEDED, exit_code=0,
                               reason="TranscodeSucceeded", message="uploaded", outputs=outputs)


def final(tmp_path: Path, res: status.RunnerResult) -> tuple[dict[str, Any], fakes.FakeSink]:
    sink = fakes.FakeSink()
    rep = report.Reporter(fakes.FakeClock(), sink=sink, termination_path=tmp_path / "t")
    rep.final(res)
    raw = (tmp_path / "t").read_bytes()
    assert len(raw) <= LIMIT
    assert status.RunnerResult.from_termination_message(raw).outcome == constants.Outcome.SUCCEEDED
    return json.loads(raw), sink


def test_a_usual_ladder_with_tracks_fits_untruncated(tmp_path: Path) -> None:
    res = result([output(i, audio=2, subs=2, messages=0) for i in range(4)])
    term, sink = final(tmp_path, res)
    assert "truncated" not in term
    assert term["outputs"][0]["audio"][0] == {"codec": "aac", "channels": 6, "language": "eng",
                                              "default": True}
    assert term["outputs"][3]["subtitles"][1] == {"codec": "mov_text", "language": "fra",
                                                  "default": False, "forced": False}
    assert "result" not in sink.patches[-1]["status"]["runner"]  # one channel: the message


def test_long_messages_are_cut_before_any_track_listing_goes(tmp_path: Path) -> None:
    res = result([output(i, audio=2, subs=1, messages=2) for i in range(4)])
    assert len(json.dumps(res.to_dict())) > LIMIT  # the full result would not fit
    term, sink = final(tmp_path, res)
    assert term["truncated"] is True
    first = term["outputs"][0]
    assert len(first["audio"]) == 2 and len(first["subtitles"]) == 1
    assert first["messages"][0].startswith("SubtitleDropped: subtitle track 0 (pgs, fra)")
    assert len(first["messages"][0]) == results.MESSAGE_LIMIT


def test_many_outputs_with_many_tracks_still_report_names_and_urls(tmp_path: Path) -> None:
    res = result([output(i, audio=8, subs=8, messages=3)
                  for i in range(constants.MAX_OUTPUTS)])
    term, _ = final(tmp_path, res)
    assert term["truncated"] is True
    outputs = term["outputs"]
    assert [o["name"] for o in outputs] == [f"rung-{i}" for i in range(constants.MAX_OUTPUTS)]
    assert all("audio" not in o and "messages" not in o for o in outputs)
    assert all(o["bytes"] == 123_456_789 for o in outputs)


def test_shrink_steps_drop_messages_then_subtitles_then_audio() -> None:
    data = [output(0, audio=1, subs=1, messages=1).to_dict()]
    steps = [sorted(k for k in ("messages", "subtitles", "audio") if k in step[0])
             for step in results.shrink_outputs(data)]
    assert steps[:4] == [["audio", "messages", "subtitles"], ["audio", "subtitles"], ["audio"], []]
    assert list(results.shrink_outputs(data))[-1] == [{"name": "rung-0", "bytes": 123_456_789}]
