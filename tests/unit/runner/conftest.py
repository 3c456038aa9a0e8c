"""unit tier for the runner: fakes at every seam (NVML, processes, clock, sinks).

No FFmpeg, no S3, no Kubernetes: everything here runs in milliseconds. The
fakes live in `tests.unit.runner.fakes`.
"""

from __future__ import annotations

import pytest

from tests.unit.runner import fakes


@pytest.fixture
def runner() -> fakes.FakeRunner:
    return fakes.FakeRunner()


@pytest.fixture
def clock() -> fakes.FakeClock:
    return fakes.FakeClock()
