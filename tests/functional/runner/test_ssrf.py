"""The runner's SSRF guard against real servers: refused hosts get no request at all.

A TLS server on 127.0.0.1 (a certificate made here, trusted by the runner through
`SSL_CERT_FILE`) records every request it receives. A source on 127.0.0.1
without the allowlist is refused before connecting; an allowed source that
redirects to a link-local address or down to http is refused at the redirect,
and the server sees nothing after it. No test connects anywhere but loopback:
169.254.169.254 only appears as a redirect target, which the guard refuses.
Secrets in a URL's userinfo or query never reach stdout, stderr or the
termination message.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.functional.runner.conftest import Media, Run

SECRET = "Hunter2pw"
TOKEN = "Tok3nSig"


class Recorder:
    """An HTTPS server on 127.0.0.1: `routes` maps a path to (status, headers, body)."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[tuple[str, str]] = []
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.ca = folder / "recorder.pem"
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recorder")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .sign(key, hashes.SHA256()))
        self.ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        keyfile = folder / "recorder.key"
        keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                recorder.requests.append((self.command, self.path))
                status, headers, body = recorder.routes.get(self.path.split("?")[0],
                                                            (404, {}, b""))
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, keyfile)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    server = Recorder(tmp_path)
    yield server
    server.server.shutdown()
    server.server.server_close()


def _spec(source: str, tmp_path: Path) -> dict[str, object]:
    return {"source": source, "acceleration": {"mode": "cpu"},
            "outputs": [{"name": "x", "destination": str(tmp_path / "out.mp4")}]}


def _no_secret(run: Run, *secrets: str) -> None:
    seen = run.stderr + json.dumps(run.result) + json.dumps(run.termination)
    for secret in secrets:
        assert secret not in seen


def test_loopback_source_without_allowlist_gets_no_request(
    run_job: Callable[..., Run], recorder: Recorder, media: Media, tmp_path: Path,
) -> None:
    recorder.routes["/v.mp4"] = (200, {}, media.hd.read_bytes())
    run = run_job(_spec(recorder.url(f"/v.mp4?sig={TOKEN}"), tmp_path),
                  TRANSCODER_NETWORK_ALLOW="[]", SSL_CERT_FILE=str(recorder.ca))
    assert (run.code, run.result["reason"]) == (65, "SourceNotAllowed")
    assert "127.0.0.1" in run.result["message"] and "loopback" in run.result["message"]
    assert recorder.requests == [] and run.termination == run.result
    _no_secret(run, TOKEN)


def test_allowed_source_is_downloaded(
    run_job: Callable[..., Run], recorder: Recorder, media: Media, tmp_path: Path,
) -> None:
    recorder.routes["/v.mp4"] = (200, {}, media.hd.read_bytes())  # one streaming GET
    run = run_job(_spec(recorder.url("/v.mp4"), tmp_path), SSL_CERT_FILE=str(recorder.ca))
    assert run.code == 0, run.stderr[-2000:]
    # The server ignores the one-byte range: its answer to the probe is the download.
    assert recorder.requests == [("GET", "/v.mp4")]


@pytest.mark.parametrize(("location", "why"), [
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fe80::1]/x", "link-local"),
    ("http://127.0.0.1:{port}/v.mp4?token=" + TOKEN, "from https to http"),
])
def test_redirect_to_a_refused_target_is_not_followed(
    run_job: Callable[..., Run], recorder: Recorder, media: Media, tmp_path: Path,
    location: str, why: str,
) -> None:
    recorder.routes["/start.mp4"] = (302, {"Location": location.format(port=recorder.port)}, b"")
    recorder.routes["/v.mp4"] = (200, {}, media.hd.read_bytes())
    run = run_job(_spec(recorder.url("/start.mp4"), tmp_path), SSL_CERT_FILE=str(recorder.ca))
    assert (run.code, run.result["reason"]) == (65, "SourceNotAllowed")
    assert why in run.result["message"]
    assert recorder.requests == [("GET", "/start.mp4")]  # nothing after the redirect
    _no_secret(run, TOKEN)


def test_password_in_the_source_url_is_never_echoed(
    run_job: Callable[..., Run], recorder: Recorder, tmp_path: Path,
) -> None:
    source = f"https://viewer:{SECRET}@127.0.0.1:{recorder.port}/v.mp4?sig={TOKEN}"
    run = run_job(_spec(source, tmp_path), SSL_CERT_FILE=str(recorder.ca))
    assert run.code == 65 and "credentials" in run.result["message"]
    assert recorder.requests == []
    _no_secret(run, SECRET, TOKEN, "viewer")


def test_storage_endpoint_in_a_refused_range_is_bad_input(
    run_job: Callable[..., Run], bucket: str, media: Media,
) -> None:
    run = run_job({"source": str(media.hd), "acceleration": {"mode": "cpu"},
                   "outputs": [{"name": "x", "destination": f"s3://{bucket}/x.mp4"}]},
                  TRANSCODER_NETWORK_ALLOW="[]")
    assert (run.code, run.result["reason"]) == (65, "EndpointNotAllowed")
    assert "storage endpoint host 127.0.0.1" in run.result["message"]
