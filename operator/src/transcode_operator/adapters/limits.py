"""Per-namespace job-start rate limit and running-job cap, atomic in Redis.

`control.observe` calls `NamespaceLimiter.acquire(namespace, uid, live_jobs)` when a plan
wants to start a runner Pod (the start gates): one Lua script checks the cap on running jobs
and the starts-per-minute window and, if both allow, records the job in both.
When the namespace has a running cap but no running set in Redis (Redis restarted
empty, FLUSHALL, a new Redis, or simply nothing ran), the script answers
`NoRunningSet` without deciding; the limiter then awaits `live_jobs()` (the UIDs
of the namespace's jobs with a live runner Pod, listed from the API server) and
asks again, and the script counts those jobs as running before it decides, so a
Redis that lost its data never lets the cap be exceeded.
A denied job waits in phase Pending with reason `RateLimited` and asks again
after `Decision.retry_after`. `control.act` calls
`release(namespace, uid)`; `control.observe`, denied by the cap, reads `running`
and releases the slots of jobs that ended or are gone without a release.
Everything is keyed by the job's UID in sorted sets, so asking again for a job
already counted (a restarted operator resuming its jobs, a retry) never counts it
twice. Without Redis the decision follows `fail_open`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from transcode_operator.adapters import clocks, redisconn
from transcode_operator.adapters import metrics as metrics_module

logger = logging.getLogger(__name__)
REASON_OK = "Allowed"
REASON_ALREADY_COUNTED = "AlreadyCounted"
REASON_START_RATE = "StartRateExceeded"
REASON_CONCURRENCY = "ConcurrencyCapReached"
REASON_UNAVAILABLE = "RedisUnavailable"
REASON_UNLIMITED = "Unlimited"
REASON_NO_RUNNING_SET = "NoRunningSet"
LiveJobs = Callable[[], Awaitable[Iterable[str]]]
"""`live_jobs()`: UIDs of a namespace's jobs with a live runner Pod."""

# KEYS: starts zset, running zset.  ARGV: now_ms, window_ms, max_starts, max_running,
# member (job uid), running_ttl_ms, 'seed' or 'check', then (with 'seed') the uids
# of the jobs with a live runner Pod.  Returns {allowed, retry_after_ms, reason, recounted};
# with 'check' and a cap but no running set: {0, 0, 'NoRunningSet', 0}, nothing written.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_starts = tonumber(ARGV[3])
local max_running = tonumber(ARGV[4])
local member = ARGV[5]
local recounted = 0
if max_running > 0 and redis.call('EXISTS', KEYS[2]) == 0 then
  if ARGV[7] ~= 'seed' then
    return {0, 0, 'NoRunningSet', 0}
  end
  for i = 8, #ARGV do
    recounted = recounted + redis.call('ZADD', KEYS[2], now, ARGV[i])
  end
  if recounted > 0 then
    redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
  end
end
if redis.call('ZSCORE', KEYS[2], member) then
  return {1, 0, 'AlreadyCounted', recounted}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if max_running > 0 and redis.call('ZCARD', KEYS[2]) >= max_running then
  return {0, -1, 'ConcurrencyCapReached', recounted}
end
local counted = redis.call('ZSCORE', KEYS[1], member)
if max_starts > 0 and not counted and redis.call('ZCARD', KEYS[1]) >= max_starts then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 'StartRateExceeded', recounted}
end
if not counted then
  redis.call('ZADD', KEYS[1], now, member)
end
redis.call('ZADD', KEYS[2], now, member)
redis.call('PEXPIRE', KEYS[1], window * 2)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
return {1, 0, 'Allowed', recounted}
"""


@dataclass(frozen=True)
class LimitPolicy:
    """Limits of one namespace; 0 means no limit."""

    starts_per_minute: int = 0
    """Job starts allowed in any 60 s window. Default 0 (unlimited)."""
    max_running: int = 0
    """Jobs counted as running at once. Default 0 (unlimited)."""

    @property
    def unlimited(self) -> bool:
        return self.starts_per_minute <= 0 and self.max_running <= 0


@dataclass(frozen=True)
class Decision:
    """The limiter's answer for one job start."""

    allowed: bool
    retry_after: float
    """Seconds to wait before asking again (0 when allowed)."""
    reason: str
    """`Allowed`, `AlreadyCounted`, `Unlimited`, `StartRateExceeded`,
    `ConcurrencyCapReached` or `RedisUnavailable`."""
    degraded: bool = False
    """True when Redis could not be asked and `fail_open` decided."""


@dataclass
class NamespaceLimiter:
    """Applies `policy` (or `overrides[namespace]`) to job starts in each namespace."""

    client: aioredis.Redis | None
    policy: LimitPolicy = field(default_factory=LimitPolicy)
    overrides: Mapping[str, LimitPolicy] = field(default_factory=dict)
    fail_open: bool = True
    """Without Redis: True lets every job start, False makes them all wait."""
    clock: clocks.Clock = field(default_factory=clocks.SystemClock)
    health: redisconn.RedisHealth | None = None
    metrics: metrics_module.Metrics | None = None
    window: float = 60.0
    """Length of the start-rate window in seconds."""
    cap_retry_after: float = 10.0
    """Seconds a job denied by the running cap waits before asking again."""
    running_ttl: float = 7 * 24 * 3600.0
    """Seconds an untouched running set lives (a safety net for lost releases)."""

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = redisconn.RedisHealth(configured=self.client is not None)
        self._script = self.client.register_script(_ACQUIRE) if self.client is not None else None

    def policy_for(self, namespace: str) -> LimitPolicy:
        return self.overrides.get(namespace, self.policy)

    @staticmethod
    def keys(namespace: str) -> tuple[str, str]:
        """(starts zset, running zset) of a namespace."""
        return f"kt:limit:{namespace}:starts", f"kt:limit:{namespace}:running"

    async def acquire(self, namespace: str, uid: str, live_jobs: LiveJobs | None = None
                      ) -> Decision:
        """Count job `uid` as started and running if the namespace's limits allow.

        `live_jobs` is awaited only when Redis has no running set for a capped
        namespace; its UIDs are counted as running before the decision (without
        it, the set starts empty).
        """
        policy = self.policy_for(namespace)
        if policy.unlimited:
            return Decision(True, 0.0, REASON_UNLIMITED)
        decision = await self._ask(namespace, uid, policy, None)
        if decision.reason == REASON_NO_RUNNING_SET:
            live = sorted(set(await live_jobs())) if live_jobs is not None else []
            decision = await self._ask(namespace, uid, policy, live)
        if not decision.allowed and self.metrics is not None:
            self.metrics.rate_limited_waits.labels(reason=decision.reason).inc()
        return decision

    async def release(self, namespace: str, *uids: str) -> None:
        """The jobs ended or were deleted: free their running slots (idempotent)."""
        client = self.client
        assert self.health is not None
        if client is None or not uids:
            return
        _, running = self.keys(namespace)
        await self.health.call("limits.release", lambda: client.zrem(running, *uids), 0)

    async def running(self, namespace: str) -> list[str]:
        """UIDs counted as running in `namespace` ([] without Redis)."""
        client = self.client
        assert self.health is not None
        if client is None:
            return []
        _, running = self.keys(namespace)
        empty: list[str] = []
        members = await self.health.call(
            "limits.running", lambda: client.zrange(running, 0, -1), empty
        )
        return list(members)

    async def _ask(self, namespace: str, uid: str, policy: LimitPolicy,
                   seed: list[str] | None) -> Decision:
        """One run of the script; `seed` (None: only check) refills a missing running set."""
        script = self._script
        assert self.health is not None
        unavailable = Decision(
            self.fail_open, 0.0 if self.fail_open else self.cap_retry_after, REASON_UNAVAILABLE, True
        )
        if script is None:
            return unavailable
        starts, running = self.keys(namespace)
        args: list[str | int] = [
            int(self.clock.time() * 1000),
            int(self.window * 1000),
            policy.starts_per_minute,
            policy.max_running,
            uid,
            int(self.running_ttl * 1000),
            "check" if seed is None else "seed",
            *(seed or []),
        ]
        reply = await self.health.call(
            "limits.acquire", lambda: script(keys=[starts, running], args=args), None
        )
        if reply is None:
            return unavailable
        allowed, retry_ms, reason = int(reply[0]), int(reply[1]), str(reply[2])
        recounted = int(reply[3]) if len(reply) > 3 else 0
        if recounted:
            logger.warning("Namespace %s had no running set in Redis (restarted empty or "
                           "flushed): counted %d job(s) with a live runner Pod again",
                           namespace, recounted)
        if allowed:
            return Decision(True, 0.0, reason)
        if reason == REASON_NO_RUNNING_SET:
            return Decision(False, 0.0, reason)
        retry_after = self.cap_retry_after if retry_ms < 0 else max(retry_ms / 1000.0, 0.001)
        return Decision(False, retry_after, reason)
