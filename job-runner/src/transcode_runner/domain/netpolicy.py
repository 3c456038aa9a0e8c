"""The runner's SSRF policy: which resolved addresses and redirects it may follow.

Pure decisions, no sockets: `io.netguard` resolves a host, asks `refusal(policy,
host, address)` about every address before it connects, and asks `redirect(url,
location)` about every `Location` header before it follows one. Refused are
loopback, link-local, private (RFC 1918, fc00::/7), shared CGNAT (100.64/10),
unspecified, multicast, reserved and any other non-global address, plus the
CIDRs of `Settings.network_deny` (the cluster's service range); hosts and CIDRs
of `Settings.network_allow` pass anyway (in-cluster origins, and the tests,
which serve everything on 127.0.0.1). Redirects may go to http(s) only and
never from https down to http.
"""

from __future__ import annotations

import urllib.parse

from transcode_api import netrules

Network = netrules.Network
Address = netrules.Address
RANGES = netrules.RANGES
Policy = netrules.Policy
policy = netrules.policy
refusal = netrules.refusal
"""The address rule is `transcode_api.netrules` (the operator's notification sender
applies it too); re-exported here under the names the runner has always used."""


def redirect(current: str, location: str) -> tuple[str, str | None]:
    """(the absolute URL a redirect points to, why it must not be followed or None)."""
    target = urllib.parse.urljoin(current, location.strip())
    scheme = urllib.parse.urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        return target, f"a redirect to a {scheme or 'relative'}:// URL is not followed"
    if urllib.parse.urlsplit(current).scheme.lower() == "https" and scheme != "https":
        return target, "a redirect from https to http is not followed"
    return target, None
