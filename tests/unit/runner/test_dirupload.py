"""Directory upload with a fake S3 client at the seam: waves in order, all or nothing.

The real server is used in tests/functional/runner/test_packaging.py; here a
fake records every call so the order (no manifest before its segments) and the
cleanup (every key this call wrote deleted, nothing else) are visible.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from transcode_runner.domain import errors
from transcode_runner.io import checksums, dirupload, ledger, s3upload

KNOBS = s3upload.Knobs(part_size=8 * 1024 * 1024, concurrency=4, threshold=8 * 1024 * 1024)


class FakeS3:
    def __init__(self, fail_key: str | None = None, wrong_checksum: bool = False) -> None:
        self.fail_key, self.wrong = fail_key, wrong_checksum
        self.puts: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.lock = threading.Lock()

    def put_object(self, **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.puts.append(kw)
        if kw["Key"] == self.fail_key:
            raise ConnectionError("connection reset by peer")
        return {"ChecksumCRC32": "AAAAAA==" if self.wrong else kw["ChecksumCRC32"]}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.deleted += [o["Key"] for o in Delete["Objects"]]
        return {}


def _waves(tmp_path: Path) -> list[list[dirupload.Item]]:
    def item(name: str) -> dirupload.Item:
        path = tmp_path / name
        path.write_bytes(name.encode() * 100)
        return dirupload.Item(path, f"p/{name}", "video/iso.segment", "immutable")

    return [[item(f"seg-{i}.m4s") for i in range(6)], [item("media_0.m3u8")], [item("master.m3u8")]]


def test_waves_go_up_in_order_with_their_checksums_and_headers(tmp_path: Path) -> None:
    s3, waves = FakeS3(), _waves(tmp_path)
    written = dirupload.upload(s3, "b", waves, KNOBS, threading.Event(), ledger.Book(ledger.Memory()))
    keys = [p["Key"] for p in s3.puts]
    assert written.objects == 8 and keys[-2:] == ["p/media_0.m3u8", "p/master.m3u8"]
    assert written.bytes == sum(i.path.stat().st_size for w in waves for i in w)
    first = s3.puts[0]
    assert first["ChecksumCRC32"] == checksums.crc32_full(tmp_path / first["Key"].split("/")[1])
    assert (first["ContentType"], first["CacheControl"]) == ("video/iso.segment", "immutable")
    assert s3.deleted == []


@pytest.mark.parametrize("wrong", [False, True], ids=["put-fails", "checksum-differs"])
def test_a_failed_segment_deletes_what_was_written_and_sends_no_manifest(
        tmp_path: Path, wrong: bool) -> None:
    s3 = FakeS3(fail_key=None if wrong else "p/seg-3.m4s", wrong_checksum=wrong)
    with pytest.raises((errors.Transient, errors.IntegrityError)):
        dirupload.upload(s3, "b", _waves(tmp_path), KNOBS, threading.Event(),
                         ledger.Book(ledger.Memory()))
    sent = [p["Key"] for p in s3.puts]
    assert not any(k.endswith(".m3u8") for k in sent)
    assert sorted(s3.deleted) == sorted(set(sent))  # exactly this call's keys
