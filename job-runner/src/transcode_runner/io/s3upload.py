"""Upload one file to S3 through boto3's transfer manager, verify it, clean up on failure.

`transfer.Transfer.upload` calls `upload` for every s3:// output. The transfer
manager sends parts in parallel (part size, concurrency and multipart threshold
from the settings) with CRC32 checksums, so a server that supports checksums
checks every part. Afterwards the object's checksum (or, failing that, its ETag)
is compared with one computed from the local file by `checksums`. The UploadId
of every multipart upload is recorded in the attempt's `ledger.Book` as soon as
S3 answers CreateMultipartUpload, before any part is sent, and forgotten once
completed. On any error, a mismatch, or `cancel` being set, the uploads this
attempt recorded for the key are aborted (never another writer's) and a
mismatching object deleted, so the destination holds either the verified
object or nothing; what a SIGKILL leaves open, the next attempt aborts.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcode_runner.domain import errors
from transcode_runner.io import checksums, ledger

log = logging.getLogger(__name__)

_POLL = 0.1
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")


@dataclass(frozen=True)
class Uploaded:
    """What the destination holds after a verified upload."""

    url: str
    bytes: int
    checksum: str
    """Hex digest; a composite or multipart value ends in `-N` (N parts)."""
    algorithm: str
    """`crc32`, `crc32-composite`, `md5-etag` (S3 ETag scheme) or `sha256` (local copies)."""
    verified_by: str
    """`checksum` (server CRC32), `etag` (recomputed MD5 ETag), `size` or `local-copy`."""


@dataclass(frozen=True)
class Knobs:
    """The seed's upload knobs."""

    part_size: int
    concurrency: int
    threshold: int


def upload(
    s3: Any,
    path: Path,
    bucket: str,
    key: str,
    knobs: Knobs,
    cancel: threading.Event,
    book: ledger.Book,
    content_type: str | None = None,
    progress: Callable[[int], None] | None = None,
    cache_control: str | None = None,
) -> Uploaded:
    """Upload and verify; on failure leave neither an object nor an open upload."""
    from boto3.s3.transfer import TransferConfig
    from s3transfer.manager import TransferManager
    from s3transfer.utils import ChunksizeAdjuster

    url = f"s3://{bucket}/{key}"
    size = path.stat().st_size
    multipart = size >= knobs.threshold
    part_size = ChunksizeAdjuster().adjust_chunksize(knobs.part_size, size)
    config = TransferConfig(
        multipart_threshold=knobs.threshold,
        multipart_chunksize=part_size,
        max_concurrency=knobs.concurrency,
        use_threads=True,
    )
    extra: dict[str, str] = {"ChecksumAlgorithm": "CRC32"}
    if content_type:
        extra["ContentType"] = content_type
    if cache_control:
        extra["CacheControl"] = cache_control
    manager = TransferManager(s3, config)
    completed = False
    forget = _record_creations(s3, book, bucket, key)
    try:
        future = manager.upload(
            str(path), bucket, key, extra_args=extra, subscribers=_subscribers(progress)
        )
        while not future.done():
            if cancel.wait(_POLL):
                future.cancel()
                break
        try:
            future.result()
        except Exception as exc:
            if cancel.is_set():
                raise errors.Cancelled(f"upload of {url} cancelled") from exc
            raise classify(exc, url) from exc
        completed = True
        book.remove(e.upload_id for e in book.entries((bucket, key)))  # completed: nothing open
        if cancel.is_set():
            raise errors.Cancelled(f"upload of {url} cancelled")
        return verify(s3, path, bucket, key, url, size, part_size if multipart else None)
    except BaseException as exc:
        manager.shutdown(cancel=True)
        if not completed or isinstance(exc, errors.IntegrityError):
            _clean(s3, bucket, key, book, delete_object=completed)
        raise
    finally:
        manager.shutdown()
        forget()


def _record_creations(s3: Any, book: ledger.Book, bucket: str, key: str) -> Callable[[], None]:
    """Record the UploadId of every CreateMultipartUpload of `key` in `book` before its
    first part is sent (botocore's after-call event); returns the unregister function."""
    events = getattr(getattr(s3, "meta", None), "events", None)
    if events is None:
        return lambda: None
    event = "after-call.s3.CreateMultipartUpload"
    unique = f"kube-transcoder-ledger-{id(book)}-{bucket}/{key}"

    def created(parsed: dict[str, Any] | None = None, **kwargs: Any) -> None:
        answer = parsed or {}
        upload_id = answer.get("UploadId")
        if upload_id and answer.get("Key", key) == key and answer.get("Bucket", bucket) == bucket:
            book.add(bucket, key, str(upload_id))

    events.register(event, created, unique_id=unique)
    return lambda: events.unregister(event, unique_id=unique)


def _subscribers(progress: Callable[[int], None] | None) -> list[Any]:
    if progress is None:
        return []
    from s3transfer.subscribers import BaseSubscriber

    report = progress

    class _Progress(BaseSubscriber):
        def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
            report(bytes_transferred)

    return [_Progress()]


def verify(
    s3: Any, path: Path, bucket: str, key: str, url: str, size: int, part_size: int | None
) -> Uploaded:
    """Compare the object with the local file; `part_size` is None for a single PUT."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except Exception as exc:
        raise classify(exc, url) from exc
    remote_size = int(head.get("ContentLength", -1))
    if remote_size != size:
        raise errors.IntegrityError(f"{url} holds {remote_size} bytes, the output has {size}")
    remote = head.get("ChecksumCRC32")
    if remote:
        composite = "-" in remote or head.get("ChecksumType") == "COMPOSITE"
        if composite and part_size is not None:
            local = checksums.crc32_composite(path, part_size)
            matches = remote == local or remote == local.split("-")[0]
        else:
            local = checksums.crc32_full(path)
            matches = remote == local
        if not matches:
            raise errors.IntegrityError(f"{url}: server CRC32 {remote} != local {local}")
        algorithm = "crc32-composite" if composite and part_size is not None else "crc32"
        return Uploaded(url, size, checksums.b64_to_hex(local), algorithm, "checksum")
    remote_etag = str(head.get("ETag", "")).strip('"').lower()
    if not _MD5_ETAG.match(remote_etag):
        log.warning("cannot verify %s beyond its size: no checksum, ETag %r is not an MD5",
                    url, remote_etag)
        return Uploaded(url, size, remote_etag, "etag", "size")
    local_etag = checksums.etag(path, part_size if "-" in remote_etag else None)
    if remote_etag != local_etag:
        raise errors.IntegrityError(f"{url}: server ETag {remote_etag} != local {local_etag}")
    return Uploaded(url, size, remote_etag, "md5-etag", "etag")


def _clean(s3: Any, bucket: str, key: str, book: ledger.Book, delete_object: bool) -> None:
    """Abort the multipart uploads of `key` this attempt created (never anyone else's);
    delete the object if asked."""
    try:
        if delete_object:
            s3.delete_object(Bucket=bucket, Key=key)
    except Exception as exc:  # noqa: BLE001 - cleanup must not mask the original error
        log.warning("cleanup of s3://%s/%s failed: %s", bucket, key, errors.one_line(str(exc)))
    for entry in book.entries((bucket, key)):
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=entry.upload_id)
            log.info("aborted multipart upload %s of s3://%s/%s", entry.upload_id, bucket, key)
        except Exception as exc:  # noqa: BLE001 - the next attempt aborts what stays recorded
            if not ledger.gone(exc):
                log.warning("abort of s3://%s/%s upload %s failed (the next attempt retries): "
                            "%s", bucket, key, entry.upload_id, errors.one_line(str(exc)))
                continue
        book.remove([entry.upload_id])


def classify(exc: BaseException, url: str) -> errors.RunnerError:
    """A failed S3 write as the runner reports it: refused credentials or bucket are bad
    input, the rest transient."""
    if isinstance(exc, errors.RunnerError):
        return exc
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return errors.BadInput(f"cannot write {url}: {code}")
    return errors.Transient(
        f"upload of {url} failed: {code or type(exc).__name__}: {errors.one_line(str(exc))}"
    )
