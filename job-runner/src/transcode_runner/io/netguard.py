"""The SSRF guard's sockets: resolve, check, connect to the checked address, follow redirects by hand.

`pipeline` builds one `Guard` from the settings' allow and deny lists and hands
`Guard.open` to `transfer.Transfer` as its `urlopen`, and calls
`Guard.check_endpoint` before building the S3 client. `open(request, timeout)`
resolves the URL's host, asks `domain.netpolicy.refusal` about every address,
connects to the first checked address itself (the TLS handshake still uses the
host name for SNI and certificate checks, and `Host` is the URL's host, so a
second DNS answer cannot swap the address between check and connect), and
follows at most `MAX_REDIRECTS` redirects, each checked the same way and never
from https to http. A refusal raises `errors.BadInput` (exit 65) with reason
`SourceNotAllowed` (`EndpointNotAllowed` for the S3 endpoint), naming the host
and why, never the URL's userinfo or query. `Response.abort` shuts its socket down
from another thread (the stall watchdog's way to end a blocked read).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from transcode_api import urls
from transcode_runner.domain import errors, netpolicy

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
SOURCE_NOT_ALLOWED = "SourceNotAllowed"
ENDPOINT_NOT_ALLOWED = "EndpointNotAllowed"


class Response:
    """An HTTP response and its connection; closing it closes both."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
                 url: str) -> None:
        self._conn, self._response, self.url = conn, response, url
        self.status = response.status
        self.headers = response.headers

    def read(self, amount: int | None = None) -> bytes:
        return self._response.read(amount)

    def read1(self, amount: int = -1) -> bytes:
        """What one read of the socket brings (the stall watchdog counts it at once)."""
        return self._response.read1(amount)

    def abort(self) -> None:
        """Shut the socket down from another thread: a blocked read returns now."""
        sock = self._conn.sock
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._response.close()
        self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Guard:
    """Resolves and checks every host the runner connects to for a source or an endpoint."""

    def __init__(self, rules: netpolicy.Policy, *, context: ssl.SSLContext | None = None,
                 resolve: Any = socket.getaddrinfo) -> None:
        self.rules = rules
        self._context = context or ssl.create_default_context()
        self._resolve = resolve

    def address(self, host: str, port: int, what: str, reason: str) -> str:
        """The checked address to connect to for `host`; raises BadInput when refused."""
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise errors.Transient(f"{what} host {host} cannot be resolved: {exc}") from None
        addresses = _unique(str(info[4][0]) for info in infos)
        for address in addresses:
            why = netpolicy.refusal(self.rules, host, address)
            if why is not None:
                shown = host if host == address else f"{host} ({address})"
                raise errors.BadInput(
                    f"{what} host {shown} is a {why}; the runner does not connect there "
                    "unless the operator's runner.networkAllow lists it", reason=reason)
        if not addresses:
            raise errors.Transient(f"{what} host {host} has no address")
        return addresses[0]

    def check_endpoint(self, endpoint: str | None) -> None:
        """Refuse an S3 endpoint whose host resolves into a refused range (None: AWS)."""
        if not endpoint:
            return
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.BadInput(f"storage endpoint {urls.redact(endpoint)} is not an "
                                  "http(s) URL", reason=ENDPOINT_NOT_ALLOWED)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.address(parts.hostname, port, "storage endpoint", ENDPOINT_NOT_ALLOWED)

    def open(self, request: urllib.request.Request, timeout: float) -> Response:
        """`urllib.request.urlopen` for sources: checked, pinned, redirects re-checked."""
        url, method = request.full_url, request.get_method()
        headers = dict(request.header_items())
        for _ in range(MAX_REDIRECTS + 1):
            conn, response = self._send(url, method, headers, timeout)
            if response.status not in _REDIRECTS:
                if response.status >= 400:
                    conn.close()
                    raise urllib.error.HTTPError(urls.redact(url), response.status,
                                                 response.reason, response.headers, None)
                return Response(conn, response, url)
            location = response.headers.get("Location") or ""
            conn.close()
            target, why = netpolicy.redirect(url, location)
            if why is not None:
                raise errors.BadInput(f"source {urls.redact(url)}: {why} "
                                      f"({urls.redact(target)})", reason=SOURCE_NOT_ALLOWED)
            url = target
            if response.status == 303 and method != "HEAD":
                method = "GET"
        raise errors.BadInput(f"source {urls.redact(url)}: more than {MAX_REDIRECTS} redirects",
                              reason=SOURCE_NOT_ALLOWED)

    def _send(self, url: str, method: str, headers: dict[str, str], timeout: float
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise errors.BadInput(f"source {urls.redact(url)} is not an http(s) URL",
                                  reason=SOURCE_NOT_ALLOWED)
        if "@" in parts.netloc:
            raise errors.BadInput(f"source {urls.redact(url)} carries credentials in the URL",
                                  reason=SOURCE_NOT_ALLOWED)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        pinned = self.address(host, port, "source", SOURCE_NOT_ALLOWED)
        conn: http.client.HTTPConnection
        if https:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)

        def connect(_: tuple[str, int], timeout: float | None = None,
                    source: tuple[str, int] | None = None) -> socket.socket:
            return socket.create_connection((pinned, port), timeout, source)

        conn._create_connection = connect  # type: ignore[attr-defined]  # the checked address
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            conn.request(method, path, headers=headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
