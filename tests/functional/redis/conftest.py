"""Helpers for the functional tests of the operator's Redis helpers against a real Redis.

`redis_url` (a fresh database) and `redis_server` (stop/start on the same port)
come from `dev.services.fixtures`. Here: `poll`, an async wait for a condition
with a deadline (no fixed sleeps), and `patches`, a recording async `patch`.
Every test runs its coroutine with `asyncio.run` and makes its clients inside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


async def _poll(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0,
                step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


@pytest.fixture
def poll() -> Callable[..., Awaitable[None]]:
    """`await poll(condition, timeout=10)`: wait until `condition()` is true, or fail."""
    return _poll


class Patches:
    """A recording `patch(namespace, name, progress)` with monotonic timestamps."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str, dict[str, Any]]] = []

    async def __call__(self, namespace: str, name: str, progress: dict[str, Any]) -> None:
        self.calls.append((time.monotonic(), namespace, name, progress))

    def percents(self, name: str | None = None) -> list[float]:
        return [c[3]["percent"] for c in self.calls if name is None or c[2] == name]


@pytest.fixture
def patches() -> Patches:
    return Patches()
