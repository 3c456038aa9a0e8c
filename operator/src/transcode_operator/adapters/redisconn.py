"""The operator's Redis connection, its health, the key names and the clock seam.

`app.context.start` calls `connect(url, metrics, username=, password=)` once
(the login from `domain.redisauth.operator_login`; given, it replaces the URL's
userinfo) and passes the
client (or None when Redis is not configured) and the `RedisHealth` it returns
to the relay, caches, limiter, locks and GPU status reader. Every Redis call of
those modules goes through `RedisHealth.call`, which turns a lost connection
into the caller's fallback value, flips the `transcoder_redis_up` gauge, and
logs once when Redis goes away and once when it is back; redis-py reconnects by
itself on the next command. The key names shared with the runner come from
`transcode_api.contract`; the clock seam is `adapters.clocks`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from transcode_operator.adapters import clocks
from transcode_operator.adapters import metrics as metrics_module
from transcode_operator.domain import redisauth

logger = logging.getLogger(__name__)
T = TypeVar("T")

# --- connection and health ---------------------------------------------------------
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)
"""Errors that mean "Redis is not reachable now" (as opposed to a bad command)."""
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis_errors.RedisError, *CONNECTION_ERRORS)
"""Every error a Redis call can raise that the helpers turn into a fallback."""


def cancelling() -> bool:
    """True while the running task has a cancel pending, also one that a client library
    swallowed or turned into an error (`RedisHealth.call`, the lock renewal loop)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def make_client(url: str, *, socket_timeout: float = 2.0, username: str | None = None,
                password: str | None = None) -> aioredis.Redis:
    """A redis.asyncio client that fails fast while Redis is down and reconnects after.

    One quick retry covers a pooled connection that the server closed (restart);
    a refused connection fails in milliseconds so callers can degrade at once.
    A `username` or `password` replaces the URL's userinfo (redis-py lets the URL win).
    """
    login: dict[str, Any] = {}
    if username is not None or password is not None:
        url = redisauth.strip_userinfo(url) or url
        login = {k: v for k, v in (("username", username), ("password", password)) if v}
    return aioredis.Redis.from_url(
        url,
        **login,
        decode_responses=True,
        socket_connect_timeout=min(socket_timeout, 1.0),
        socket_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
        health_check_interval=30,
    )


class RedisHealth:
    """Tracks whether Redis answers, for the log, `transcoder_redis_up` and /healthz.

    `configured` is False when no Redis URL was given: then `up` stays False,
    callers get their fallbacks without trying, and the state is logged once.
    """

    def __init__(
        self, metrics: metrics_module.Metrics | None = None, *, configured: bool = True, log: logging.Logger = logger
    ) -> None:
        self.metrics = metrics
        self.configured = configured
        self.log = log
        self.up = configured
        self.last_error: str | None = None
        self._set_gauge()

    @property
    def state(self) -> str:
        """`up`, `down` or `disabled` (not configured)."""
        if not self.configured:
            return "disabled"
        return "up" if self.up else "down"

    def succeeded(self) -> None:
        """Record a call that reached Redis; logs the recovery if it was down."""
        if self.configured and not self.up:
            self.up = True
            self.last_error = None
            self.log.warning("Redis is reachable again; leaving degraded mode")
            self._set_gauge()

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failed call; logs the first failure of an outage only."""
        if self.metrics is not None:
            self.metrics.redis_errors.labels(operation=operation).inc()
        self.last_error = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, CONNECTION_ERRORS):
            self.log.error("Redis %s failed: %s", operation, self.last_error)
            return
        if self.up:
            self.up = False
            self.log.warning(
                "Redis is unreachable (%s during %s); running degraded until it returns",
                self.last_error,
                operation,
            )
            self._set_gauge()

    async def call(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        fallback: T,
        *,
        raise_errors: bool = False,
    ) -> T:
        """Await `fn()`; on a Redis error record it and return `fallback`.

        With `raise_errors` the error is recorded and re-raised instead. An error raised
        while the calling task is being cancelled is the cancel (redis-py's socket timeout
        can turn one into a TimeoutError): it is raised as CancelledError, so a cancelled
        background loop (lock renewal, health watch) always stops.
        """
        try:
            result = await fn()
        except REDIS_ERRORS as exc:
            if cancelling():  # our cancel, surfacing as a timeout
                raise asyncio.CancelledError from exc
            self.failed(operation, exc)
            if raise_errors:
                raise
            return fallback
        self.succeeded()
        return result

    async def ping(self, client: aioredis.Redis | None) -> bool:
        """PING Redis once; True when it answered."""
        if client is None:
            return False
        return bool(await self.call("ping", client.ping, False))

    async def watch(
        self, client: aioredis.Redis | None, clock: clocks.Clock | None = None, interval: float = 5.0
    ) -> None:
        """PING every `interval` seconds forever, so recovery is noticed while idle."""
        clock = clock or clocks.SystemClock()
        while client is not None:
            await self.ping(client)
            await clock.sleep(interval)

    def _set_gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.redis_up.set(1 if self.up else 0)
            self.metrics.redis_configured.set(1 if self.configured else 0)


async def connect(
    url: str | None, metrics: metrics_module.Metrics | None = None, *, socket_timeout: float = 2.0,
    username: str | None = None, password: str | None = None,
) -> tuple[aioredis.Redis | None, RedisHealth]:
    """The client for `url` (None when unset) and its health tracker, after one PING.

    Never raises: an unreachable Redis at startup is a degraded start, and the
    client reconnects when Redis comes up.
    """
    if not url:
        logger.warning(
            "Redis is not configured: progress comes from the runner's own status "
            "patches, caches are bypassed, limits and locks use their fallback"
        )
        return None, RedisHealth(metrics, configured=False)
    client = make_client(url, socket_timeout=socket_timeout, username=username, password=password)
    health = RedisHealth(metrics)
    if await health.ping(client):
        logger.info("Redis at %s answers (user %s)", redisauth.redact(url),
                    username or "from the URL")
    return client, health


async def close(client: Any) -> None:
    """Close a client from `connect` (None is fine)."""
    if client is not None:
        await client.aclose()
