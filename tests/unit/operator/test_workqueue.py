"""The work queue and its workers: dedup, one worker per key, timers, backoff, drain."""

from __future__ import annotations

import asyncio

from tests.unit.operator import fakes
from transcode_operator.control import controller, workqueue
from transcode_operator.domain import errors


def _queue(clock: fakes.Clock | None = None) -> workqueue.WorkQueue[str]:
    return workqueue.WorkQueue(clock=clock or fakes.Clock(), backoff_base=1.0, backoff_cap=8.0)


def test_a_key_added_many_times_is_queued_once() -> None:
    q = _queue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        q.add(key)
    assert len(q) == 3
    assert [q.pop_ready(), q.pop_ready(), q.pop_ready(), q.pop_ready()] == ["a", "b", "c", None]


def test_a_key_added_while_processed_waits_for_done_never_two_workers() -> None:
    q = _queue()
    q.add("a")
    assert q.pop_ready() == "a"
    q.add("a")
    q.add("a")
    assert q.pop_ready() is None  # the first worker still has it
    q.done("a")
    assert q.pop_ready() == "a" and q.pop_ready() is None
    q.done("a")
    assert q.pop_ready() is None  # not dirty: not queued again


def test_delayed_adds_fall_due_by_the_injected_clock_earliest_wins() -> None:
    clock = fakes.Clock()
    q = _queue(clock)
    q.add_after("a", 10)
    q.add_after("a", 5)  # earlier: wins
    q.add_after("a", 30)  # later: ignored
    q.add_after("b", 7)
    assert q.pop_ready() is None and q.delayed() == 2
    clock.value += 5
    assert q.pop_ready() == "a" and q.pop_ready() is None
    clock.value += 2
    assert q.pop_ready() == "b"
    clock.value += 30
    assert q.pop_ready() is None  # the ignored later timer left nothing behind


def test_failures_back_off_per_key_exponentially_capped_until_forgotten() -> None:
    q = _queue()
    assert [q.add_rate_limited("a") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert q.add_rate_limited("b") == 1.0  # another key has its own count
    q.forget("a")
    assert q.add_rate_limited("a") == 1.0


def test_workers_run_each_key_alone_and_requeue_by_its_answer() -> None:
    async def scenario() -> None:
        running: set[str] = set()
        overlap: list[str] = []
        turns: dict[str, int] = {}

        async def reconcile(key: str) -> float | None:
            if key in running:
                overlap.append(key)
            running.add(key)
            turns[key] = turns.get(key, 0) + 1
            await asyncio.sleep(0.01)
            running.discard(key)
            if key == "boom" and turns[key] == 1:
                raise RuntimeError("first turn fails")
            if key == "wait" and turns[key] == 1:
                raise errors.Wait("not yet", 0.01)
            return 0.01 if key == "timer" and turns[key] < 3 else None

        q: workqueue.WorkQueue[str] = workqueue.WorkQueue(backoff_base=0.01)
        ctl = controller.Controller(q, reconcile, workers=4)
        ctl.start()
        for _ in range(20):
            for key in ["a", "timer", "boom", "wait"]:
                ctl.enqueue(key)
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.3)
        assert overlap == []
        assert turns["timer"] >= 3 and turns["boom"] >= 2 and turns["wait"] >= 2
        assert q.failures("boom") == 0  # the second turn succeeded
        assert ctl.running == 4
        await ctl.stop(timeout=1)
        assert ctl.running == 0

    asyncio.run(scenario())


def test_shutdown_drains_what_is_queued_and_refuses_new_keys() -> None:
    async def scenario() -> None:
        done: list[str] = []

        async def reconcile(key: str) -> float | None:
            await asyncio.sleep(0.01)
            done.append(key)
            return 60.0  # a timer that shutdown drops

        q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
        ctl = controller.Controller(q, reconcile, workers=1)
        for key in ["a", "b", "c"]:
            ctl.enqueue(key)
        ctl.start()
        await asyncio.sleep(0)  # the worker takes "a"
        await ctl.stop(timeout=5)
        assert done == ["a", "b", "c"]
        ctl.enqueue("d")
        assert len(q) == 0 and q.delayed() == 0
        assert await q.get() is None

    asyncio.run(scenario())
