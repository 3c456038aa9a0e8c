"""A CloudEvents receiver on 127.0.0.1 that records every POST: what the notification tests talk to.

`Sink(port).start()` serves HTTP on 127.0.0.1 (port 0: a free one) in a thread and
keeps each request as a `Received` (its `ce-*` headers, the signature header and
the body); `answer` is the status code it replies with (204 by default, 410 for
the "sink refuses" test). `stop()` closes the socket, so the operator's next POST
is refused (a receiver that is down) until `start()` listens on the same port
again. `unique(type)` de-duplicates by `ce-id`, as a receiver should.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers.get("ce-id", "")

    @property
    def type(self) -> str:
        return self.headers.get("ce-type", "")

    def data(self) -> Any:
        return json.loads(self.body)


class Sink:
    def __init__(self, port: int = 0, answer: int = 204) -> None:
        self.port = port
        self.answer = answer
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with sink._lock:
                    sink.received.append(Received(headers, body))
                self.send_response(sink.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler

    def start(self) -> Sink:
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/transcode?token=not-for-logs"

    def of_type(self, ce_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.type == ce_type]

    def unique(self, ce_type: str) -> dict[str, Received]:
        """The events of one type, de-duplicated by id (what a receiver keeps)."""
        return {r.id: r for r in self.of_type(ce_type)}
