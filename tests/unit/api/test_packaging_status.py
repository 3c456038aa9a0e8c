"""`status.packaging` through the 4 KiB termination message: manifests and bytes survive."""

from __future__ import annotations

import json

from transcode_api import constants, packaging, status


def _result(rungs: int) -> status.RunnerResult:
    renditions = [packaging.RenditionResult(
        name=f"rung-{i:02d}", type="video", codecs="avc1.64001f", bandwidth=3_000_000 + i,
        average_bandwidth=2_000_000, width=1280, height=720, frame_rate=25.0)
        for i in range(rungs)]
    return status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED, exit_code=0, reason="TranscodeSucceeded",
        outputs=[status.OutputResult(name=f"rung-{i:02d}", url=f"s3://b/files/{i}.mp4" + "x" * 80,
                                     size_bytes=1000, checksum="ab" * 16) for i in range(rungs)],
        packaging=packaging.PackagingResult(
            format="cmaf", manifests=["s3://b/p/master.m3u8", "s3://b/p/manifest.mpd"],
            renditions=renditions, size_bytes=123_456, objects=99, segment_seconds=4))


def test_a_small_package_travels_whole() -> None:
    text = _result(3).to_termination_message()
    back = status.RunnerResult.from_termination_message(text)
    assert back.packaging == _result(3).packaging and not back.truncated


def test_a_large_package_keeps_its_manifests_and_bytes_within_4096_bytes() -> None:
    text = _result(16).to_termination_message()
    assert len(text.encode()) <= constants.TERMINATION_MESSAGE_MAX_BYTES
    data = json.loads(text)
    assert data["truncated"] is True
    assert data["packaging"]["manifests"] == ["s3://b/p/master.m3u8", "s3://b/p/manifest.mpd"]
    assert data["packaging"]["bytes"] == 123_456
