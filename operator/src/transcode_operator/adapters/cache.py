"""Read-through JSON caches in Redis with the seed's TTLs, and their invalidation.

`JobStatusCache` fronts the HTTP API's job reads (5 min) and remembers unknown
names in process memory for `miss_ttl` seconds (the `http.missTtlSeconds`
setting), so a loop on a name that does not exist costs one API read per TTL, with
or without Redis: `control.act` calls `invalidate(namespace, name)` after every
status patch and on delete, which also forgets a remembered miss.
`GpuStatusCache` keeps the assembled GPU status answer (10 s) for
`gpustatus`. Both are `JsonCache`s: a miss,
or Redis down, goes to the loader; hits and misses are counted per cache. A
generation counter per key keeps a slow loader from writing back a value that
an invalidation made stale while it was loading.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from transcode_operator.adapters import clocks, redisconn
from transcode_operator.adapters import metrics as metrics_module
from transcode_operator.domain import ttlmap

T = TypeVar("T")
Loader = Callable[[], Awaitable[T]]

JOB_STATUS_TTL = 300
"""Seconds a job status read stays cached (the seed's job status TTL, 5 min)."""
GPU_STATUS_TTL = 10
"""Seconds the assembled GPU status stays cached (one probe period)."""
CACHE_PREFIX = "kt:cache"

# Write the loaded value only if no invalidation happened since the load began.
_SET_IF_GENERATION = """
local gen = redis.call('GET', KEYS[2]) or ''
if gen ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class JsonCache:
    """A named cache of JSON values under `kt:cache:{name}:{key}` with one TTL."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        name: str,
        *,
        ttl: int,
        health: redisconn.RedisHealth | None = None,
        metrics: metrics_module.Metrics | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.ttl = ttl
        self.health = health or redisconn.RedisHealth(configured=client is not None)
        self.metrics = metrics
        self._set_if = client.register_script(_SET_IF_GENERATION) if client is not None else None
        if metrics is not None:  # export zeros before the first read
            metrics.cache_hits.labels(cache=name)
            metrics.cache_misses.labels(cache=name)

    def key(self, key: str) -> str:
        return f"{CACHE_PREFIX}:{self.name}:{key}"

    async def get(self, key: str) -> Any | None:
        """The cached value, or None on a miss or while Redis is down (counted)."""
        value, _ = await self._read(key)
        self.count(value is not None)
        return value

    async def get_or_load(self, key: str, loader: Loader[T]) -> T | None:
        """The cached value, else `loader()` stored for `ttl` (a None result is not stored)."""
        cached, generation = await self._read(key)
        if cached is not None:
            self.count(True)
            return cached
        self.count(False)
        value = await loader()
        if value is not None and generation is not None:
            await self._store(key, value, generation)
        return value

    async def put(self, key: str, value: Any) -> None:
        """Store `value` for `ttl` unconditionally (write-through)."""
        client = self.client
        if client is None:
            return
        text = json.dumps(value, separators=(",", ":"))
        await self.health.call(
            f"cache.{self.name}.put", lambda: client.set(self.key(key), text, ex=self.ttl), None
        )

    async def invalidate(self, key: str) -> None:
        """Drop the value and bump the key's generation (a load in flight will not store)."""
        client = self.client
        if client is None:
            return
        full = self.key(key)

        async def drop() -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.incr(f"{full}:gen")
                pipe.expire(f"{full}:gen", self.ttl * 2)
                pipe.delete(full)
                await pipe.execute()

        await self.health.call(f"cache.{self.name}.invalidate", drop, None)

    async def _read(self, key: str) -> tuple[Any | None, str | None]:
        """(value or None, generation or None when Redis is unusable)."""
        client = self.client
        if client is None:
            return None, None
        full = self.key(key)

        async def read() -> tuple[str | None, str | None]:
            value, gen = await client.mget(full, f"{full}:gen")
            return value, gen or ""

        unavailable: tuple[str | None, str | None] = (None, None)
        raw, gen = await self.health.call(f"cache.{self.name}.get", read, unavailable)
        if raw is None:
            return None, gen
        try:
            return json.loads(raw), gen
        except ValueError:
            return None, gen

    async def _store(self, key: str, value: Any, generation: str) -> None:
        script = self._set_if
        if script is None:
            return
        full = self.key(key)
        text = json.dumps(value, separators=(",", ":"))
        await self.health.call(
            f"cache.{self.name}.set",
            lambda: script(keys=[full, f"{full}:gen"], args=[generation, text, self.ttl]),
            None,
        )

    def count(self, hit: bool) -> None:
        if self.metrics is not None:
            counter = self.metrics.cache_hits if hit else self.metrics.cache_misses
            counter.labels(cache=self.name).inc()


class JobStatusCache:
    """Job reads for the HTTP API, keyed by namespace/name (5 min); misses for `miss_ttl`."""

    NAME = "job_status"

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        ttl: int = JOB_STATUS_TTL,
        miss_ttl: float = 0.0,
        max_misses: int = 10_000,
        health: redisconn.RedisHealth | None = None,
        metrics: metrics_module.Metrics | None = None,
        clock: clocks.Clock | None = None,
    ) -> None:
        self.cache = JsonCache(client, self.NAME, ttl=ttl, health=health, metrics=metrics)
        self.miss_ttl = miss_ttl
        self.clock = clock or clocks.SystemClock()
        self._misses: ttlmap.TtlMap[str, bool] = ttlmap.TtlMap(max_misses)

    async def get(self, namespace: str, name: str, loader: Loader[T]) -> T | None:
        """The job's cached view, else `loader()`; None (no such job) is remembered for
        `miss_ttl` seconds, during which the loader is not called for that name."""
        key = f"{namespace}/{name}"
        if self._misses.get(key, self.clock.monotonic()):
            self.cache.count(True)
            return None
        value = await self.cache.get_or_load(key, loader)
        if value is None:
            self._misses.put(key, True, self.miss_ttl, self.clock.monotonic())
        return value

    async def invalidate(self, namespace: str, name: str) -> None:
        """Call after every status patch of the job and when it is deleted."""
        self._misses.pop(f"{namespace}/{name}")
        await self.cache.invalidate(f"{namespace}/{name}")


class GpuStatusCache:
    """The assembled GPU status answer (10 s), one key for the cluster."""

    NAME = "gpu_status"

    def __init__(
        self,
        client: aioredis.Redis | None,
        *,
        ttl: int = GPU_STATUS_TTL,
        health: redisconn.RedisHealth | None = None,
        metrics: metrics_module.Metrics | None = None,
    ) -> None:
        self.cache = JsonCache(client, self.NAME, ttl=ttl, health=health, metrics=metrics)

    async def get(self, loader: Loader[T]) -> T | None:
        return await self.cache.get_or_load("cluster", loader)

    async def invalidate(self) -> None:
        await self.cache.invalidate("cluster")
