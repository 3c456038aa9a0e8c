"""Fakes for the operator's Redis helpers: a dict-backed client, a client whose Redis is
down, a recording `patch`, and a metrics object on a fresh registry.

The unit tests here never open a socket: the Lua scripts (limits, locks, cache
generations) run against real Redis in tests/functional/redis instead. Async
code runs inside `asyncio.run` in plain test functions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis import exceptions as redis_errors

from transcode_api import contract
from transcode_operator.adapters import clocks, metrics

POD_UID = "0b1c2d3e-0000-4000-8000-000000000001"
"""The runner Pod the relay tests track (a uid as Kubernetes makes them)."""


class FakeRedis:
    """The few async commands the relay uses, on a dict."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def write_progress(self, namespace: str, name: str, pod_uid: str = POD_UID,
                       **progress: Any) -> None:
        self.data[contract.progress_key(namespace, name, pod_uid)] = json.dumps(progress)

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def mget(self, *keys: Any) -> list[str | None]:
        flat = keys[0] if len(keys) == 1 and isinstance(keys[0], list) else keys
        return [self.data.get(key) for key in flat]


class DownRedis:
    """A client whose every command fails as if the server were gone."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    def register_script(self, script: str) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            return self._fail()

        return run

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        return self._fail()

    def pubsub(self, **kwargs: Any) -> Any:
        outer = self

        class PubSub:
            async def subscribe(self, *channels: str) -> None:
                outer._fail()

            async def aclose(self) -> None:
                pass

        return PubSub()

    async def scan_iter(self, *args: Any, **kwargs: Any) -> Any:
        self._fail()
        yield ""  # pragma: no cover - never reached

    def __getattr__(self, name: str) -> Any:
        async def command(*args: Any, **kwargs: Any) -> Any:
            return self._fail()

        return command


class PatchRecorder:
    """An async `patch(namespace, name, progress)` that records calls with the clock time."""

    def __init__(self, clock: clocks.ManualClock, fail_times: int = 0) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str, str, dict[str, Any]]] = []
        self.fail_times = fail_times

    async def __call__(self, namespace: str, name: str, progress: dict[str, Any]) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("API server said 500")
        self.calls.append((self.clock.time(), namespace, name, progress))

    @property
    def values(self) -> list[float]:
        return [call[3]["percent"] for call in self.calls]


@pytest.fixture
def clock() -> clocks.ManualClock:
    return clocks.ManualClock(start=1_000.0)


@pytest.fixture
def fake_redis() -> FakeRedis:
    return FakeRedis()


@pytest.fixture
def down_redis() -> DownRedis:
    return DownRedis()


@pytest.fixture
def recorder(clock: clocks.ManualClock) -> PatchRecorder:
    return PatchRecorder(clock)


@pytest.fixture
def metric_set(clock: clocks.ManualClock) -> metrics.Metrics:
    return metrics.Metrics(clock=clock)


def _sample(m: metrics.Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def sample() -> Any:
    """`sample(metrics, name, **labels)`: the current value of one sample (0 when absent)."""
    return _sample
