"""Leader election on a coordination.k8s.io/v1 Lease: what one replica does next, purely.

`adapters.leader.LeaderElector` reads the Lease every `retryPeriodSeconds` and
asks `decide(lease, identity, now)` what to do: `create` it (none exists),
`renew` it (we hold it), `take` it (another holder let it expire or released
it), or `wait` (another replica holds a fresh lease). `lease_body` builds what
is written; the API server's resourceVersion makes the write a compare-and-swap,
so two replicas that both decide `take` cannot both win. The rules are
client-go's `leaderelection`: a lease is expired when `renewTime +
leaseDurationSeconds` is past; a released lease has an empty holder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

Decision = Literal["create", "renew", "take", "wait"]
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(when: dt.datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return when.astimezone(dt.UTC).strftime(MICROTIME)


def parse_time(value: str | None) -> dt.datetime | None:
    """A MicroTime or Time string as an aware datetime; None when absent or malformed."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def holder(lease: dict[str, Any] | None) -> str:
    """Who holds the lease ("" when nobody: absent, released or never held)."""
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def expired(lease: dict[str, Any], now: dt.datetime) -> bool:
    """Whether the lease's holder has not renewed it within its duration."""
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if renewed is None or not isinstance(duration, int) or duration <= 0:
        return True
    return now >= renewed + dt.timedelta(seconds=duration)


def decide(lease: dict[str, Any] | None, identity: str, now: dt.datetime) -> Decision:
    """What a replica called `identity` does with the Lease as read at `now`."""
    if lease is None:
        return "create"
    current = holder(lease)
    if current == identity:
        return "renew"
    if not current or expired(lease, now):
        return "take"
    return "wait"


def lease_body(lease: dict[str, Any] | None, *, name: str, namespace: str, identity: str,
               duration_seconds: int, now: dt.datetime) -> dict[str, Any]:
    """The Lease to write for `decide`'s create/renew/take (keeps resourceVersion)."""
    old = (lease or {}).get("spec") or {}
    renewing = holder(lease) == identity
    transitions = int(old.get("leaseTransitions") or 0) + (0 if renewing or lease is None else 1)
    stamp = format_time(now)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    version = ((lease or {}).get("metadata") or {}).get("resourceVersion")
    if version:
        metadata["resourceVersion"] = version
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": duration_seconds,
                 "acquireTime": old.get("acquireTime") if renewing else stamp,
                 "renewTime": stamp, "leaseTransitions": transitions},
    }


def released(lease: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The Lease as a stopping holder leaves it: no holder, so another takes it at once."""
    body = {k: v for k, v in lease.items() if k in ("apiVersion", "kind", "metadata")}
    spec = dict(lease.get("spec") or {})
    spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=format_time(now))
    body["spec"] = spec
    return body
