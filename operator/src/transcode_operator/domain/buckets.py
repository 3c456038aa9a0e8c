"""Token buckets per client: the HTTP API's request rate limit.

`adapters.apiguard` keeps two tables: one keyed by the remote address, charged
before any authentication (so an unauthenticated flood costs no TokenReview),
and one keyed by the authenticated user. Each client may send `burst` requests
at once and `rate` per second after that; `take(key, now)` answers 0.0 when the
request may go ahead, else the seconds until the next token (the Retry-After).
The table holds at most `max_clients` buckets, dropping the least recently seen
one first; a dropped client simply starts again with a full bucket. Pure: the
caller passes the time (monotonic seconds).
"""

from __future__ import annotations

from collections import OrderedDict


class TokenBuckets:
    """One bucket of `burst` tokens refilled at `rate` per second for each key (rate 0: no limit)."""

    def __init__(self, rate: float, burst: float, max_clients: int = 10_000) -> None:
        if rate < 0 or burst < 0 or max_clients < 1:
            raise ValueError("rate and burst must be >= 0 and max_clients >= 1")
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def unlimited(self) -> bool:
        return self.rate == 0

    def take(self, key: str, now: float) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else seconds to wait."""
        if self.unlimited:
            return 0.0
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait
