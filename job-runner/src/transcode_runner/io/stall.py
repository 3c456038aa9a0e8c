"""The stall deadline of a source download: one watchdog over the streams of all its parts.

`transfer.Transfer.download` opens one `Watch` per download (a context manager
that runs the watchdog thread) and reads every part through `Watch.chunks`,
which counts the bytes. When fewer than `min_bytes` arrived in the last
`seconds`, all parts together, the watchdog marks the download stalled and
shuts down the socket under every stream being read, so a blocked read returns
at once, and the readers raise `errors.SourceStalled` (transient, exit 75). A
socket timeout alone cannot do this: a server that sends a byte every few
seconds never lets one expire. `shutdown` finds the socket of a
`netguard.Response` (its `abort`) or of a botocore streaming body (urllib3's
connection).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from transcode_runner.domain import errors


class Watch:
    """Progress of one download; `stalled` is set once the deadline passed."""

    def __init__(self, what: str, seconds: float, min_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.seconds, self.min_bytes = what, seconds, max(1, min_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._streams: dict[int, Any] = {}
        self._mark = clock()
        self._window = 0
        self.stalled = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        self._mark = self._clock()
        self._thread = threading.Thread(target=self._run, name="stall-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        period = min(1.0, self.seconds / 4)
        while not self._done.wait(period):
            with self._lock:
                idle = self._clock() - self._mark
                if idle < self.seconds:
                    continue
                self.stalled.set()
                streams = list(self._streams.values())
            for stream in streams:
                shutdown(stream)
            return

    def feed(self, count: int) -> None:
        """`count` more bytes arrived; `min_bytes` of them restart the deadline."""
        with self._lock:
            self._window += count
            if self._window >= self.min_bytes:
                self._window = 0
                self._mark = self._clock()

    def check(self) -> None:
        """Raise `errors.SourceStalled` once the deadline has passed."""
        if self.stalled.is_set():
            raise errors.SourceStalled(
                f"source {self.what} stalled: less than {self.min_bytes} bytes in "
                f"{self.seconds:g} s (TRANSCODER_TRANSFER_STALL_SECONDS)")

    @contextmanager
    def reading(self, stream: Any) -> Iterator[None]:
        """Register `stream` so that a stall shuts it down while it is being read."""
        with self._lock:
            self._streams[id(stream)] = stream
            late = self.stalled.is_set()
        if late:
            shutdown(stream)
        try:
            yield
        finally:
            with self._lock:
                self._streams.pop(id(stream), None)

    def chunks(self, stream: Any, read: Callable[[], bytes]) -> Iterator[bytes]:
        """Yield `read()` until it returns b"", counting bytes; stalled: SourceStalled."""
        with self.reading(stream):
            try:
                while data := read():
                    self.feed(len(data))
                    yield data
                    self.check()
            except errors.RunnerError:
                raise
            except Exception:
                self.check()  # a read that failed because the watchdog shut it down
                raise
        self.check()  # a stream cut by the watchdog may end without an error


def shutdown(stream: Any) -> None:
    """Shut down the socket under `stream` both ways so that a blocked read returns now."""
    abort = getattr(stream, "abort", None)
    if callable(abort):
        abort()
        return
    sock = _socket(stream)
    if sock is not None:
        shutdown_socket(sock)
        return
    close = getattr(stream, "close", None)
    if callable(close):
        close()


def shutdown_socket(sock: socket.socket) -> None:
    """`shutdown(SHUT_RDWR)` on the descriptor (for TLS too: the TLS state is left alone)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _socket(stream: Any) -> socket.socket | None:
    raw = getattr(stream, "_raw_stream", stream)  # botocore StreamingBody -> urllib3 response
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    buffered = getattr(getattr(raw, "_fp", None), "fp", None)  # http.client response's file
    sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
