"""Move the source in and the outputs out: ranged parallel download, verified multipart upload.

`pipeline` calls `Transfer.abort_leftovers` first (the multipart uploads an
earlier, killed attempt recorded in the `ledger`), then `Transfer.download(url,
path)` for the source (s3://, https:// or a local path) and `Transfer.upload(path,
url)` per output (s3:// or a local path). Downloads fetch byte ranges in
parallel, pinned to one version of the source (S3 `IfMatch`; `If-Range` for
https, see `httpsource`), and write them at their offsets, under a stall
deadline for the whole download (`stall`). Uploads go through boto3's transfer
manager (`s3upload`) with the seed's knobs (10 MiB parts, 10 in flight,
multipart from 10 MiB) and CRC32 checksums, then compare the server's checksum
(or its ETag) with the local file; a failure aborts the attempt's own multipart
upload: nothing partial is left at the destination. The S3 client is injected;
`make_s3_client` builds the real one with botocore's retries."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcode_api import urls
from transcode_runner.domain import errors
from transcode_runner.io import checksums, httpsource, ledger, s3upload, stall

log = logging.getLogger(__name__)

_S3_READ = 64 * 1024  # one read of an S3 body: the stall watchdog counts it at once
Fetch = Callable[[int, int], Iterable[bytes]]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Location:
    """A parsed source or destination."""

    scheme: str
    """`s3`, `https`, `http` or `file`."""
    bucket: str = ""
    key: str = ""
    path: Path | None = None
    url: str = ""


def parse(url: str) -> Location:
    """Split a URL into a `Location`; plain paths and file:// are local files."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "s3":
        key = parts.path.lstrip("/")
        if not parts.netloc or not key:
            raise errors.BadInput(f"S3 URL needs a bucket and a key: {urls.redact(url)}")
        return Location("s3", bucket=parts.netloc, key=key, url=url)
    if parts.scheme in ("http", "https"):
        return Location(parts.scheme, url=url)
    if parts.scheme == "file":
        return Location("file", path=Path(urllib.parse.unquote(parts.path)), url=url)
    if parts.scheme == "":
        return Location("file", path=Path(url), url=url)
    raise errors.BadInput(f"unsupported URL scheme {parts.scheme!r} (use s3://, https:// or a path)")


def make_s3_client(endpoint: str | None, region: str, pool: int, path_style: bool,
                   max_attempts: int = 5, retry_mode: str = "standard") -> Any:
    """A boto3 S3 client with botocore retries (503 SlowDown, 5xx, throttling, connection
    errors; `max_attempts` in all) and enough pooled connections."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        max_pool_connections=pool,
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)


class Transfer:
    """Downloads and uploads for one runner attempt (cancellable by `cancel`)."""

    def __init__(
        self,
        s3: Any,
        *,
        part_size: int = 10 * 1024 * 1024,
        concurrency: int = 10,
        multipart_threshold: int = 10 * 1024 * 1024,
        download_part_size: int = 8 * 1024 * 1024,
        download_concurrency: int = 8,
        cancel: threading.Event | None = None,
        urlopen: Callable[..., Any] = urllib.request.urlopen,
        stall_seconds: float = 60.0,
        stall_min_bytes: int = 64 * 1024,
        book: ledger.Book | None = None,
    ) -> None:
        self.s3 = s3
        self.part_size = part_size
        self.concurrency = concurrency
        self.multipart_threshold = multipart_threshold
        self.download_part_size = download_part_size
        self.download_concurrency = download_concurrency
        self.cancel = cancel or threading.Event()
        self._urlopen = urlopen
        self.stall_seconds, self.stall_min_bytes = stall_seconds, stall_min_bytes
        self.book = book or ledger.Book(ledger.Memory())

    # --- download ----------------------------------------------------------------
    def download(self, url: str, scratch: Path, progress: Progress | None = None,
                 room: Callable[[int], None] | None = None) -> Path:
        """Make the source available locally; returns its path (local sources: as is).
        `room(size)` is called once the size is known, before any byte is written (it
        raises when the source does not fit); a source of unknown size is not checked."""
        where = parse(url)
        if where.scheme == "file":
            assert where.path is not None
            if not where.path.is_file():
                raise errors.BadInput(f"source file not found: {where.path}")
            return where.path
        target = scratch / ("source" + _suffix(url))
        with stall.Watch(urls.redact(url), self.stall_seconds, self.stall_min_bytes) as watch:
            size: int | None
            if where.scheme == "s3":
                size, part = self._s3_source(where, watch)
                stream = None
            else:
                source = httpsource.open_source(self._urlopen, where.url, self.stall_seconds)
                size, stream = source.size, lambda: source.stream(
                    self._urlopen, self.stall_seconds, watch)

                def part(a: int, b: int) -> Iterable[bytes]:
                    return source.part(self._urlopen, self.stall_seconds, watch, a, b)

            if room is not None and size is not None:
                room(size)
            _ranged(size, part, stream, target, self.download_part_size,
                    self.download_concurrency, (self.cancel,), progress)
        return target

    def _s3_source(self, where: Location, watch: stall.Watch) -> tuple[int, Fetch]:
        try:
            head = self.s3.head_object(Bucket=where.bucket, Key=where.key)
        except Exception as exc:
            raise _s3_error(exc, f"source {urls.redact(where.url)}") from exc
        etag = head.get("ETag")

        def fetch(start: int, end: int) -> Iterable[bytes]:
            extra = {"IfMatch": etag} if etag else {}  # pinned to the version HEAD saw
            try:
                body = self.s3.get_object(
                    Bucket=where.bucket, Key=where.key, Range=f"bytes={start}-{end}", **extra
                )["Body"]
                with body:
                    yield from watch.chunks(body, lambda: body.read(_S3_READ))
            except errors.RunnerError:
                raise
            except Exception as exc:
                raise _s3_error(exc, f"source {urls.redact(where.url)}") from exc

        return int(head["ContentLength"]), fetch

    # --- upload ------------------------------------------------------------------
    def abort_leftovers(self, destinations: Iterable[str]) -> int:
        """Abort the multipart uploads an earlier attempt recorded for these s3:// URLs."""
        wanted = [(w.bucket, w.key) for w in map(parse, destinations) if w.scheme == "s3"]
        if not wanted or self.s3 is None:
            return 0
        return ledger.abort_leftovers(self.s3, self.book, wanted)

    def upload(
        self, path: Path, url: str, content_type: str | None = None,
        progress: Progress | None = None,
    ) -> s3upload.Uploaded:
        """Upload `path` to `url` and verify it; raise after cleaning up on failure."""
        where = parse(url)
        if where.scheme == "file":
            assert where.path is not None
            return _copy_local(path, where.path, url)
        if where.scheme != "s3":
            raise errors.BadInput(f"outputs go to s3:// or a local path, not {where.scheme}://")
        knobs = s3upload.Knobs(self.part_size, self.concurrency, self.multipart_threshold)
        return s3upload.upload(self.s3, path, where.bucket, where.key, knobs, self.cancel,
                               self.book, content_type, progress)


def _ranged(
    size: int | None,
    fetch: Fetch,
    stream: Callable[[], Iterable[bytes]] | None,
    target: Path,
    part_size: int,
    concurrency: int,
    stops: tuple[threading.Event, ...],
    progress: Progress | None,
) -> None:
    """Fetch [0, size) in `part_size` ranges on `concurrency` threads into `target`
    (size None: write `stream()` as it comes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if size is None:  # no length or no ranges: one streaming GET
            assert stream is not None
            _write_range(fd, 0, stream(), stops, progress)
            return
        os.ftruncate(fd, size)
        if size == 0:
            return
        spans = [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]
        stop = threading.Event()
        # The pool is shut down (its threads joined) before the fd is closed.
        with futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            pending = [
                pool.submit(_write_range, fd, a, fetch(a, b), (*stops, stop), progress)
                for a, b in spans
            ]
            done, _ = futures.wait(pending, return_when=futures.FIRST_EXCEPTION)
            failure = next((f.exception() for f in done if f.exception() is not None), None)
            if failure is not None:
                stop.set()
                for future in pending:
                    future.cancel()
                raise failure
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)


def _write_range(
    fd: int,
    offset: int,
    chunks: Iterable[bytes],
    stops: tuple[threading.Event, ...],
    progress: Progress | None,
) -> None:
    for data in chunks:
        if any(stop.is_set() for stop in stops):
            raise errors.Cancelled("download cancelled")
        os.pwrite(fd, data, offset)
        offset += len(data)
        if progress is not None:
            progress(len(data))


def _copy_local(path: Path, target: Path, url: str) -> s3upload.Uploaded:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        shutil.copyfile(path, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    digest = checksums.sha256_hex(target)
    return s3upload.Uploaded(url, target.stat().st_size, digest, "sha256", "local-copy")


def _suffix(url: str) -> str:
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    suffix = Path(name).suffix
    return suffix if suffix[1:].isalnum() and len(suffix) <= 8 else ""


def _s3_error(exc: BaseException, what: str) -> errors.RunnerError:
    """Classify a botocore error: missing or forbidden is bad input, the rest transient."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound") or status == 404:
        return errors.BadInput(f"{what} does not exist")
    if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or (
        status == 403
    ):
        return errors.BadInput(f"{what}: access denied ({code or status})")
    if code in ("PreconditionFailed", "412") or status == 412:
        return errors.SourceChanged(f"{what} changed during the download (its ETag no "
                                    "longer matches); not splicing two versions")
    return errors.Transient(f"{what}: {code or type(exc).__name__}: {errors.one_line(str(exc))}")
