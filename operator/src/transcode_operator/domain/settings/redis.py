"""Settings of Redis and what lives in it: the connection, rate limits and output locks."""

from __future__ import annotations

from pathlib import Path

import pydantic

from transcode_operator.domain.settings.base import Group


class RedisSettings(Group):
    """Redis: progress relay, caches, rate limits and output locks (all optional)."""

    url: str | None = None
    """redis:// URL. Unset: no relay (progress comes from status.runner), no caches,
    limits and locks follow their failOpen. Userinfo in it is used by the operator
    only, masked in logs and never handed to runner Pods. Default: unset."""
    socket_timeout_seconds: float = pydantic.Field(default=2.0, gt=0)
    """Timeout of one Redis command. Default: 2."""
    username: str | None = None
    """ACL user the operator logs in as (the chart's Redis: `operator`). Default: unset
    (the URL's user, else Redis's `default`)."""
    password: pydantic.SecretStr | None = None
    """The operator user's password (the chart sets it from its Secret as
    TRANSCODER_REDIS__PASSWORD); never logged. Default: unset."""
    password_file: Path | None = None
    """File holding the operator user's password (a mounted Secret), read at startup;
    used when `password` is unset. Default: unset."""
    runner_username: str = "runner"
    """ACL user the runner Pods log in as; sent only together with `runnerPassword`.
    Default: runner."""
    runner_password: pydantic.SecretStr | None = None
    """The runner user's password, handed to every runner Pod as a literal env var:
    runner Pods live in tenant namespaces, where a secretKeyRef cannot reach the
    operator's Secret, and this password grants only writes of progress keys, which the
    operator accepts from the live Pod of a job's current attempt. Default: unset
    (runners connect without credentials)."""

    @pydantic.model_validator(mode="after")
    def _one_password_source(self) -> RedisSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("redis: set password or passwordFile, not both")
        return self


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
