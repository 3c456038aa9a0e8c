"""Misbehaving servers on 127.0.0.1 for the runner's transfer tests.

`FaultProxy` is the S3 relay of `dev.services.s3relay` answering `503
SlowDown` to the first request matching each rule (the first UploadPart, the
first ranged GET) and relaying everything else, one request per connection.
`TlsOrigin` is an https file server with a self-signed certificate generated
here (`ca_file` is what the runner is told to trust through `SSL_CERT_FILE`);
its `mode` makes it refuse HEAD, trickle a byte every 50 s, or change the file
between two requests. Both count what they saw, so a test can prove that the
fault it meant to cause happened.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dev.services import s3relay

Rule = Callable[[str, str, dict[str, str]], bool]


def upload_part(method: str, target: str, headers: dict[str, str]) -> bool:
    return method == "PUT" and "partNumber=" in target and "uploadId=" in target


def ranged_get(method: str, target: str, headers: dict[str, str]) -> bool:
    return method == "GET" and "range" in headers


class FaultProxy(s3relay.Relay):
    """Relays HTTP to 127.0.0.1:`port`; the first request matching each rule gets a 503."""

    def __init__(self, port: int, rules: dict[str, Rule]) -> None:
        self.rules = dict(rules)
        self.fired: dict[str, int] = dict.fromkeys(rules, 0)
        self.lock = threading.Lock()
        super().__init__(port, self._fault)

    def _fault(self, method: str, target: str, headers: dict[str, str]) -> bool:
        with self.lock:
            for name, rule in self.rules.items():
                if self.fired[name] == 0 and rule(method, target, headers):
                    self.fired[name] += 1
                    return True
        return False


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files in `folder`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "origin.crt", folder / "origin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class TlsOrigin:
    """https://127.0.0.1:<port>/<anything> serving `data` the way `mode` says.

    Modes: `nohead` (HEAD gets 405; GET honours Range and If-Range), `trickle`
    (200, one byte, then one byte every 50 s), `changing` (after `switch_after`
    GETs the file is `changed`, with another ETag)."""

    def __init__(self, folder: Path, data: bytes, mode: str, changed: bytes = b"",
                 switch_after: int = 2) -> None:
        self.data, self.mode, self.changed, self.switch_after = data, mode, changed, switch_after
        self.ca_file, key_file = self_signed(folder)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                origin.note("HEAD", self)
                self.send_error(405, "HEAD not allowed (a presigned GET URL)")

            def do_GET(self) -> None:
                origin.serve(self, origin.note("GET", self))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/clip.mp4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def note(self, method: str, handler: http.server.BaseHTTPRequestHandler) -> int:
        with self.lock:
            self.requests.append((method, {k.lower(): v for k, v in handler.headers.items()}))
            return sum(1 for m, _ in self.requests if m == "GET")

    def serve(self, handler: http.server.BaseHTTPRequestHandler, count: int) -> None:
        if self.mode == "trickle":
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(self.data)))
            handler.end_headers()
            for byte in self.data:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                if self.stop.wait(50):
                    return
            return
        data, etag = self.data, '"version-1"'
        if self.mode == "changing" and count > self.switch_after:
            data, etag = self.changed, '"version-2"'
        wanted, pinned = handler.headers.get("Range"), handler.headers.get("If-Range")
        if wanted and (pinned is None or pinned == etag):
            start, _, end = wanted.removeprefix("bytes=").partition("-")
            first, last = int(start), min(int(end), len(data) - 1)
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
            body = data[first:last + 1]
        else:
            handler.send_response(200)
            body = data
        handler.send_header("ETag", etag)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
