"""Settings of job notifications: which sinks a job may name, the SSRF exceptions, retries.

`domain.notifications` reads this group (`Settings.notifications`, YAML
`notifications`) to refuse a `spec.notify.url` whose host is not on `sinks`
(the job still runs; `status.notifications` names the host) and to time the
retries; `adapters.notifier` refuses a sink host that resolves to a loopback,
link-local, private or otherwise non-public address unless `networkAllow` lists
it, and bounds each POST by `timeoutSeconds`. The defaults allow no sink at all.
"""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class NotifySettings(Group):
    """Where job CloudEvents may go, and how long the operator keeps trying."""

    sinks: list[str] = pydantic.Field(default_factory=list)
    """Hosts a job's `spec.notify.url` may name: an exact host or IP
    (`hooks.example.com`, `127.0.0.1`, `::1`) or a suffix with a leading dot
    (`.example.com` allows every host under it, not the bare name); the same matching
    as `storagePolicy.endpoints`. Ports and schemes are not matched. Default: none
    (no job may notify)."""
    network_allow: list[str] = pydantic.Field(default_factory=list)
    """Host names, IPs or CIDRs a sink may resolve to although they are loopback,
    link-local, private or otherwise not public (an in-cluster broker such as
    `broker-ingress.knative-eventing.svc.cluster.local`, or `10.96.0.0/12`).
    Default: none (sinks must resolve to public addresses)."""
    timeout_seconds: float = pydantic.Field(default=10.0, gt=0, le=300)
    """Longest one POST may take, connect to last byte of the answer. Default: 10."""
    retry_base_seconds: float = pydantic.Field(default=10.0, gt=0)
    """Delay before the second POST of an undelivered event; doubled after each
    further failure. Default: 10."""
    retry_cap_seconds: float = pydantic.Field(default=1800.0, gt=0)
    """Longest delay between two POSTs of one event (a 429/503 `Retry-After` is
    honoured up to this). Default: 1800 (30 minutes)."""
    retry_for_seconds: float = pydantic.Field(default=86400.0, gt=0)
    """How long after its first POST an undelivered event is still retried; then it is
    Failed. Default: 86400 (24 hours)."""
