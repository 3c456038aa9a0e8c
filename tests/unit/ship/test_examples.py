"""Every example under examples/ is a valid TranscodeJob that shows what it says.

The pydantic model (the CRD's source) validates each file with the same rules as
the API server's CEL. The examples share conventions that the e2e test and the
README rely on: the Secret `media-s3`, the source s3://media-in/sample.mp4,
outputs under s3://media-out/examples/, and the S3 endpoint placeholder
`http://127.0.0.1:9000` that tests/e2e/test_ship_examples.py replaces with its
server's address.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from transcode_api import constants, model

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PLACEHOLDER = "http://127.0.0.1:9000"


def load(path: Path) -> model.TranscodeJob:
    return model.parse_job(yaml.safe_load(path.read_text()))


def test_the_five_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == ["cpu-job.yaml", "gpu-fallback-job.yaml",
                                          "ladder-cmaf-job.yaml", "ladder-job.yaml",
                                          "two-pass-job.yaml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_valid_and_follows_the_conventions(path: Path) -> None:
    job = load(path)
    assert job.api_version == constants.API_VERSION and job.kind == constants.KIND
    assert job.name.startswith("example-") and not job.namespace, "examples apply to any namespace"
    storage = job.spec.storage
    assert storage.endpoint == PLACEHOLDER and storage.path_style
    assert storage.credentials_secret_ref is not None and storage.credentials_secret_ref.name == "media-s3"
    assert job.spec.source == "s3://media-in/sample.mp4"
    for out in job.spec.outputs:
        assert out.destination.startswith(f"s3://media-out/examples/{path.stem.removesuffix('-job')}/")


def test_examples_never_write_the_same_object() -> None:
    destinations = [o.destination for p in EXAMPLES for o in load(p).spec.outputs]
    assert len(destinations) == len(set(destinations))


def test_each_example_shows_its_feature() -> None:
    jobs = {p.stem: load(p) for p in EXAMPLES}
    cpu = jobs["cpu-job"].spec
    assert cpu.acceleration.mode == constants.AccelerationMode.CPU
    gpu = jobs["gpu-fallback-job"].spec
    assert gpu.acceleration.mode == constants.AccelerationMode.AUTO and gpu.acceleration.allow_cpu_fallback
    assert [o.video.effective_codec for o in gpu.outputs] == [constants.Codec.H264]
    assert constants.CODEC_ENCODERS["h264"][0] == "h264_nvenc"
    ladder = jobs["ladder-job"].spec
    assert [o.video.resolution for o in ladder.outputs] == ["1080p", "720p", "480p"]
    cmaf = jobs["ladder-cmaf-job"].spec
    assert cmaf.packaging is not None and cmaf.packaging.format == "cmaf"
    assert cmaf.packaging.destination == "s3://media-out/examples/ladder-cmaf/stream/"
    assert [o.video.resolution for o in cmaf.outputs] == ["1080p", "720p", "480p"]
    assert cmaf.thumbnails is not None
    assert cmaf.thumbnails.destination == "s3://media-out/examples/ladder-cmaf/pictures/"
    assert cmaf.thumbnails.poster and cmaf.thumbnails.sprite and cmaf.thumbnails.preview
    two = jobs["two-pass-job"].spec
    assert all(o.video.two_pass and o.video.bitrate for o in two.outputs)
