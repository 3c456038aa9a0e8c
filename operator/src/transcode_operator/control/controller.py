"""A fixed pool of workers serving the work queue: reconcile a key, then requeue it.

`app.context` starts one `Controller` with `workers` tasks (the operator
setting `workers`) over one `workqueue.WorkQueue`; the kopf handlers only call
`enqueue`. Each worker takes a key, awaits `reconcile(key)` (which returns the
seconds until the key's next timer, or None) and then: on success forgets the
key's failures and re-adds it after that delay; on `errors.Wait` re-adds it
after the delay asked for; on any other error logs it and re-adds it with the
queue's per-key exponential backoff. `stop()` shuts the queue down and lets the
workers finish what is queued (bounded by a timeout, then cancels them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from transcode_operator.control import workqueue
from transcode_operator.domain import errors

logger = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class Controller(Generic[K]):
    """`workers` tasks, one queue, one reconcile function."""

    def __init__(self, queue: workqueue.WorkQueue[K],
                 reconcile: Callable[[K], Awaitable[float | None]], workers: int) -> None:
        self.queue = queue
        self.reconcile = reconcile
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, key: K) -> None:
        self.queue.add(key)

    def start(self, context: contextvars.Context | None = None) -> None:
        """Start the workers (once; later calls do nothing), in `context` if given (the
        workers then see its context variables, such as kopf's Event queue)."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._work(), name=f"worker-{i}", context=context)
                       for i in range(self.workers)]

    async def _work(self) -> None:
        while (key := await self.queue.get()) is not None:
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: K) -> None:
        """One turn for `key` (the worker's body, without the queue bookkeeping)."""
        try:
            delay = await self.reconcile(key)
        except errors.Wait as exc:
            self.queue.forget(key)
            self.queue.add_after(key, exc.delay)
        except Exception:
            delay = self.queue.add_rate_limited(key)
            logger.exception("Reconciling %s failed; again in %.1fs", key, delay)
        else:
            self.queue.forget(key)
            if delay is not None:
                self.queue.add_after(key, delay)

    async def stop(self, timeout: float = 10.0) -> None:
        """Shut the queue down, let the workers drain it, cancel what is left."""
        self.queue.shut_down()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []

    @property
    def running(self) -> int:
        return sum(1 for t in self._tasks if not t.done())
