"""Move the source in and the outputs out: ranged parallel download, verified multipart upload.

`pipeline` calls `Transfer.download(url, path)` for the source (s3://, https://
or a local path) and `Transfer.upload(path, url)` per output (s3:// or a local
path). Downloads fetch byte ranges in parallel and write them at their offsets.
Uploads go through boto3's transfer manager with the seed's knobs (10 MiB parts,
10 in flight, multipart from 10 MiB) and CRC32 checksums, then compare the
server's checksum (or, without checksum support, its ETag) with the local file.
Any failure or cancellation aborts the multipart upload and removes a
mismatching object: nothing partial is left at the destination. The S3 client
is injected; `make_s3_client` builds the real one.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcode_api import urls
from transcode_runner.domain import errors
from transcode_runner.io import checksums, s3upload

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_HTTP_TIMEOUT = 60.0
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


def make_s3_client(endpoint: str | None, region: str, pool: int, path_style: bool) -> Any:
    """A boto3 S3 client with standard retries and enough pooled connections."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        max_pool_connections=pool,
        retries={"mode": "standard", "max_attempts": 5},
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
    ) -> None:
        self.s3 = s3
        self.part_size = part_size
        self.concurrency = concurrency
        self.multipart_threshold = multipart_threshold
        self.download_part_size = download_part_size
        self.download_concurrency = download_concurrency
        self.cancel = cancel or threading.Event()
        self._urlopen = urlopen

    # --- download ----------------------------------------------------------------
    def download(self, url: str, scratch: Path, progress: Progress | None = None) -> Path:
        """Make the source available locally; returns its path (local sources: as is)."""
        where = parse(url)
        if where.scheme == "file":
            assert where.path is not None
            if not where.path.is_file():
                raise errors.BadInput(f"source file not found: {where.path}")
            return where.path
        target = scratch / ("source" + _suffix(url))
        if where.scheme == "s3":
            size, fetch = self._s3_source(where)
        else:
            size, fetch = self._http_source(where.url)
        _ranged(size, fetch, target, self.download_part_size, self.download_concurrency,
                self.cancel, progress)
        return target

    def _s3_source(self, where: Location) -> tuple[int | None, Fetch]:
        try:
            head = self.s3.head_object(Bucket=where.bucket, Key=where.key)
        except Exception as exc:
            raise _s3_error(exc, f"source {urls.redact(where.url)}") from exc
        etag = head.get("ETag")

        def fetch(start: int, end: int) -> Iterable[bytes]:
            extra = {"IfMatch": etag} if etag else {}
            try:
                body = self.s3.get_object(
                    Bucket=where.bucket, Key=where.key, Range=f"bytes={start}-{end}", **extra
                )["Body"]
                yield from body.iter_chunks(_CHUNK)
            except errors.RunnerError:
                raise
            except Exception as exc:
                raise _s3_error(exc, f"source {urls.redact(where.url)}") from exc

        return int(head["ContentLength"]), fetch

    def _http_source(self, url: str) -> tuple[int | None, Fetch]:
        size: int | None = None
        ranges = False
        try:
            with self._urlopen(urllib.request.Request(url, method="HEAD"),
                               timeout=_HTTP_TIMEOUT) as head:
                length = head.headers.get("Content-Length")
                size = int(length) if length and length.isdigit() else None
                ranges = head.headers.get("Accept-Ranges", "").lower() == "bytes"
        except errors.RunnerError:
            raise
        except Exception as exc:
            raise _http_error(exc, url) from exc

        def fetch(start: int, end: int) -> Iterable[bytes]:
            headers = {"Range": f"bytes={start}-{end}"} if ranges and size else {}
            request = urllib.request.Request(url, headers=headers)
            try:
                with self._urlopen(request, timeout=_HTTP_TIMEOUT) as response:
                    if headers and response.status != 206:
                        raise errors.Transient(f"server ignored the byte range for {urls.redact(url)}")
                    while data := response.read(_CHUNK):
                        yield data
            except errors.RunnerError:
                raise
            except Exception as exc:
                raise _http_error(exc, url) from exc

        return (size if ranges else None), fetch

    # --- upload ------------------------------------------------------------------
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
        return s3upload.upload(
            self.s3, path, where.bucket, where.key, knobs, self.cancel, content_type, progress
        )


def _ranged(
    size: int | None,
    fetch: Fetch,
    target: Path,
    part_size: int,
    concurrency: int,
    cancel: threading.Event,
    progress: Progress | None,
) -> None:
    """Fetch [0, size) in `part_size` ranges on `concurrency` threads into `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if size is None:  # no length or no ranges: one streaming GET
            _write_range(fd, 0, fetch(0, 0), (cancel,), progress)
            return
        os.ftruncate(fd, size)
        if size == 0:
            return
        spans = [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]
        stop = threading.Event()
        # The pool is shut down (its threads joined) before the fd is closed.
        with futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            pending = [
                pool.submit(_write_range, fd, a, fetch(a, b), (cancel, stop), progress)
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
        return errors.Transient(f"{what} changed during the download")
    return errors.Transient(f"{what}: {code or type(exc).__name__}: {errors.one_line(str(exc))}")


def _http_error(exc: BaseException, url: str) -> errors.RunnerError:
    safe = urls.redact(url)  # no userinfo, no signed tokens
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (401, 403, 404, 410):
            return errors.BadInput(f"source {safe}: HTTP {exc.code}")
        return errors.Transient(f"source {safe}: HTTP {exc.code}")
    return errors.Transient(f"source {safe}: {type(exc).__name__}: {errors.one_line(str(exc))}")
