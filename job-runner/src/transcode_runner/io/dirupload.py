"""Upload a directory of many objects: in parallel, verified, in waves, all or nothing.

`app.package` calls `upload` with the package's files in waves (segments and
init segments, then the media playlists, then the master playlist and the
MPD): every file of a wave goes up in parallel (`Knobs.concurrency` at once),
and a wave starts only when the one before is complete and verified, so a
player never reads a manifest that names a missing segment. A small file is
one PutObject carrying its CRC32 (the server checks it; the answer's checksum,
or else its MD5 ETag, is compared with the local file); a file at or over the
multipart threshold goes through `s3upload`. Each object gets its own
Content-Type and Cache-Control. On any failure or cancel the remaining files
are not sent and every key this call tried to write is deleted, so nothing is
left that a manifest references; `errors` of `s3upload.classify` are raised.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transcode_runner.domain import errors
from transcode_runner.io import checksums, ledger, s3upload

log = logging.getLogger(__name__)

_DELETE_BATCH = 1000


@dataclass(frozen=True)
class Item:
    """One file and the object it becomes."""

    path: Path
    key: str
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class Written:
    """What a complete directory upload wrote."""

    bytes: int
    objects: int


def upload(s3: Any, bucket: str, waves: Sequence[Sequence[Item]], knobs: s3upload.Knobs,
           cancel: threading.Event, book: ledger.Book,
           progress: Callable[[int], None] | None = None) -> Written:
    """Upload `waves` one after the other; on failure delete what this call wrote, raise."""
    tried: list[str] = []
    lock = threading.Lock()
    total = 0

    def one(item: Item) -> int:
        if cancel.is_set():
            raise errors.Cancelled(f"upload of s3://{bucket}/{item.key} cancelled")
        with lock:
            tried.append(item.key)
        sent = _put(s3, bucket, item, knobs, cancel, book)
        if progress is not None:
            progress(sent)
        return sent

    try:
        with futures.ThreadPoolExecutor(max_workers=max(1, knobs.concurrency),
                                        thread_name_prefix="dirupload") as pool:
            for wave in waves:
                pending = [pool.submit(one, item) for item in wave]
                done, _ = futures.wait(pending, return_when=futures.FIRST_EXCEPTION)
                failure = next((f.exception() for f in done if f.exception() is not None), None)
                if failure is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise failure
                total += sum(f.result() for f in pending)
    except BaseException:
        _delete(s3, bucket, tried)
        raise
    return Written(total, len(tried))


def _put(s3: Any, bucket: str, item: Item, knobs: s3upload.Knobs, cancel: threading.Event,
         book: ledger.Book) -> int:
    url = f"s3://{bucket}/{item.key}"
    size = item.path.stat().st_size
    if size >= knobs.threshold:
        done = s3upload.upload(s3, item.path, bucket, item.key, knobs, cancel, book,
                               item.content_type, cache_control=item.cache_control)
        return done.bytes
    body = item.path.read_bytes()
    local = checksums.crc32_full(item.path)
    try:
        answer = s3.put_object(Bucket=bucket, Key=item.key, Body=body,
                               ContentType=item.content_type, CacheControl=item.cache_control,
                               ChecksumCRC32=local)
    except Exception as exc:
        raise s3upload.classify(exc, url) from exc
    remote = answer.get("ChecksumCRC32")
    if remote:
        if remote != local:
            raise errors.IntegrityError(f"{url}: server CRC32 {remote} != local {local}")
        return size
    etag = str(answer.get("ETag", "")).strip('"').lower()
    md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
    if etag != md5:
        raise errors.IntegrityError(f"{url}: server ETag {etag!r} != local MD5 {md5} "
                                    f"(CRC32 {base64.b64decode(local).hex()})")
    return size


def _delete(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    """Delete `keys` (those of this call only), 1000 per DeleteObjects, one by one what that
    could not delete; a failure is logged, never raised."""
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = list(keys[start:start + _DELETE_BATCH])
        try:
            answer = s3.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": key} for key in batch], "Quiet": True})
            left = [str(e.get("Key")) for e in answer.get("Errors") or []]
        except Exception:  # noqa: BLE001 - fall back to single deletes
            left = batch
        for key in left:
            try:
                s3.delete_object(Bucket=bucket, Key=key)
            except Exception as exc:  # noqa: BLE001 - cleanup must not mask the original error
                log.warning("cleanup of s3://%s/%s failed: %s", bucket, key,
                            errors.one_line(str(exc)))
    if keys:
        log.info("deleted the %d object(s) this attempt wrote in s3://%s", len(keys), bucket)
