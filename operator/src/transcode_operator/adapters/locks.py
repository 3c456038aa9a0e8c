"""Output locks: one job at a time writes a destination object.

When a plan wants to start a runner Pod, `control.observe` calls
`OutputLocks.acquire(destinations, owner)` with every `spec.outputs[].destination`
of the job; one Lua script takes all of them or none and, when another job
holds one, says which job (`LockResult.held_by`), so the job can wait in
Pending with reason `OutputLocked`. A lock is a Redis key holding the owner
(job UID as token, `namespace/name` as holder) with an expiry; `keep_alive`
(started once at operator startup) renews every lock this process took, and the
end of a job and its finalizer (`control.act`) call `release`, a compare-and-delete, so a
job never frees a lock that expired and went to another job. Acquiring again with
the same owner succeeds, so a restarted operator resumes its jobs. Without
Redis the answer follows `fail_open`. Locks are on `objects(spec)`, the
canonical endpoint + bucket + key of each output and of the packaging and
thumbnails prefixes (`transcode_api.urls`), so two spellings of one object
share a lock; `refusal` words the wait without naming a job of another namespace.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from transcode_api import spec as job_spec
from transcode_api import urls
from transcode_operator.adapters import clocks, redisconn
from transcode_operator.adapters import metrics as metrics_module

logger = logging.getLogger(__name__)
LOCK_PREFIX = "kt:lock:output:"

# KEYS: lock keys.  ARGV: owner value, ttl_ms.  Returns {} when taken, else a flat
# list {index, current value, ...} of the keys someone else holds.
_ACQUIRE = """
local conflicts = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current and current ~= ARGV[1] then
    table.insert(conflicts, i)
    table.insert(conflicts, current)
  end
end
if #conflicts > 0 then return conflicts end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return conflicts
"""
# KEYS: lock keys.  ARGV: owner value, ttl_ms.  Returns the indexes someone else holds
# now. A key that vanished (expired, or Redis restarted empty) is taken again.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not current then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""
# KEYS: lock keys.  ARGV: owner value.  Deletes only the keys we still hold.
_RELEASE = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
"""


@dataclass(frozen=True)
class LockOwner:
    """Who takes a lock: `token` is the job UID, `holder` is `namespace/name`."""

    token: str
    holder: str

    def encode(self) -> str:
        return json.dumps({"holder": self.holder, "token": self.token}, sort_keys=True)

    @staticmethod
    def decode(value: str) -> LockOwner:
        try:
            data = json.loads(value)
            return LockOwner(str(data["token"]), str(data["holder"]))
        except (ValueError, KeyError, TypeError):
            return LockOwner(token="", holder=value)


@dataclass(frozen=True)
class LockResult:
    """The answer of `acquire`."""

    acquired: bool
    held_by: dict[str, LockOwner] = field(default_factory=dict)
    """destination -> current owner, for each destination someone else holds."""
    degraded: bool = False
    """True when Redis could not be asked and `fail_open` decided."""


@dataclass
class OutputLocks:
    """All-or-nothing locks on output destinations, with expiry and renewal."""

    client: aioredis.Redis | None
    ttl: float = 120.0
    """Seconds a lock lives unless renewed; `keep_alive` renews every ttl/3."""
    fail_open: bool = True
    """Without Redis: True lets the job start unlocked, False makes it wait."""
    clock: clocks.Clock = field(default_factory=clocks.SystemClock)
    health: redisconn.RedisHealth | None = None
    metrics: metrics_module.Metrics | None = None
    retry_after: float = 15.0
    """Seconds a job that did not get its locks waits before asking again."""
    _held: dict[str, tuple[tuple[str, ...], LockOwner]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = redisconn.RedisHealth(configured=self.client is not None)
        client = self.client
        self._acquire = client.register_script(_ACQUIRE) if client is not None else None
        self._renew = client.register_script(_RENEW) if client is not None else None
        self._release = client.register_script(_RELEASE) if client is not None else None

    @staticmethod
    def key(destination: str) -> str:
        return LOCK_PREFIX + destination.strip()

    async def acquire(self, destinations: Iterable[str], owner: LockOwner) -> LockResult:
        """Take every destination's lock for `owner`, or none of them."""
        dests = _unique(destinations)
        script = self._acquire
        assert self.health is not None
        if not dests:
            return LockResult(True)
        if script is None:
            return LockResult(self.fail_open, degraded=True)
        reply = await self.health.call(
            "locks.acquire",
            lambda: script(keys=[self.key(d) for d in dests],
                           args=[owner.encode(), int(self.ttl * 1000)]),
            None,
        )
        if reply is None:
            return LockResult(self.fail_open, degraded=True)
        if reply:
            held_by = {
                dests[int(reply[i]) - 1]: LockOwner.decode(str(reply[i + 1]))
                for i in range(0, len(reply), 2)
            }
            if self.metrics is not None:
                self.metrics.lock_waits.inc()
            return LockResult(False, held_by)
        self._held[owner.token] = (dests, owner)
        return LockResult(True)

    async def renew(self, destinations: Iterable[str], owner: LockOwner) -> list[str]:
        """Extend `owner`'s locks by `ttl`; returns the destinations another owner holds.

        A lock that expired unclaimed is taken again. While Redis is down nothing
        is known to be lost, so it returns [].
        """
        dests = _unique(destinations)
        script = self._renew
        assert self.health is not None
        if script is None or not dests:
            return []
        reply = await self.health.call(
            "locks.renew",
            lambda: script(keys=[self.key(d) for d in dests],
                           args=[owner.encode(), int(self.ttl * 1000)]),
            None,
        )
        lost = [dests[int(index) - 1] for index in reply or []]
        if lost and self.metrics is not None:
            self.metrics.lock_lost.inc(len(lost))
        return lost

    async def release(self, destinations: Iterable[str], owner: LockOwner) -> int:
        """Delete the locks `owner` still holds (compare-and-delete); returns how many."""
        dests = _unique(destinations)
        self._held.pop(owner.token, None)
        script = self._release
        assert self.health is not None
        if script is None or not dests:
            return 0
        released = await self.health.call(
            "locks.release",
            lambda: script(keys=[self.key(d) for d in dests], args=[owner.encode()]),
            0,
        )
        return int(released)

    async def renew_all(self) -> dict[str, list[str]]:
        """Renew every lock taken through this object; returns token -> lost destinations."""
        lost_by_token: dict[str, list[str]] = {}
        for token, (dests, owner) in list(self._held.items()):
            lost = await self.renew(dests, owner)
            if lost:
                lost_by_token[token] = lost
                kept = tuple(d for d in dests if d not in lost)
                if kept:
                    self._held[token] = (kept, owner)
                else:
                    self._held.pop(token, None)
                logger.warning(
                    "Output lock of %s on %s expired or was taken by another job",
                    owner.holder, ", ".join(lost),
                )
        return lost_by_token

    async def keep_alive(self) -> None:
        """Renew held locks every ttl/3, forever (run as a background task)."""
        while True:
            await self.clock.sleep(self.ttl / 3)
            await self.renew_all()
            if redisconn.cancelling():  # a cancel swallowed below us
                raise asyncio.CancelledError


def _unique(destinations: Iterable[str]) -> tuple[str, ...]:
    """Destinations without duplicates, sorted (a stable key order for the scripts)."""
    return tuple(sorted({d.strip() for d in destinations if d and d.strip()}))


def objects(spec: job_spec.TranscodeJobSpec) -> list[str]:
    """What the job's locks are on: the canonical endpoint + bucket + key of each output,
    and of the packaging and thumbnails prefixes (with their trailing '/', so they never
    name an object)."""
    found = [urls.canonical_destination(spec.storage.endpoint, o.destination)
             for o in spec.outputs]
    for folder in (spec.packaging, spec.thumbnails):
        if folder is not None:
            found.append(urls.canonical_destination(spec.storage.endpoint,
                                                    folder.destination) + "/")
    return found


def refusal(namespace: str, held_by: Mapping[str, LockOwner]) -> str:
    """The OutputLocked message: names the other job only when it is in `namespace`."""
    parts = []
    for obj, other in sorted(held_by.items()):
        same = other.holder.partition("/")[0] == namespace
        parts.append(f"destination {obj} is in use by another job"
                     + (f" ({other.holder})" if same else ""))
    return "output locked: " + "; ".join(parts)
