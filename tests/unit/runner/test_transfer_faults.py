"""Transfers against misbehaving origins, at the urlopen and S3-client seams: no HEAD,
ignored ranges, a source that changes between parts, stalls and trickles."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from transcode_runner.domain import errors
from transcode_runner.io import httpsource, transfer


class Answer(io.BytesIO):
    """A response of the fake origin."""

    def __init__(self, data: bytes, status: int, headers: dict[str, str]) -> None:
        super().__init__(data)
        self.status, self.headers = status, headers

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Origin:
    """An http origin with versions; `switch_after` requests later it serves the next one."""

    def __init__(self, *versions: bytes, etags: list[str | None] | None = None,
                 last_modified: str | None = None, ignore_range: bool = False,
                 ignore_if_range: bool = False, switch_after: int | None = None) -> None:
        self.versions = versions
        self.etags = etags or [f'"v{i}"' for i in range(len(versions))]
        self.last_modified, self.ignore_range = last_modified, ignore_range
        self.ignore_if_range, self.switch_after = ignore_if_range, switch_after
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, timeout: float) -> Answer:
        assert request.get_method() == "GET"
        with self.lock:
            self.requests.append(dict(request.header_items()))
            current = 1 if self.switch_after is not None and len(self.requests) > self.switch_after else 0
        data, etag = self.versions[current], self.etags[current]
        headers = {"Content-Length": str(len(data))}
        if etag:
            headers["ETag"] = etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        wanted = request.get_header("Range")
        pinned = request.get_header("If-range")
        if self.ignore_range or wanted is None:
            return Answer(data, 200, headers)
        if pinned is not None and not self.ignore_if_range and pinned not in (
                etag, self.last_modified):
            return Answer(data, 200, headers)  # RFC 9110: the validator failed, whole new body
        start, end = (int(x) for x in wanted.removeprefix("bytes=").split("-"))
        end = min(end, len(data) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Answer(data[start:end + 1], 206, headers)


DATA = bytes(range(256)) * 64  # 16 KiB


def download(origin: Any, tmp_path: Path, **knobs: Any) -> Path:
    mover = transfer.Transfer(None, download_part_size=4096, urlopen=origin, **knobs)
    return mover.download("https://cdn.example/v.mp4?X-Amz-Signature=s3cr3t", tmp_path)


def test_a_server_that_ignores_ranges_is_streamed_from_one_answer(tmp_path: Path) -> None:
    origin = Origin(DATA, ignore_range=True)
    assert download(origin, tmp_path).read_bytes() == DATA
    assert len(origin.requests) == 1  # the probe's own 200 answer is the download


def test_parts_are_pinned_with_if_range_to_the_probed_etag(tmp_path: Path) -> None:
    origin = Origin(DATA)
    assert download(origin, tmp_path).read_bytes() == DATA
    assert [r.get("If-range") for r in origin.requests] == [None] + ['"v0"'] * 4


def test_a_weak_etag_pins_with_last_modified(tmp_path: Path) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    origin = Origin(DATA, etags=['W/"weak"'], last_modified=stamp)
    assert download(origin, tmp_path).read_bytes() == DATA
    assert {r.get("If-range") for r in origin.requests[1:]} == {stamp}


def test_without_a_validator_the_source_is_read_whole_with_one_get(tmp_path: Path) -> None:
    origin = Origin(DATA, etags=[None])
    assert download(origin, tmp_path).read_bytes() == DATA
    assert len(origin.requests) == 2 and "Range" not in origin.requests[1]


@pytest.mark.parametrize("ignore_if_range", [False, True])
def test_a_source_changing_between_parts_is_never_spliced(tmp_path: Path,
                                                          ignore_if_range: bool) -> None:
    origin = Origin(DATA, DATA[::-1], switch_after=2, ignore_if_range=ignore_if_range)
    with pytest.raises(errors.SourceChanged) as caught:
        download(origin, tmp_path, download_concurrency=1)
    assert caught.value.exit_code == 75 and caught.value.reason == "SourceChanged"
    assert "s3cr3t" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no half-old, half-new file


def test_an_empty_source_answers_416(tmp_path: Path) -> None:
    import urllib.error
    from email.message import Message

    def urlopen(request: Any, timeout: float) -> Any:
        headers = Message()
        headers["Content-Range"] = "bytes */0"
        raise urllib.error.HTTPError(request.full_url, 416, "Range Not Satisfiable", headers, None)

    assert download(urlopen, tmp_path).read_bytes() == b""


def test_content_range_parsing() -> None:
    assert httpsource.parse_content_range("bytes 0-0/1234") == (0, 0, 1234)
    assert httpsource.parse_content_range("bytes */0") == (None, None, 0)
    assert httpsource.parse_content_range("bytes 0-0/*") == (0, 0, None)
    assert httpsource.parse_content_range("items 1-2/3") is None


class Hanging(Answer):
    """A body that sends `first` and then one byte per `every` seconds until aborted."""

    def __init__(self, first: bytes, every: float, size: int, status: int = 200) -> None:
        super().__init__(b"", status, {"Content-Length": str(size), "ETag": '"h"',
                                       "Content-Range": f"bytes 0-{size - 1}/{size}"})
        self.first, self.every, self.aborted = first, every, threading.Event()

    def read1(self, amount: int = -1) -> bytes:
        if self.first:
            out, self.first = self.first, b""
            return out
        if self.aborted.wait(self.every):
            raise ConnectionResetError("connection shut down")
        return b"x"

    def abort(self) -> None:
        self.aborted.set()


@pytest.mark.parametrize("every", [30.0, 0.02])  # silence, and a trickle of 50 bytes/s
def test_a_hanging_or_trickling_source_fails_as_stalled(tmp_path: Path, every: float) -> None:
    answers: list[Hanging] = []

    def urlopen(request: Any, timeout: float) -> Hanging:
        answers.append(Hanging(b"f", every, 10_000))
        return answers[-1]

    started = time.monotonic()
    with pytest.raises(errors.SourceStalled) as caught:
        download(urlopen, tmp_path, stall_seconds=0.4, stall_min_bytes=1024)
    assert time.monotonic() - started < 3
    assert caught.value.exit_code == 75 and "s3cr3t" not in str(caught.value)
    assert answers[0].aborted.is_set() and list(tmp_path.iterdir()) == []


def test_a_slow_source_with_enough_progress_is_not_stalled(tmp_path: Path) -> None:
    class Slow(Answer):
        def read1(self, amount: int = -1) -> bytes:
            time.sleep(0.01)  # the server's pace, not a wait for a result
            return super().read1(256)

    def urlopen(request: Any, timeout: float) -> Slow:
        return Slow(DATA, 200, {})

    path = download(urlopen, tmp_path, stall_seconds=0.2, stall_min_bytes=256)
    assert path.read_bytes() == DATA  # 64 reads over ~0.7 s, each inside the deadline


class StallingS3:
    """head_object and ranged get_object whose body blocks until it is closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.calls: list[dict[str, Any]] = []

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"ContentLength": 4096, "ETag": '"e"'}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        outer = self

        class Body:
            def read(self, amount: int) -> bytes:
                outer.closed.wait(30)
                raise ValueError("I/O operation on closed file")

            def close(self) -> None:
                outer.closed.set()

            def __enter__(self) -> Body:
                return self

            def __exit__(self, *exc: object) -> None:
                self.close()

        return {"Body": Body()}


def test_a_stalled_s3_download_fails_as_stalled(tmp_path: Path) -> None:
    s3 = StallingS3()
    mover = transfer.Transfer(s3, stall_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(errors.SourceStalled):
        mover.download("s3://b/k.mov", tmp_path)
    assert time.monotonic() - started < 3 and s3.closed.is_set()
    assert s3.calls[0]["IfMatch"] == '"e"'  # the part is pinned to the version HEAD saw


def test_s3_client_retries_come_from_the_settings() -> None:
    client = transfer.make_s3_client("http://127.0.0.1:9", "us-east-1", 4, True,
                                     max_attempts=7, retry_mode="adaptive")
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 7}
