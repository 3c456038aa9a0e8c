"""Sources FFmpeg can probe but not render fail with exit 65 and a reason naming why; nothing is uploaded.

Sources from dev/corpus.py: a rotation that is not a multiple of 90, an MP4
whose frames are all blank (ffprobe lists 25 frames, none decodes), a Matroska
file whose video codec FFmpeg does not know, and an audio-only file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dev import corpus
from dev.services import s3server
from tests.functional.runner.conftest import Run, ffmpeg


def audio_only(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(path))
    return path


@pytest.mark.parametrize(("make", "reason", "words"), [
    (lambda p: corpus.rotated(p / "tilted.mp4", 45, size="320x180"), "UnsupportedRotation",
     "only multiples of 90"),
    (lambda p: corpus.no_frames(p / "blank.mp4"), "NoVideoFrames", "no frame"),
    (lambda p: corpus.unknown_codec(p / "unknown.mkv"), "UndecodableVideo", "cannot be decoded"),
    (lambda p: audio_only(p / "song.m4a"), "NotAVideo", "no video stream"),
], ids=["rotation-45", "no-frames", "unknown-codec", "audio-only"])
def test_unrenderable_source_exits_65_and_uploads_nothing(
    run_job: Callable[..., Run], s3_server: s3server.S3Server, bucket: str, tmp_path: Path,
    make: Callable[[Path], Path], reason: str, words: str,
) -> None:
    source = make(tmp_path)
    run = run_job({
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "outputs": [{"name": "a", "destination": f"s3://{bucket}/bad/a.mp4"},
                    {"name": "b", "destination": f"s3://{bucket}/bad/b.mkv", "container": "mkv"}],
    })
    assert (run.code, run.result["reason"]) == (65, reason), run.result
    assert words in run.result["message"] and "\n" not in run.result["message"]
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="bad/")
    assert listed.get("KeyCount", 0) == 0
    uploads = s3_server.client().list_multipart_uploads(Bucket=bucket)
    assert not uploads.get("Uploads")
