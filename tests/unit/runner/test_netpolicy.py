"""The SSRF policy: every refused range (v4 and v6), the allowlist, the deny list, redirects.

Pure decisions of `transcode_runner.domain.netpolicy`, plus `io.netguard.Guard`
with a fake resolver: a refused host is refused before any connection is made
(the resolver is the only thing called), and the message names the host and
why, never the URL's userinfo or query.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from transcode_runner.domain import errors, netpolicy
from transcode_runner.io import netguard

OPEN = netpolicy.policy()


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("fd00::1", "private"), ("fc00::5", "private"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("fec0::1", "reserved"),
    ("::ffff:169.254.169.254", "link-local"), ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("192.0.2.1", "non-public"), ("2001:db8::1", "non-public"),
])
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    reason = netpolicy.refusal(OPEN, "origin.example", address)
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111",
                                      "172.32.0.1", "100.128.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert netpolicy.refusal(OPEN, "origin.example", address) is None


def test_allowlist_takes_hosts_ips_and_cidrs() -> None:
    rules = netpolicy.policy(["127.0.0.1", "10.0.0.0/8", "Media.Svc.Cluster.Local.", "[::1]"])
    assert netpolicy.refusal(rules, "x", "127.0.0.1") is None
    assert netpolicy.refusal(rules, "x", "::1") is None
    assert netpolicy.refusal(rules, "x", "10.9.8.7") is None
    assert netpolicy.refusal(rules, "media.svc.cluster.local", "192.168.0.9") is None
    assert netpolicy.refusal(rules, "x", "127.0.0.2") is not None  # only the one address
    assert netpolicy.refusal(rules, "x", "169.254.169.254") is not None


def test_deny_list_refuses_the_service_range_even_if_public() -> None:
    rules = netpolicy.policy(deny=["203.0.113.0/24", "2001:4860::/32"])
    assert "network deny list" in str(netpolicy.refusal(rules, "x", "203.0.113.10"))
    assert netpolicy.refusal(rules, "x", "2001:4860::8888") is not None
    assert netpolicy.refusal(rules, "x", "8.8.8.8") is None
    with pytest.raises(ValueError):
        netpolicy.policy(deny=["kubernetes.default"])


@pytest.mark.parametrize(("current", "location", "target", "refused"), [
    ("https://a.example/x", "/y", "https://a.example/y", None),
    ("https://a.example/x", "https://b.example/z", "https://b.example/z", None),
    ("https://a.example/x", "http://a.example/x", "http://a.example/x", "https to http"),
    ("https://a.example/x", "file:///etc/passwd", "file:///etc/passwd", "file://"),
    ("https://a.example/x", "gopher://a.example/", "gopher://a.example/", "gopher://"),
    ("http://a.example/x", "https://a.example/x", "https://a.example/x", None),
])
def test_redirect_rules(current: str, location: str, target: str, refused: str | None) -> None:
    got, why = netpolicy.redirect(current, location)
    assert got == target
    assert (why is None) if refused is None else (refused in str(why))


def _resolver(answers: dict[str, list[str]], calls: list[str]) -> Any:
    def resolve(host: str, port: int, type: int = 0) -> list[Any]:
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]]
    return resolve


def test_guard_refuses_a_host_resolving_to_metadata_before_connecting() -> None:
    calls: list[str] = []
    guard = netguard.Guard(OPEN, resolve=_resolver({"cdn.evil": ["8.8.8.8", "169.254.169.254"]},
                                                   calls))
    request = netguard.urllib.request.Request("https://cdn.evil/v.mp4?sig=Tok3n")
    with pytest.raises(errors.BadInput) as caught:
        guard.open(request, timeout=1)
    assert caught.value.reason == "SourceNotAllowed" and calls == ["cdn.evil"]
    message = str(caught.value)
    assert "cdn.evil (169.254.169.254)" in message and "link-local" in message
    assert "Tok3n" not in message and caught.value.exit_code == 65


def test_guard_refuses_userinfo_without_resolving_or_echoing_it() -> None:
    calls: list[str] = []
    guard = netguard.Guard(OPEN, resolve=_resolver({"cdn.example": ["8.8.8.8"]}, calls))
    request = netguard.urllib.request.Request("https://viewer:Hunter2pw@cdn.example/v.mp4")
    with pytest.raises(errors.BadInput) as caught:
        guard.open(request, timeout=1)
    assert caught.value.reason == "SourceNotAllowed" and calls == []
    assert "Hunter2pw" not in str(caught.value) and "viewer" not in str(caught.value)


def test_guard_checks_the_s3_endpoint() -> None:
    guard = netguard.Guard(OPEN, resolve=_resolver({"minio.internal": ["10.0.0.5"]}, []))
    with pytest.raises(errors.BadInput) as caught:
        guard.check_endpoint("http://minio.internal:9000")
    assert caught.value.reason == "EndpointNotAllowed" and "private" in str(caught.value)
    with pytest.raises(errors.BadInput):
        netguard.Guard(OPEN).check_endpoint("http://169.254.169.254")
    allowed = netguard.Guard(netpolicy.policy(["minio.internal"]),
                             resolve=_resolver({"minio.internal": ["10.0.0.5"]}, []))
    allowed.check_endpoint("http://minio.internal:9000")
    allowed.check_endpoint(None)  # AWS S3
