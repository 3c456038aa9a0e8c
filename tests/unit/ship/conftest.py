"""Fixtures for the "ship it" unit tests (chart, manifests, GitOps health, examples).

`chart` is a session `helmchart.Chart`: the pinned Helm CLI (built from
dev/cluster/helm on first use, then cached) pointed at charts/kube-transcoder,
with Helm's own state in a temp folder. Nothing here needs a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.cluster import helm
from tests.unit.ship import helmchart


@pytest.fixture(scope="session")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[helmchart.Chart]:
    try:
        binary = helm.binary()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield helmchart.Chart(binary, tmp_path_factory.mktemp("helm"))
