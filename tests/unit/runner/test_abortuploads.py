"""`abort-uploads` (the cleanup Pod's command): which recorded uploads it aborts, its exit codes.

The S3 client is the injected seam (`pipeline.Context.s3_factory`); the ledger is in
memory. The command against the real S3 server is tests/functional/runner/test_abort_uploads.py.
"""

from __future__ import annotations

from typing import Any

from tests.unit.runner.test_ledger import FakeS3
from transcode_api import spec as job_spec
from transcode_api import status
from transcode_runner.app import abortuploads, pipeline
from transcode_runner.io import ledger, report, seams, settings

SPEC = job_spec.parse_spec({
    "source": "s3://media-in/src.mp4",
    "storage": {"endpoint": "http://127.0.0.1:9"},
    "outputs": [{"name": "a", "destination": "s3://media-out/job/a.mp4"}],
    "packaging": {"format": "hls", "destination": "s3://media-out/job/hls/"}})


def _run(entries: list[status.OpenUpload], s3: Any) -> tuple[int, ledger.Memory]:
    store = ledger.Memory()
    store.entries = list(entries)
    cfg = settings.Settings().model_copy(update={"network_allow": ["127.0.0.1"]})
    ctx = pipeline.Context(settings=cfg, reporter=report.Reporter(seams.SystemClock()),
                           s3_factory=lambda storage: s3, uploads=store)
    return abortuploads.run(SPEC, ctx), store


def _up(key: str, upload_id: str, bucket: str = "media-out") -> status.OpenUpload:
    return status.OpenUpload(bucket=bucket, key=key, upload_id=upload_id)


def test_recorded_uploads_of_outputs_and_packaging_are_aborted_strangers_dropped() -> None:
    s3 = FakeS3({"o", "p", "x", "y"})
    code, store = _run([_up("job/a.mp4", "o"), _up("job/hls/720p/seg1.m4s", "p"),
                        _up("job/hlsx/other", "x"), _up("job/a.mp4", "y", bucket="elsewhere")], s3)
    assert code == 0 and store.entries == []
    assert sorted(i for _, _, i in s3.aborted) == ["o", "p"]  # x and y name no destination
    assert s3.open == {"x", "y"}


def test_nothing_recorded_is_done_at_once_and_a_failed_abort_exits_transient() -> None:
    assert _run([], FakeS3(set()))[0] == 0
    code, store = _run([_up("job/a.mp4", "o")], FakeS3({"o"}, fail="InternalError"))
    assert code == 75 and [e.upload_id for e in store.entries] == ["o"]
    code, store = _run([_up("job/a.mp4", "gone")], FakeS3(set()))  # aborted already: done
    assert code == 0 and store.entries == []
