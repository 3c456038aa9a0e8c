"""Scratch sizing: a source that with its outputs cannot fit is refused before its download.

The estimate (`domain.scratch`), the free space the kubelet will allow
(`io.scratchspace`: the filesystem's, capped by the emptyDir's sizeLimit minus what is
already there) and the check in `Transfer.download`, which runs after S3 HeadObject
and before the first ranged GET, so a too-large source costs no download.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.runner import test_transfer
from transcode_api import contract
from transcode_api import spec as job_spec
from transcode_runner.app import pipeline
from transcode_runner.domain import errors, scratch
from transcode_runner.io import scratchspace, settings, transfer

MiB = 1 << 20


def test_the_estimate_is_the_source_plus_factor_times_it_per_output() -> None:
    assert scratch.needed(100, 3, 1.0) == 400
    assert scratch.needed(100, 2, 0.25) == 150
    assert scratch.needed(100, 4, 0.0) == 100
    assert scratch.refusal(100, 3, 1.0, 400) is None


def test_a_refusal_is_bad_input_source_too_large_naming_the_sizes() -> None:
    refused = scratch.refusal(3 << 30, 2, 1.0, 5 << 30)
    assert isinstance(refused, errors.BadInput)
    assert refused.reason == "SourceTooLarge"
    assert refused.exit_code == contract.ExitCode.BAD_INPUT
    assert "the source is 3.00 GiB" in refused.message
    assert "needs 9.00 GiB" in refused.message and "has 5.00 GiB free" in refused.message
    assert "runner.scratchSizeLimit" in refused.message


def test_free_space_is_capped_by_the_size_limit_minus_what_scratch_holds(tmp_path: Path) -> None:
    unlimited = scratchspace.free_bytes(tmp_path, None)
    assert unlimited > 0
    assert scratchspace.free_bytes(tmp_path, 8 * MiB) == 8 * MiB
    (tmp_path / "old").write_bytes(b"x" * (3 * MiB))
    assert 4 * MiB <= scratchspace.free_bytes(tmp_path, 8 * MiB) <= 5 * MiB
    assert scratchspace.free_bytes(tmp_path, MiB) == 0


def test_a_source_too_large_for_scratch_is_refused_before_any_range(tmp_path: Path) -> None:
    s3 = test_transfer.FakeS3Source(b"x" * (6 * MiB))
    job = job_spec.parse_spec({"source": "s3://media-in/big.mov", "outputs": [
        {"name": n, "destination": f"s3://media-out/{n}.mp4", "video": {"codec": "h264"}}
        for n in ("a", "b")]})
    cfg = settings.Settings(scratch_dir=tmp_path, scratch_limit_bytes=16 * MiB)
    mover = transfer.Transfer(s3, download_part_size=2 * MiB)
    with pytest.raises(errors.BadInput, match="needs 18.0 MiB of scratch space") as caught:
        mover.download("s3://media-in/big.mov", tmp_path, room=pipeline._room(job, cfg))
    assert caught.value.reason == "SourceTooLarge"
    assert s3.ranges == [] and list(tmp_path.iterdir()) == []
    # the same source fits when the outputs are estimated smaller
    small = settings.Settings(scratch_dir=tmp_path, scratch_limit_bytes=16 * MiB,
                              scratch_output_factor=0.5)
    path = mover.download("s3://media-in/big.mov", tmp_path, room=pipeline._room(job, small))
    assert path.stat().st_size == 6 * MiB and len(s3.ranges) == 3


def test_the_limit_and_factor_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(contract.ENV_SCRATCH_LIMIT_BYTES, str(20 << 30))
    monkeypatch.setenv("TRANSCODER_SCRATCH_OUTPUT_FACTOR", "0.5")
    cfg = settings.Settings()
    assert (cfg.scratch_limit_bytes, cfg.scratch_output_factor) == (20 << 30, 0.5)
