"""Which multipart uploads are ours: a ledger of the UploadIds this job's runner created.

S3 cannot tag a multipart upload, and ListMultipartUploads shows only key, id,
initiator and time, so another writer of the same key (a person, another tool,
the same credentials) looks exactly like us. The runner therefore records every
UploadId that S3 answers to its own CreateMultipartUpload (`s3upload` calls
`Book.add` before the first part is sent) and drops it once the upload is
completed or aborted (`Book.remove`). `abort_leftovers`, which `transfer`
runs at the start of every attempt, aborts exactly the recorded uploads of the
job's destinations (those of a SIGKILLed attempt) and nothing else: an UploadId
is unique and unguessable, so no foreign upload can be touched. The ledger is
kept where the next attempt reads it: `status.runner.openUploads` of the
TranscodeJob in a Pod (`StatusLedger`, through `report.Reporter`), a JSON file
in the scratch directory for standalone runs (`FileLedger`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from transcode_api import constants, status
from transcode_runner.domain import errors

log = logging.getLogger(__name__)

FILE_NAME = "open-uploads.json"


class Store(Protocol):
    """Where the ledger survives the attempt (and a SIGKILL)."""

    def load(self) -> list[status.OpenUpload]: ...

    def save(self, entries: list[status.OpenUpload]) -> bool:
        """Record `entries` durably; False when that failed (logged by the store)."""
        ...


class Memory:
    """A ledger that dies with the process (unit tests; runs without S3)."""

    def __init__(self) -> None:
        self.entries: list[status.OpenUpload] = []

    def load(self) -> list[status.OpenUpload]:
        return list(self.entries)

    def save(self, entries: list[status.OpenUpload]) -> bool:
        self.entries = list(entries)
        return True


class FileLedger:
    """A JSON file, replaced atomically (standalone runs: the next run reads it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[status.OpenUpload]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return [status.OpenUpload.model_validate(item) for item in raw]
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable upload ledger %s: %s", self.path, errors.one_line(str(exc)))
            return []

    def save(self, entries: list[status.OpenUpload]) -> bool:
        partial = self.path.with_name(f".{self.path.name}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("w", encoding="utf-8") as handle:
                json.dump([e.to_dict() for e in entries], handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path)
            return True
        except OSError as exc:
            log.warning("cannot write the upload ledger %s: %s", self.path, exc.strerror or exc)
            return False


class StatusLedger:
    """`status.runner.openUploads`, read at start and patched at once by the `Reporter`."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter

    def load(self) -> list[status.OpenUpload]:
        return list(self.reporter.open_uploads or [])

    def save(self, entries: list[status.OpenUpload]) -> bool:
        return bool(self.reporter.record_uploads(entries))


class Book:
    """The ledger of one attempt (thread-safe: uploads record from transfer threads)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._entries = store.load()

    def entries(self, where: tuple[str, str] | None = None) -> list[status.OpenUpload]:
        """Recorded uploads (of `where`, (bucket, key), only when given)."""
        with self._lock:
            return [e for e in self._entries if where is None or (e.bucket, e.key) == where]

    def add(self, bucket: str, key: str, upload_id: str) -> None:
        """Record an upload S3 just created, before any of its parts is sent."""
        with self._lock:
            if len(self._entries) >= constants.MAX_OUTPUTS:
                dropped = self._entries.pop(0)
                log.warning("upload ledger full: forgetting %s of s3://%s/%s",
                            dropped.upload_id, dropped.bucket, dropped.key)
            self._entries.append(status.OpenUpload(bucket=bucket, key=key, upload_id=upload_id))
            if not self.store.save(list(self._entries)):
                log.warning("multipart upload %s of s3://%s/%s is not recorded: if this runner "
                            "is killed now, it stays open", upload_id, bucket, key)

    def remove(self, upload_ids: Iterable[str]) -> None:
        """Forget completed or aborted uploads."""
        gone = set(upload_ids)
        with self._lock:
            kept = [e for e in self._entries if e.upload_id not in gone]
            if len(kept) != len(self._entries):
                self._entries = kept
                self.store.save(list(kept))


def abort_leftovers(s3: Any, book: Book, destinations: Iterable[tuple[str, str]]) -> int:
    """Abort the recorded uploads of `destinations` (bucket, key); returns how many were open."""
    wanted = set(destinations)
    aborted = 0
    for entry in book.entries():
        bucket, key = entry.bucket, entry.key
        if (bucket, key) not in wanted:
            continue  # not a destination of this job: leave it alone
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=entry.upload_id)
            aborted += 1
            log.info("aborted multipart upload %s of s3://%s/%s left by an earlier attempt",
                     entry.upload_id, bucket, key)
        except Exception as exc:
            if not gone(exc):
                raise errors.Transient(f"cannot abort the earlier attempt's multipart upload of "
                                       f"s3://{bucket}/{key}: {code(exc) or type(exc).__name__}"
                                       ) from exc
        book.remove([entry.upload_id])
    return aborted


def code(exc: BaseException) -> str:
    """The S3 error code of a botocore error, or ""."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def gone(exc: BaseException) -> bool:
    """True when S3 says the upload no longer exists (completed or aborted already)."""
    response = getattr(exc, "response", None) or {}
    status_code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code(exc) in ("NoSuchUpload", "404") or status_code == 404
