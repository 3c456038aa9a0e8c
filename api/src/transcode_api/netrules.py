"""The SSRF rule both processes apply: which resolved addresses may be connected to.

Pure decisions, no sockets. The runner's `io.netguard` (sources and S3 endpoints)
and the operator's `adapters.notifier` (CloudEvents sinks) resolve a host, then
ask `refusal(policy, host, address)` about every address before they connect.
Refused are loopback, link-local, private (RFC 1918, fc00::/7), shared CGNAT
(100.64/10), unspecified, multicast, reserved and any other non-global address
(IPv4-mapped and NAT64 addresses are judged by the IPv4 address inside), plus
the CIDRs of a deny list (the cluster's service range); the hosts and CIDRs of
an allow list pass anyway (in-cluster receivers, and the tests, which serve
everything on 127.0.0.1). `policy(allow, deny)` builds the rule from settings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAMED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"), ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"), ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"), ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"), ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"), ("::/128", "unspecified"), ("::1/128", "loopback"),
    ("fe80::/10", "link-local"), ("fc00::/7", "private (unique local)"),
    ("ff00::/8", "multicast"), ("fec0::/10", "reserved (site-local)"),
)
RANGES: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), why) for cidr, why in _NAMED
)
"""The refused ranges and the word a refusal uses for each."""


@dataclass(frozen=True)
class Policy:
    """What the guard lets through besides public addresses, and what else it refuses."""

    allow_hosts: frozenset[str] = frozenset()
    """Host names (lowercase, no trailing dot) allowed whatever they resolve to."""
    allow_networks: tuple[Network, ...] = ()
    """Addresses allowed even inside a refused range."""
    deny_networks: tuple[Network, ...] = ()
    """Extra refused CIDRs, such as the cluster's service range."""


def policy(allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Policy:
    """A `Policy` from settings: `allow` holds IPs, CIDRs or host names; `deny` CIDRs.

    Raises ValueError for a `deny` entry that is not a CIDR or an address.
    """
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in (e.strip() for e in allow):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(_host(entry))
    denied = tuple(ipaddress.ip_network(e.strip(), strict=False) for e in deny if e.strip())
    return Policy(frozenset(hosts), tuple(networks), denied)


def _host(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


def _unwrap(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped or NAT64-style IPv6 address, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(rules: Policy, host: str, address: str) -> str | None:
    """Why `address` (what `host` resolved to) must not be connected to; None: allowed."""
    if _host(host) in rules.allow_hosts:
        return None
    try:
        ip = _unwrap(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return "not an IP address"
    if any(ip.version == n.version and ip in n for n in rules.allow_networks):
        return None
    for network, why in RANGES:
        if ip.version == network.version and ip in network:
            return f"{why} address"
    if any(ip.version == n.version and ip in n for n in rules.deny_networks):
        return "cluster-internal address (network deny list)"
    if not ip.is_global:
        return "non-public address"
    return None
