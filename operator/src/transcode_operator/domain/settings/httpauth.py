"""Settings of who may call the operator's HTTP API and how often: `http.auth`, `http.rateLimit`.

`serving.HttpSettings` holds both groups; `app.context.start` turns them into the
`adapters.apiauth.Reviewer` (TokenReview + SubjectAccessReview, with its cache)
and the `adapters.apiguard.Guard` middleware of the API.
"""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class HttpAuthSettings(Group):
    """Bearer-token authentication (TokenReview) and authorisation (SubjectAccessReview)."""

    enabled: bool = True
    """Check every request's `Authorization: Bearer` token with a TokenReview and what it
    asks for with a SubjectAccessReview, as kube-rbac-proxy does: `get transcodejobs` in the
    job's namespace for /api/v1/jobs/{namespace}/{name}, `get gpustatus.kubetranscoder.io`
    (cluster-wide) for /api/v1/system/gpu/status. False serves everyone (only behind
    another proxy that does this). Default: true."""
    require_for_metrics: bool = True
    """/metrics also needs a token allowed `get` on the non-resource URL /metrics (what a
    Prometheus ServiceAccount bound to the chart's metrics-reader ClusterRole has); false
    serves /metrics to anyone who reaches the port. Default: true."""
    require_for_healthz: bool = False
    """/healthz also needs a token allowed `get` on /healthz, which Kubernetes' default
    system:public-info-viewer role grants everyone: in effect any valid token. Default:
    false (health checks carry no token; the answer holds no job data)."""
    audiences: list[str] = pydantic.Field(default_factory=list)
    """Audiences a token must be issued for (TokenReview spec.audiences); empty: the API
    server's own audiences, which `kubectl create token` uses. Default: empty."""
    allowed_ttl_seconds: float = pydantic.Field(default=30.0, ge=0)
    """How long an accepted token and an allowed review are remembered (keyed by the
    token's SHA-256, never the token), so a polling client costs no API call per request;
    0: review every request. Default: 30."""
    denied_ttl_seconds: float = pydantic.Field(default=10.0, ge=0)
    """How long a rejected token and a denied review are remembered. Default: 10."""
    cache_size: int = pydantic.Field(default=10_000, ge=1)
    """Most review answers remembered (the oldest go first). Default: 10000."""


class HttpRateLimitSettings(Group):
    """Token buckets per client of the HTTP API; a client over its limit gets 429 + Retry-After."""

    per_address_per_second: float = pydantic.Field(default=20.0, ge=0)
    """Requests per second from one remote address, counted before authentication, so a
    flood without a valid token costs no TokenReview; 0: no limit. Clients behind one
    address (kubectl port-forward, a NAT) share it. Default: 20."""
    per_address_burst: int = pydantic.Field(default=40, ge=1)
    """Requests one address may send at once before the rate applies. Default: 40."""
    per_user_per_second: float = pydantic.Field(default=10.0, ge=0)
    """Requests per second of one authenticated user (the TokenReview's username);
    0: no limit. Default: 10."""
    per_user_burst: int = pydantic.Field(default=20, ge=1)
    """Requests one user may send at once before the rate applies. Default: 20."""
    max_clients: int = pydantic.Field(default=10_000, ge=1)
    """Buckets kept per table (the least recently seen client is forgotten first).
    Default: 10000."""
