"""Settings of what the operator serves and how it talks to the API: its HTTP API and kopf."""

from __future__ import annotations

from typing import Literal

import pydantic

from transcode_operator.domain.settings.base import Group
from transcode_operator.domain.settings.httpauth import HttpAuthSettings, HttpRateLimitSettings

WORKERS = 24
"""The default of both `workers` and `kopf.apiWorkers` (one pooled connection per worker;
a deployment that changes one sets the other with it), measured in
bench/operator_scale.py (README)."""


class HttpSettings(Group):
    """The read-only HTTP API (GPU status, job status, /metrics, /healthz), its access and limits."""

    enabled: bool = True
    """Serve the API. Default: true."""
    host: str = "0.0.0.0"
    """Listen address. Default: 0.0.0.0."""
    port: int = pydantic.Field(default=8080, ge=0, le=65535)
    """Listen port (0 picks a free one). Default: 8080."""
    miss_ttl_seconds: float = pydantic.Field(default=5.0, ge=0)
    """How long "no such job" is remembered for GET /api/v1/jobs/{namespace}/{name}, so a
    client polling an unknown name costs one API read per this many seconds; the operator
    forgets it early when it writes that job's status. 0: never remembered. Default: 5."""
    auth: HttpAuthSettings = pydantic.Field(default_factory=HttpAuthSettings)
    """Who may call the API: TokenReview + SubjectAccessReview (see HttpAuthSettings).
    Default: required for jobs, GPU status and /metrics; /healthz open."""
    rate_limit: HttpRateLimitSettings = pydantic.Field(default_factory=HttpRateLimitSettings)
    """Requests per second per client address and per user (see HttpRateLimitSettings)."""


class KopfSettings(Group):
    """kopf's own behaviour, chosen on purpose (see app.handlers.configure)."""

    liveness_endpoint: str | None = "http://0.0.0.0:8081/healthz"
    """kopf's liveness probe URL (the Deployment's livenessProbe). Empty: off."""
    request_timeout_seconds: float = pydantic.Field(default=30.0, gt=0)
    """Timeout of one Kubernetes API request (kopf's and ours). Default: 30."""
    connect_timeout_seconds: float = pydantic.Field(default=10.0, gt=0)
    """TCP/TLS connect timeout to the API server. Default: 10."""
    watch_server_timeout_seconds: int = pydantic.Field(default=300, gt=0)
    """Server-side watch timeout: the API server ends each watch after this. Default: 300."""
    watch_inactivity_timeout_seconds: float = pydantic.Field(default=600.0, gt=0)
    """A watch that brings nothing (not even a bookmark) for this long is restarted,
    which recovers from silently dropped connections. Default: 600."""
    posting_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level of kopf.event() calls posted as Kubernetes Events. Default: INFO."""
    namespaces: list[str] = pydantic.Field(default_factory=list)
    """Namespaces to serve, as kopf's patterns (globs such as `team-*`, `!` excludes); empty:
    all. The operator watches every namespace either way and ignores the others' objects.
    Default: all."""
    api_workers: int = pydantic.Field(default=WORKERS, ge=1, le=256)
    """Pooled connections of the operator's own API client: as many as `workers`, so
    that no turn waits for a connection. Default: 24."""
