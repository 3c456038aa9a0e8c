"""Settings of Redis and what lives in it: the connection, rate limits and output locks."""

from __future__ import annotations

import pydantic

from transcode_operator.domain.settings.base import Group


class RedisSettings(Group):
    """Redis: progress relay, caches, rate limits and output locks (all optional)."""

    url: str | None = None
    """redis:// URL. Unset: no relay (progress comes from status.runner), no caches,
    limits and locks follow their failOpen. Default: unset."""
    socket_timeout_seconds: float = pydantic.Field(default=2.0, gt=0)
    """Timeout of one Redis command. Default: 2."""


class LimitSettings(Group):
    """Per-namespace job-start rate limit and running-job cap (in Redis)."""

    starts_per_minute: int = pydantic.Field(default=0, ge=0)
    """Job starts allowed per namespace in any 60 s window; 0 = unlimited. Default: 0."""
    fail_open: bool = True
    """Without Redis: true lets jobs start, false keeps them Pending (RateLimited)."""
    namespaces: dict[str, dict[str, int]] = pydantic.Field(default_factory=dict)
    """Per-namespace overrides: {namespace: {startsPerMinute: N, maxRunning: M}}."""


class LockSettings(Group):
    """Output-destination locks: one job at a time writes an object."""

    enabled: bool = True
    """Take a lock on every output destination before the first Pod. Default: true."""
    ttl_seconds: float = pydantic.Field(default=120.0, gt=0)
    """Lock expiry, renewed every ttl/3 while the operator runs. Default: 120."""
    fail_open: bool = True
    """Without Redis: true starts jobs unlocked, false keeps them Pending (OutputLocked)."""
