"""`status.thumbnails` through the 4 KiB termination message, and the spec's defaults.

A job with many outputs and a package still reports where its poster,
storyboard and preview are (URLs and counts survive the shortening), and a
`thumbnails` block that names only a part gets the documented defaults.
"""

from __future__ import annotations

import json

from tests.unit.api import cases
from transcode_api import constants, spec, status, thumbnails


def _result(outputs: int) -> status.RunnerResult:
    base = "s3://media-out/pictures/trailer/"
    return status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED, exit_code=0, reason="TranscodeSucceeded",
        message="m" * 3000,
        outputs=[status.OutputResult(name=f"rung-{i:02d}", url=f"s3://b/files/{i}.mp4" + "x" * 80,
                                     size_bytes=1000, checksum="ab" * 16) for i in range(outputs)],
        thumbnails=thumbnails.ThumbnailsResult(
            poster=thumbnails.ImageResult(url=base + "poster.jpg", width=1280, height=720,
                                          size_bytes=91_000),
            sprite=thumbnails.SpriteResult(storyboard=base + "storyboard.vtt", sheets=3,
                                           tiles=250, interval_seconds=10.0, tile_width=160,
                                           tile_height=90, columns=10, rows=10,
                                           size_bytes=400_000),
            preview=thumbnails.ImageResult(url=base + "preview.webp", width=320, height=180,
                                           frames=60, size_bytes=150_000),
            size_bytes=641_000, objects=6))


def test_a_small_result_carries_the_thumbnails_whole() -> None:
    back = status.RunnerResult.from_termination_message(_result(1).to_termination_message())
    assert back.thumbnails == _result(1).thumbnails


def test_a_large_result_keeps_the_thumbnails_within_4096_bytes() -> None:
    text = _result(16).to_termination_message()
    assert len(text.encode()) <= constants.TERMINATION_MESSAGE_MAX_BYTES
    assert json.loads(text)["thumbnails"] == _result(1).thumbnails.to_dict()  # type: ignore[union-attr]


def test_a_tight_message_keeps_the_thumbnails_urls_and_counts() -> None:
    text = _result(16).to_termination_message(limit=900)
    assert len(text.encode()) <= 900
    data = json.loads(text)
    assert data["truncated"] is True
    pictures = data["thumbnails"]
    assert pictures["poster"]["url"].endswith("poster.jpg")
    assert pictures["sprite"] == {"storyboard": "s3://media-out/pictures/trailer/storyboard.vtt",
                                  "sheets": 3, "tiles": 250}
    assert pictures["preview"] == {"url": "s3://media-out/pictures/trailer/preview.webp",
                                   "frames": 60}


def test_a_part_named_alone_gets_the_documented_defaults() -> None:
    data = cases.valid_spec()
    data["thumbnails"] = {"destination": "s3://media-out/pictures/", "sprite": {},
                          "preview": {}, "poster": {}}
    parsed = spec.parse_spec(data).thumbnails
    assert parsed is not None and parsed.sprite is not None and parsed.preview is not None
    assert (parsed.sprite.interval_seconds, parsed.sprite.columns, parsed.sprite.rows,
            parsed.sprite.tile_width, parsed.sprite.format) == (10.0, 10, 10, 160, "jpeg")
    assert (parsed.preview.format, parsed.preview.seconds, parsed.preview.fps,
            parsed.preview.clips, parsed.preview.width) == ("webp", 6, 10, 3, 320)
    assert parsed.poster is not None and parsed.poster.at_seconds is None
    assert spec.TranscodeJobSpec.from_json(spec.parse_spec(data).to_json()).thumbnails == parsed
