"""Transfer without a server: URLs, ranged downloads, checksum and ETag verification."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import urllib.error
import zlib
from pathlib import Path
from typing import Any

import pytest

from transcode_runner.domain import errors
from transcode_runner.io import checksums, s3upload, transfer

MiB = 1024 * 1024


def test_urls() -> None:
    s3 = transfer.parse("s3://media-in/a/b c.mov")
    assert (s3.scheme, s3.bucket, s3.key) == ("s3", "media-in", "a/b c.mov")
    assert transfer.parse("/tmp/x.mp4").path == Path("/tmp/x.mp4")
    assert transfer.parse("file:///tmp/a%20b.mp4").path == Path("/tmp/a b.mp4")
    assert transfer.parse("https://cdn.example/v.mp4?sig=1").scheme == "https"
    with pytest.raises(errors.BadInput):
        transfer.parse("ftp://host/file")
    with pytest.raises(errors.BadInput):
        transfer.parse("s3://bucket-only")


class FakeS3Source:
    """head_object/get_object over an in-memory object, recording ranges."""

    def __init__(self, data: bytes, fail_range: str | None = None) -> None:
        self.data, self.fail_range = data, fail_range
        self.ranges: list[str] = []
        self.lock = threading.Lock()

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"ContentLength": len(self.data), "ETag": '"abc"'}

    def get_object(self, Bucket: str, Key: str, Range: str, IfMatch: str) -> dict[str, Any]:
        with self.lock:
            self.ranges.append(Range)
        if Range == self.fail_range:
            raise ConnectionResetError("peer reset")
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        body = io.BytesIO(self.data[start:end + 1])
        body.iter_chunks = lambda size: iter(lambda: body.read(size), b"")  # type: ignore[attr-defined]
        return {"Body": body}


def test_s3_source_is_fetched_in_parallel_ranges(tmp_path: Path) -> None:
    data = bytes(range(256)) * (40 * 1024)  # 10 MiB
    s3 = FakeS3Source(data)
    mover = transfer.Transfer(s3, download_part_size=3 * MiB, download_concurrency=4)
    got: list[int] = []
    path = mover.download("s3://b/k.mov", tmp_path, progress=got.append)
    assert path.read_bytes() == data and path.name == "source.mov"
    assert sorted(s3.ranges) == sorted(["bytes=0-3145727", "bytes=3145728-6291455",
                                        "bytes=6291456-9437183", "bytes=9437184-10485759"])
    assert sum(got) == len(data)


def test_a_failed_range_is_transient_and_leaves_no_file(tmp_path: Path) -> None:
    s3 = FakeS3Source(b"x" * (5 * MiB), fail_range="bytes=2097152-4194303")
    mover = transfer.Transfer(s3, download_part_size=2 * MiB)
    with pytest.raises(errors.Transient, match="ConnectionResetError"):
        mover.download("s3://b/k", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_s3_source_is_bad_input(tmp_path: Path) -> None:
    class Missing:
        def head_object(self, **kw: Any) -> None:
            error = Exception("Not Found")
            error.response = {"Error": {"Code": "404"},  # type: ignore[attr-defined]
                              "ResponseMetadata": {"HTTPStatusCode": 404}}
            raise error

    with pytest.raises(errors.BadInput, match="does not exist"):
        transfer.Transfer(Missing()).download("s3://b/nope.mov", tmp_path)


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, status: int, headers: dict[str, str]) -> None:
        super().__init__(data)
        self.status, self.headers = status, headers

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_https_source_uses_range_requests(tmp_path: Path) -> None:
    data = b"0123456789" * 1000
    seen: list[tuple[str, str | None]] = []

    def urlopen(request: Any, timeout: float) -> FakeResponse:
        assert request.get_method() == "GET"  # never HEAD: presigned URLs refuse it
        wanted = request.get_header("Range")
        seen.append((wanted, request.get_header("If-range")))
        start, end = (int(x) for x in wanted.removeprefix("bytes=").split("-"))
        return FakeResponse(data[start:end + 1], 206, {
            "Content-Range": f"bytes {start}-{end}/{len(data)}", "ETag": '"v1"'})

    mover = transfer.Transfer(None, download_part_size=4096, urlopen=urlopen)
    path = mover.download("https://cdn.example/clip.mp4?token=secret", tmp_path)
    assert path.read_bytes() == data
    assert seen[0] == ("bytes=0-0", None) and len(seen) == 4
    assert all(pinned == '"v1"' for _, pinned in seen[1:])


def test_https_errors_hide_the_query_string(tmp_path: Path) -> None:
    def urlopen(request: Any, timeout: float) -> FakeResponse:
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", None, None)  # type: ignore[arg-type]

    with pytest.raises(errors.BadInput) as caught:
        transfer.Transfer(None, urlopen=urlopen).download("https://cdn.example/v.mp4?token=s3cr3t",
                                                           tmp_path)
    assert "s3cr3t" not in str(caught.value) and "HTTP 403" in str(caught.value)


def test_local_source_is_used_in_place(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(b"data")
    assert transfer.Transfer(None).download(str(source), tmp_path / "scratch") == source
    with pytest.raises(errors.BadInput):
        transfer.Transfer(None).download(str(tmp_path / "missing.mp4"), tmp_path)


def test_local_destination_is_written_whole(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"video")
    done = transfer.Transfer(None).upload(out, str(tmp_path / "final" / "v.mp4"))
    assert (tmp_path / "final" / "v.mp4").read_bytes() == b"video"
    assert done.checksum == hashlib.sha256(b"video").hexdigest() and done.algorithm == "sha256"


@pytest.fixture
def file_25mib(tmp_path: Path) -> Path:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(251)) * (25 * MiB // 251 + 1))
    return path


def test_composite_crc32_and_multipart_etag_from_local_parts(file_25mib: Path) -> None:
    data = file_25mib.read_bytes()
    parts = [data[i:i + 10 * MiB] for i in range(0, len(data), 10 * MiB)]
    crcs = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    expected = base64.b64encode(zlib.crc32(crcs).to_bytes(4, "big")).decode() + "-3"
    assert checksums.crc32_composite(file_25mib, 10 * MiB) == expected
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert checksums.etag(file_25mib, 10 * MiB) == hashlib.md5(md5s).hexdigest() + "-3"
    assert checksums.etag(file_25mib, None) == hashlib.md5(data).hexdigest()
    assert checksums.b64_to_hex("AAAAAQ==-3") == "00000001-3"


class FakeHead:
    def __init__(self, head: dict[str, Any]) -> None:
        self.head = head
        self.deleted: list[str] = []

    def head_object(self, Bucket: str, Key: str, ChecksumMode: str) -> dict[str, Any]:
        return self.head


def test_verify_with_server_checksums(file_25mib: Path) -> None:
    size = file_25mib.stat().st_size
    good = checksums.crc32_composite(file_25mib, 10 * MiB)
    s3 = FakeHead({"ContentLength": size, "ChecksumCRC32": good, "ChecksumType": "COMPOSITE"})
    done = s3upload.verify(s3, file_25mib, "b", "k", "s3://b/k", size, 10 * MiB)
    assert (done.algorithm, done.verified_by) == ("crc32-composite", "checksum")
    assert done.checksum.endswith("-3")
    s3.head["ChecksumCRC32"] = "AAAAAA==-3"
    with pytest.raises(errors.IntegrityError):
        s3upload.verify(s3, file_25mib, "b", "k", "s3://b/k", size, 10 * MiB)


def test_verify_falls_back_to_the_etag(file_25mib: Path) -> None:
    size = file_25mib.stat().st_size
    etag = checksums.etag(file_25mib, 10 * MiB)
    s3 = FakeHead({"ContentLength": size, "ETag": f'"{etag}"'})
    done = s3upload.verify(s3, file_25mib, "b", "k", "s3://b/k", size, 10 * MiB)
    assert (done.algorithm, done.verified_by, done.checksum) == ("md5-etag", "etag", etag)
    s3.head["ETag"] = '"00000000000000000000000000000000-3"'
    with pytest.raises(errors.IntegrityError, match="ETag"):
        s3upload.verify(s3, file_25mib, "b", "k", "s3://b/k", size, 10 * MiB)
    s3.head["ContentLength"] = size - 1
    with pytest.raises(errors.IntegrityError, match="bytes"):
        s3upload.verify(s3, file_25mib, "b", "k", "s3://b/k", size, 10 * MiB)
