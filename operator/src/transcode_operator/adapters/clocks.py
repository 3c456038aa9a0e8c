"""Clocks the Redis helpers, the relay and the metrics read time from.

`SystemClock` is the real one; `ManualClock` moves only when `advance` is
awaited (unit tests and bench simulations). `adapters.redisconn`,
`adapters.metrics`, the limiter, the locks and the relay take a `Clock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Time as the Redis helpers see it."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (rate-limit windows, timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (throttling, ages)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when `advance` is awaited (tests, bench simulations).

    `time()` and `monotonic()` return the same number; `sleep` parks the caller
    until `advance` passes its deadline.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    async def advance(self, seconds: float, *, yields: int = 20) -> None:
        """Move time forward, waking each sleeper at its deadline, in order."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            for _ in range(yields):
                await asyncio.sleep(0)
        self._now = target
        for _ in range(yields):
            await asyncio.sleep(0)
