"""The multipart-upload ledger: only uploads this job recorded are ever aborted."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from transcode_api import status
from transcode_runner.domain import errors
from transcode_runner.io import ledger, report, s3upload


class FakeS3:
    """abort_multipart_upload over a set of open uploads (ours and a foreign one)."""

    def __init__(self, open_ids: set[str], fail: str | None = None) -> None:
        self.open, self.fail = open_ids, fail
        self.aborted: list[tuple[str, str, str]] = []

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        if self.fail:
            raise _error(self.fail, 500)
        if UploadId not in self.open:
            raise _error("NoSuchUpload", 404)
        self.open.discard(UploadId)
        self.aborted.append((Bucket, Key, UploadId))

    def delete_object(self, Bucket: str, Key: str) -> None:
        pass


def _error(code: str, http: int) -> Exception:
    exc = Exception(code)
    exc.response = {"Error": {"Code": code},  # type: ignore[attr-defined]
                    "ResponseMetadata": {"HTTPStatusCode": http}}
    return exc


def test_the_file_ledger_survives_the_process(tmp_path: Path) -> None:
    path = tmp_path / ledger.FILE_NAME
    book = ledger.Book(ledger.FileLedger(path))
    book.add("out", "a/b.mp4", "id-1")
    again = ledger.Book(ledger.FileLedger(path))  # the next attempt
    assert [(e.bucket, e.key, e.upload_id) for e in again.entries()] == [("out", "a/b.mp4", "id-1")]
    again.remove(["id-1"])
    assert ledger.FileLedger(path).load() == []
    path.write_text("{not json")
    assert ledger.FileLedger(path).load() == []  # unreadable: nothing is aborted


def test_leftovers_of_our_destinations_are_aborted_and_no_one_elses() -> None:
    store = ledger.Memory()
    store.entries = [status.OpenUpload(bucket="out", key="v.mp4", upload_id="ours"),
                     status.OpenUpload(bucket="out", key="other-job.mp4", upload_id="kept"),
                     status.OpenUpload(bucket="out", key="v.mp4", upload_id="completed")]
    s3 = FakeS3({"ours", "kept", "foreign-writer"})
    book = ledger.Book(store)
    assert ledger.abort_leftovers(s3, book, [("out", "v.mp4")]) == 1
    assert s3.aborted == [("out", "v.mp4", "ours")]
    assert s3.open == {"kept", "foreign-writer"}
    assert [e.upload_id for e in store.entries] == ["kept"]


def test_an_abort_that_fails_keeps_the_entry_and_fails_the_attempt_as_transient() -> None:
    store = ledger.Memory()
    store.entries = [status.OpenUpload(bucket="out", key="v.mp4", upload_id="ours")]
    with pytest.raises(errors.Transient, match="InternalError"):
        ledger.abort_leftovers(FakeS3({"ours"}, fail="InternalError"), ledger.Book(store),
                               [("out", "v.mp4")])
    assert [e.upload_id for e in store.entries] == ["ours"]


def test_created_uploads_are_recorded_before_any_part_and_only_ours_cleaned() -> None:
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          aws_access_key_id="k", aws_secret_access_key="s")
    store = ledger.Memory()
    book = ledger.Book(store)
    forget = s3upload._record_creations(client, book, "out", "v.mp4")
    with Stubber(client) as stub:
        stub.add_response("create_multipart_upload",
                          {"Bucket": "out", "Key": "v.mp4", "UploadId": "new-1"})
        client.create_multipart_upload(Bucket="out", Key="v.mp4")
    forget()
    assert [e.upload_id for e in store.entries] == ["new-1"]
    s3 = FakeS3({"new-1", "foreign-writer"})
    s3upload._clean(s3, "out", "v.mp4", book, delete_object=False)
    assert s3.aborted == [("out", "v.mp4", "new-1")] and s3.open == {"foreign-writer"}
    assert store.entries == []


class Clock:
    def monotonic(self) -> float:
        return 0.0

    def now(self) -> dt.datetime:
        return dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class Sink:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def patch(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.bodies.append(body)


def test_the_status_ledger_is_patched_at_once_and_carried_by_every_patch() -> None:
    sink = Sink()
    inherited = [status.OpenUpload(bucket="out", key="v.mp4", upload_id="old")]
    reporter = report.Reporter(Clock(), sink=sink, interval=3600, open_uploads=inherited)
    book = ledger.Book(ledger.StatusLedger(reporter))
    reporter.phase(report.constants.RunnerPhase.RUNNING)
    assert sink.bodies[-1]["status"]["runner"]["openUploads"] == [
        {"bucket": "out", "key": "v.mp4", "uploadId": "old"}]
    book.remove(["old"])
    book.add("out", "v.mp4", "new")  # not throttled, although the interval is an hour
    assert len(sink.bodies) == 3
    assert sink.bodies[-1]["status"]["runner"]["openUploads"] == [
        {"bucket": "out", "key": "v.mp4", "uploadId": "new"}]


def test_the_previous_attempts_uploads_are_read_only_from_the_same_job() -> None:
    class Api:
        uid = "uid-1"

        def get_namespaced_custom_object(self, *args: Any) -> dict[str, Any]:
            return {"metadata": {"uid": self.uid}, "status": {"runner": {"openUploads": [
                {"bucket": "out", "key": "v.mp4", "uploadId": "old"}]}}}

    sink = object.__new__(report.KubeStatusSink)
    sink._api, sink.namespace, sink.name, sink.uid = Api(), "ns", "job", "uid-1"
    assert [e.upload_id for e in sink.open_uploads()] == ["old"]
    sink.uid = "uid-of-a-recreated-job"
    assert sink.open_uploads() == []
