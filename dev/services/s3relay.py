"""An HTTP relay on 127.0.0.1 in front of the S3 server: `503 SlowDown` on cue, a per-connection speed limit.

`Relay(port, fault, rate=None)` listens on a free loopback port (`endpoint`, what a job
or a runner names as its S3 endpoint) and relays each request, one per connection, to
the S3 server on `port`, unless `fault(method, target, headers)` says to answer it with
`503 SlowDown` itself (the answer S3 gives an overloaded client). With `rate` (bytes per
second) each connection's request body and answer are paced to that speed, as a remote
S3 limits a single connection. An `Expect: 100-continue` is answered here, so a client
never waits for it. The Host header is relayed unchanged, so SigV4 signatures stay
valid. Subclasses choose the faults: the runner's functional transfer tests
(`tests/functional/runner/faultservers.FaultProxy`: the first request matching each
rule) and the chaos run (`Hold`: every request for a held object key until it is
released, so that a whole runner attempt fails Transient); `bench/runner_pipeline.py`
uses a fault-free relay with a rate.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

Fault = Callable[[str, str, dict[str, str]], bool]
SLOW_DOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
             b"<Message>Please reduce your request rate.</Message></Error>")


_CHUNK = 64 * 1024


def never(method: str, target: str, headers: dict[str, str]) -> bool:
    """The fault rule of a relay that only relays."""
    return False


class _Pace:
    """Sends on one socket at no more than `rate` bytes per second (None: at once)."""

    def __init__(self, rate: float | None) -> None:
        self.rate, self.sent, self.started = rate, 0, time.monotonic()

    def send(self, sock: socket.socket, data: bytes) -> None:
        if self.rate is None:
            sock.sendall(data)
            return
        for at in range(0, len(data), _CHUNK):
            chunk = data[at:at + _CHUNK]
            sock.sendall(chunk)
            self.sent += len(chunk)
            ahead = self.sent / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                time.sleep(ahead)


class Relay:
    """Relays HTTP to 127.0.0.1:`port`; a request `fault` picks gets a 503 SlowDown;
    `rate` bytes per second per connection and direction (None: no limit)."""

    def __init__(self, port: int, fault: Fault, rate: float | None = None) -> None:
        self.port, self.fault, self.rate = port, fault, rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as reader:
            head = reader.readline()
            if not head:
                return
            method, target, _ = head.decode("latin-1").split(" ", 2)
            lines, headers = [], {}
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "expect":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                elif name != "connection":
                    lines.append(line)
                    headers[name] = value.strip()
            body = reader.read(int(headers.get("content-length", "0")))
            if self.fault(method, target, headers):
                client.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                               % (len(SLOW_DOWN), SLOW_DOWN))
                return
            with socket.create_connection(("127.0.0.1", self.port)) as upstream:
                upstream.sendall(head + b"".join(lines) + b"Connection: close\r\n\r\n")
                _Pace(self.rate).send(upstream, body)
                self._relay(upstream, client)

    def _relay(self, upstream: socket.socket, client: socket.socket) -> None:
        with upstream.makefile("rb") as reader:
            status = reader.readline()
            out = [status]
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                if not line.lower().startswith(b"connection:"):
                    out.append(line)
            client.sendall(b"".join(out) + b"Connection: close\r\n\r\n")
            pace = _Pace(self.rate)
            while data := reader.read1(_CHUNK):
                pace.send(client, data)

    def close(self) -> None:
        self.listener.close()


class Hold(Relay):
    """Answers 503 SlowDown to every request for a held path (`/<bucket>/<key>`, path
    style) until `release(path)`; counts the answers it refused per path."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.held: set[str] = set()
        self.refused: dict[str, int] = {}
        super().__init__(port, self._held)

    def hold(self, path: str) -> None:
        with self.lock:
            self.held.add(path)
            self.refused.setdefault(path, 0)

    def release(self, path: str) -> None:
        with self.lock:
            self.held.discard(path)

    def _held(self, method: str, target: str, headers: dict[str, str]) -> bool:
        path = target.split("?", 1)[0]
        with self.lock:
            if path in self.held:
                self.refused[path] += 1
                return True
        return False
