"""One deduplicating work queue of job keys, with delayed and rate-limited adds.

The semantics of client-go's `workqueue` (what controller-runtime builds on),
in asyncio: `add(key)` queues a key once however often it is added (the
*dirty* set); `get()` hands it to one worker and marks it *processing*; a key
added again while it is processed is queued only when that worker calls
`done(key)`, so no key is ever worked on by two workers at once. `add_after`
keeps the earliest of a key's pending delays in one heap (timers are delayed
re-adds, never tasks); `add_rate_limited` backs off per key (base·2ⁿ, capped)
until `forget(key)`. `shut_down()` refuses new keys and drops timers; `get()`
still hands out what is queued and then answers None, so the workers drain it and
end. `control.controller` serves it with a fixed pool of workers; its sizes (`len`,
`delayed`) are a metric; the clock is injected so the unit tests step time by hand.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Dirty/processing sets over a FIFO, a delay heap and per-key failure counts."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 backoff_base: float = 0.5, backoff_cap: float = 60.0) -> None:
        self._clock = clock
        self._base = backoff_base
        self._cap = backoff_cap
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._heap: list[tuple[float, int, K]] = []
        """(due, seq, key): the delayed adds; `_due` holds each key's earliest."""
        self._due: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._shutting_down = False
        self._wakeup = asyncio.Event()

    # --- adding -------------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue `key` unless it is queued already (or is processed: then after `done`)."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` in `delay` seconds; an earlier pending delay of the key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock() + delay
        if self._due.get(key, float("inf")) <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._wakeup.set()

    def add_rate_limited(self, key: K) -> float:
        """Queue `key` after its next backoff delay (a failure); returns the delay."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self._base * 2.0 ** min(failures - 1, 32), self._cap)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """The key succeeded: its next failure backs off from the base again."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    # --- taking -------------------------------------------------------------------------
    def pop_ready(self) -> K | None:
        """The next key to work on now (moved to processing), or None."""
        self._promote()
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    async def get(self) -> K | None:
        """Wait for the next key; None once shut down and nothing is queued."""
        while True:
            self._wakeup.clear()
            key = self.pop_ready()
            if key is not None:
                return key
            if self._shutting_down:
                return None
            timeout = self._heap[0][0] - self._clock() if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(timeout, 0.0) if timeout is not None else None):
                    await self._wakeup.wait()

    def done(self, key: K) -> None:
        """The worker finished `key`; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wakeup.set()

    def _promote(self) -> None:
        """Queue the keys whose timers fell due, earliest first."""
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:
                del self._due[key]
                self.add(key)

    # --- stopping -----------------------------------------------------------------------
    def shut_down(self) -> None:
        """Refuse new keys, drop timers; queued keys are still handed out."""
        self._shutting_down = True
        self._heap.clear()
        self._due.clear()
        self._wakeup.set()

    def __len__(self) -> int:
        """Keys queued now (not those waiting for a timer or being processed)."""
        return len(self._queue)

    def delayed(self) -> int:
        """Keys waiting for a timer."""
        return len(self._due)
