"""Everything a running operator shares: settings, API client, Redis helpers, metrics.

`handlers.startup` calls `start(settings)` once (inside kopf's event loop) and
keeps the `Context` in kopf's memo; the job loops, the Pod event handler and
the finalizer read their collaborators from it; `handlers.cleanup` calls
`stop`. Redis is optional: without a URL the relay, caches and GPU status are
off and the limiter and locks answer with their fail-open policy. `Wakers`
lets a Pod or job event wake that job's loop at once instead of at its next
timer; it holds no state that matters after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transcode_operator import (
    cache,
    gpustatus,
    httpapi,
    kubeclient,
    limits,
    locks,
    metrics,
    redis_relay,
    redisconn,
)
from transcode_operator import events as events_module
from transcode_operator import settings as settings_module

logger = logging.getLogger(__name__)
JobKey = tuple[str, str]


class Wakers:
    """Wakes the loop of one job when something it decides on changed.

    One asyncio.Event per running job loop, keyed by (namespace, name). Two
    filters keep a thousand jobs cheap: a job event whose resourceVersion is
    the loop's own last status write (its echo) wakes nobody, and a Pod event
    wakes its job only when what `reconcile` looks at changed (phase,
    scheduling, waiting reason, end, deletion), not on every status patch.
    Nothing here matters after a restart.
    """

    def __init__(self) -> None:
        self._events: dict[JobKey, asyncio.Event] = {}
        self._echo: dict[JobKey, str] = {}
        self._pods: dict[str, tuple[object, ...]] = {}

    def register(self, key: JobKey) -> asyncio.Event:
        event = self._events[key] = asyncio.Event()
        return event

    def unregister(self, key: JobKey, event: asyncio.Event) -> None:
        if self._events.get(key) is event:
            del self._events[key]
            self._echo.pop(key, None)

    def wake(self, key: JobKey, resource_version: str | None = None) -> bool:
        """Wake the job's loop (unless `resource_version` is its own write's echo)."""
        if resource_version is not None and self._echo.get(key) == resource_version:
            return False
        event = self._events.get(key)
        if event is None:
            return False
        event.set()
        return True

    def wrote(self, key: JobKey, resource_version: str) -> None:
        """The loop patched the job; its watch event with this version needs no wake."""
        self._echo[key] = resource_version

    def pod_changed(self, key: JobKey, uid: str, signature: tuple[object, ...]) -> bool:
        """Wake the job if this Pod's decision-relevant state changed since last seen."""
        if self._pods.get(uid) == signature:
            return False
        self._pods[uid] = signature
        return self.wake(key)

    def seen(self, uid: str, signature: tuple[object, ...]) -> None:
        """The loop itself saw this Pod state (it created the Pod): no wake for it."""
        self._pods[uid] = signature

    def pod_gone(self, key: JobKey, uid: str) -> bool:
        self._pods.pop(uid, None)
        return self.wake(key)

    def __len__(self) -> int:
        return len(self._events)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class Context:
    """The operator's shared collaborators (one per process)."""

    cfg: settings_module.Settings
    api: kubeclient.Api
    poster: events_module.Poster
    metrics: metrics.Metrics
    wakers: Wakers = field(default_factory=Wakers)
    limiter: limits.NamespaceLimiter | None = None
    locks: locks.OutputLocks | None = None
    relay: redis_relay.ProgressRelay | None = None
    job_cache: cache.JobStatusCache | None = None
    health: redisconn.RedisHealth | None = None
    redis: Any = None
    http: httpapi.ApiServer | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    steps: asyncio.Semaphore | None = None
    """Bounds the job steps in flight: a burst of a thousand new jobs is worked
    through a few dozen at a time (little memory, each job finishes its step fast)
    instead of a thousand half-done steps queued behind each other."""
    now: Callable[[], datetime.datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic

    async def patch_progress(self, namespace: str, name: str, progress: dict[str, Any]) -> None:
        """The relay's writer: `status.progress` only (a throttled, progress-class write)."""
        await self.api.patch_job_status(namespace, name, {"progress": progress})
        await self.invalidate(namespace, name)

    async def invalidate(self, namespace: str, name: str) -> None:
        if self.job_cache is not None:
            await self.job_cache.invalidate(namespace, name)

    async def load_job_view(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The HTTP API's job loader."""
        body = await self.api.get_job(namespace, name)
        return httpapi.job_view(body) if body is not None else None


def _limiter(cfg: settings_module.Settings, client: Any, health: redisconn.RedisHealth,
             registry: metrics.Metrics) -> limits.NamespaceLimiter | None:
    overrides = {
        ns: limits.LimitPolicy(starts_per_minute=int(v.get("startsPerMinute", 0)),
                               max_running=int(v.get("maxRunning", 0)))
        for ns, v in cfg.limits.namespaces.items()}
    policy = limits.LimitPolicy(cfg.limits.starts_per_minute, cfg.max_concurrent)
    if policy.unlimited and all(p.unlimited for p in overrides.values()):
        return None
    return limits.NamespaceLimiter(client, policy=policy, overrides=overrides,
                                   fail_open=cfg.limits.fail_open, health=health, metrics=registry)


async def start(cfg: settings_module.Settings, api: kubeclient.Api | None = None,
                poster: events_module.Poster | None = None) -> Context:
    """Build the context and start its background tasks (relay, lock renewal, HTTP API)."""
    registry = metrics.Metrics()
    if api is None:
        api_client = kubeclient.load_config(pool_size=cfg.kopf.api_workers)
        api = kubeclient.KubeClient(api_client, workers=cfg.kopf.api_workers,
                                    request_timeout=cfg.kopf.request_timeout_seconds)
    ctx = Context(cfg=cfg, api=api, poster=poster or events_module.KopfPoster(),
                  metrics=registry, steps=asyncio.Semaphore(4 * cfg.kopf.api_workers))
    client, health = await redisconn.connect(
        cfg.redis.url, registry, socket_timeout=cfg.redis.socket_timeout_seconds)
    ctx.redis, ctx.health = client, health
    ctx.limiter = _limiter(cfg, client, health, registry)
    if cfg.locks.enabled:
        ctx.locks = locks.OutputLocks(client, ttl=cfg.locks.ttl_seconds,
                                      fail_open=cfg.locks.fail_open, health=health,
                                      metrics=registry)
        if client is not None:
            ctx.tasks.append(asyncio.create_task(ctx.locks.keep_alive(), name="lock renewal"))
    gpu = None
    if client is not None:
        ctx.relay = redis_relay.ProgressRelay(
            client, ctx.patch_progress, health=health, metrics=registry,
            interval=cfg.status.progress_interval_seconds)
        ctx.job_cache = cache.JobStatusCache(client, health=health, metrics=registry)
        gpu = gpustatus.GpuStatus(client, health=health, metrics=registry)
        ctx.tasks += [asyncio.create_task(ctx.relay.run(), name="progress relay"),
                      asyncio.create_task(health.watch(client), name="redis health"),
                      asyncio.create_task(gpu.refresh_forever(), name="gpu status")]
    if cfg.http.enabled:
        app = httpapi.build_app(job_loader=ctx.load_job_view, metrics=registry,
                                job_cache=ctx.job_cache, gpu_status=gpu, health=health)
        ctx.http = await httpapi.start(app, cfg.http.host, cfg.http.port)
    return ctx


async def stop(ctx: Context) -> None:
    """Stop background tasks, the HTTP API and the clients (idempotent)."""
    for task in ctx.tasks:
        task.cancel()
    for task in ctx.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    ctx.tasks.clear()
    if ctx.http is not None:
        await ctx.http.stop()
        ctx.http = None
    await redisconn.close(ctx.redis)
    ctx.redis = None
    close = getattr(ctx.api, "close", None)
    if close is not None:
        close()
