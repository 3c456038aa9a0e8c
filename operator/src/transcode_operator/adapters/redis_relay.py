"""Progress relay: the runner's high-rate progress in Redis, throttled into CR status.

The runner writes `{"percent", "fps", "speed", "updatedAt"}` to
`kt:progress:{namespace}:{name}:{podUid}` (TTL 1 h) as often as FFmpeg reports and
publishes the key name on `kt:progress`. `ProgressRelay.run()` (started once at
operator startup) listens on that channel and hands each update to `offer`,
which calls the injected `patch(namespace, name, progress)` at most once per
`interval` (5 s) per job and always delivers the last value: an update inside
the interval is held and sent by `tick` when the interval is over. The patch
the operator injects (`control.deps.Deps.relayed`) writes nothing itself: it
hands the value to the job's worker, the one writer of `status.progress`.
`control.act` calls `track(namespace, name, pod_uid)` while a job's runner Pod
runs and `forget` when the job is done or deleted; updates of untracked jobs
are ignored, so a late message never reaches a finished job, and a key whose
Pod uid is not the tracked Pod's (another attempt, or a forger who has the
runner password) is rejected: counted as `rejected`, logged at debug level,
never read. `flush` (read the key once more and
deliver what is pending) is what `bench/cache.py` measures with.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from transcode_api import contract
from transcode_operator.adapters import clocks, redisconn
from transcode_operator.adapters import metrics as metrics_module

logger = logging.getLogger(__name__)

Patch = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""`patch(namespace, name, progress)`: write `status.progress` of the job."""
JobRef = tuple[str, str]
PROGRESS_FIELDS = ("percent", "fps", "speed")
MAX_PATCH_FAILURES = 3


def parse_progress(raw: str | bytes | None) -> dict[str, Any] | None:
    """The runner's progress JSON as `{percent, fps, speed}` (numbers), or None."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, Mapping):
        return None
    progress: dict[str, Any] = {}
    for name in PROGRESS_FIELDS:
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            progress[name] = value
    return progress if "percent" in progress else None


@dataclass
class _Job:
    pod_uid: str
    """The live runner Pod of the current attempt: the only writer accepted."""
    pending: dict[str, Any] | None = None
    delivered: dict[str, Any] | None = None
    last_patch: float | None = None
    failures: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while a patch of this job is in flight."""


class ProgressRelay:
    """Throttles per-job progress to one `patch` per `interval`, last value always sent."""

    def __init__(
        self,
        client: aioredis.Redis | None,
        patch: Patch,
        *,
        clock: clocks.Clock | None = None,
        health: redisconn.RedisHealth | None = None,
        metrics: metrics_module.Metrics | None = None,
        interval: float = 5.0,
        tick_interval: float = 0.5,
        reconnect_delay: float = 1.0,
    ) -> None:
        self.client = client
        self.patch = patch
        self.clock = clock or clocks.SystemClock()
        self.health = health or redisconn.RedisHealth(configured=client is not None)
        self.metrics = metrics
        self.interval = interval
        self.tick_interval = tick_interval
        self.reconnect_delay = reconnect_delay
        self._jobs: dict[JobRef, _Job] = {}

    # --- what control.act calls ---------------------------------------------------------
    def track(self, namespace: str, name: str, pod_uid: str) -> None:
        """Relay this job's progress from Pod `pod_uid` from now on (it started or resumed).

        A new Pod (the next attempt) replaces the one tracked before, dropping what
        that one left pending.
        """
        job = self._jobs.get((namespace, name))
        if job is None or job.pod_uid != pod_uid:
            self._jobs[(namespace, name)] = _Job(pod_uid)

    async def flush(self, namespace: str, name: str, *, read: bool = True) -> bool:
        """Deliver the job's last progress now (Pod ended); True if a patch was sent.

        With `read` the progress key is read once more first, so an update whose
        message was missed still arrives.
        """
        job = self._jobs.get((namespace, name))
        if job is None:
            return False
        if read:
            latest = await self._read(namespace, name, job.pod_uid)
            if latest is not None and latest != job.delivered:
                job.pending = latest
        return await self._deliver((namespace, name), job, wait=True)

    def forget(self, namespace: str, name: str) -> None:
        """Stop relaying this job (it finished or was deleted); drops anything pending."""
        self._jobs.pop((namespace, name), None)

    # --- updates in, patches out ---------------------------------------------------------
    async def offer(self, namespace: str, name: str, progress: dict[str, Any]) -> bool:
        """Take one update; patch now if the job's interval has passed. True if patched."""
        job = self._jobs.get((namespace, name))
        if job is None:
            self._count("ignored")
            return False
        if progress == job.delivered or progress == job.pending:
            self._count("coalesced")
            return False
        if job.pending is not None:
            self._count("coalesced")  # the held value is replaced, never sent
        job.pending = progress
        if self._due(job):
            return await self._deliver((namespace, name), job)
        return False

    async def tick(self) -> int:
        """Deliver every held update whose interval has passed; returns patches sent."""
        due = [(ref, job) for ref, job in self._jobs.items() if job.pending and self._due(job)]
        if not due:
            return 0
        results = await asyncio.gather(*(self._deliver(ref, job) for ref, job in due))
        return sum(results)

    async def handle_message(self, data: str | bytes) -> bool:
        """One pub/sub message (a progress key name): read the key and `offer` it."""
        key = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        parsed = contract.parse_progress_key(key)
        job = self._jobs.get((parsed.namespace, parsed.name)) if parsed is not None else None
        if parsed is None or job is None:
            self._count("ignored")
            return False
        if parsed.pod_uid != job.pod_uid:
            self._count("rejected")
            logger.debug("Rejected a progress key for %s/%s: Pod uid %s is not the current "
                         "attempt's", parsed.namespace, parsed.name, parsed.pod_uid)
            return False
        progress = await self._read(parsed.namespace, parsed.name, parsed.pod_uid)
        if progress is None:
            return False
        return await self.offer(parsed.namespace, parsed.name, progress)

    async def catch_up(self) -> int:
        """Read the progress keys of all tracked jobs once (after (re)subscribing)."""
        client = self.client
        refs = list(self._jobs)
        if client is None or not refs:
            return 0
        keys = [contract.progress_key(*ref, self._jobs[ref].pod_uid) for ref in refs]
        values = await self.health.call("relay.catch_up", lambda: client.mget(keys), None)
        sent = 0
        for ref, raw in zip(refs, values or [], strict=False):
            progress = parse_progress(raw)
            if progress is not None and ref in self._jobs:
                sent += await self.offer(ref[0], ref[1], progress)
        return sent

    # --- background loop ------------------------------------------------------------------
    async def run(self) -> None:
        """Subscribe and relay forever, resubscribing after Redis outages (cancel to stop)."""
        ticker = asyncio.create_task(self._tick_forever())
        try:
            while True:
                if self.client is not None:
                    await self._listen(self.client)
                await self.clock.sleep(self.reconnect_delay)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    async def _listen(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(contract.PROGRESS_CHANNEL)
            self.health.succeeded()
            await self.catch_up()
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    await self.handle_message(message["data"])
        except redisconn.REDIS_ERRORS as exc:
            self.health.failed("relay.subscribe", exc)
        finally:
            await asyncio.shield(_close_pubsub(pubsub))

    async def _tick_forever(self) -> None:
        while True:
            await self.clock.sleep(self.tick_interval)
            try:
                await self.tick()
            except Exception:
                logger.exception("Progress relay tick failed")

    # --- internals ------------------------------------------------------------------------
    def _due(self, job: _Job) -> bool:
        if job.lock.locked():
            return False
        return job.last_patch is None or self.clock.monotonic() - job.last_patch >= self.interval

    async def _deliver(self, ref: JobRef, job: _Job, *, wait: bool = False) -> bool:
        """Patch the held value; with `wait`, after the patch in flight (if any) ends."""
        if job.lock.locked() and not wait:
            return False
        async with job.lock:
            progress = job.pending
            if progress is None:
                return False
            job.pending = None
            job.last_patch = self.clock.monotonic()
            try:
                await self.patch(ref[0], ref[1], dict(progress))
            except Exception as exc:  # noqa: BLE001 - any patch error: keep the value, try later
                job.failures += 1
                self._count("failed")
                if job.failures >= MAX_PATCH_FAILURES:
                    logger.warning("Giving up a progress patch of %s/%s: %s", *ref, exc)
                    job.failures = 0
                elif job.pending is None:
                    job.pending = progress
                return False
        job.failures = 0
        job.delivered = progress
        self._count("patched")
        return True

    async def _read(self, namespace: str, name: str, pod_uid: str) -> dict[str, Any] | None:
        client = self.client
        if client is None:
            return None
        key = contract.progress_key(namespace, name, pod_uid)
        raw = await self.health.call("relay.get", lambda: client.get(key), None)
        return parse_progress(raw)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.progress_updates.labels(outcome=outcome).inc()


async def _close_pubsub(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except redisconn.REDIS_ERRORS:
        pass
    except RuntimeError:  # the loop is closing
        pass
