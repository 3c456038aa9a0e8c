"""The HTTP API's in-memory tables and its settings: expiring answers, token buckets, wiring.

`ttlmap.TtlMap` forgets an entry at its TTL and the oldest first when full;
`buckets.TokenBuckets` lets a burst through, then `rate` per second, and says how
long to wait; `context.http_guard` turns the documented `http` defaults into a
guard that reviews every route but /healthz, and refuses to run auth on an API
client that cannot create reviews.
"""

from __future__ import annotations

from typing import Any

import pytest

from transcode_operator.app import context
from transcode_operator.domain import buckets, settings, ttlmap


def test_ttl_map_expires_and_evicts_the_oldest_first() -> None:
    table: ttlmap.TtlMap[str, int] = ttlmap.TtlMap(max_entries=2)
    table.put("a", 1, ttl=10, now=0)
    table.put("b", 2, ttl=1, now=0)
    assert table.get("a", now=9.9) == 1 and table.get("b", now=1) is None
    table.put("b", 2, ttl=10, now=2)
    table.put("c", 3, ttl=10, now=3)  # full: "a", written first, goes
    assert table.get("a", now=3) is None and table.get("c", now=3) == 3 and len(table) == 2
    table.put("c", 4, ttl=0, now=3)  # ttl 0 keeps nothing
    assert table.get("c", now=3) is None


def test_token_bucket_burst_then_rate_with_the_wait() -> None:
    table = buckets.TokenBuckets(rate=2, burst=3, max_clients=2)
    assert [table.take("a", now=0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert table.take("a", now=0) == pytest.approx(0.5)
    assert table.take("a", now=0.5) == 0.0  # one token back after 1/rate s
    assert table.take("b", now=0.5) == 0.0 and table.take("c", now=0.5) == 0.0
    assert table.take("a", now=0.5) == 0.0  # "a" was forgotten (least recently seen): full again
    assert buckets.TokenBuckets(rate=0, burst=1).take("x", now=0) == 0.0


class Reviews:
    async def create_token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def create_subject_access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        return {}


def test_default_http_settings_review_everything_but_healthz() -> None:
    cfg = settings.HttpSettings()
    assert cfg.auth.enabled and cfg.auth.require_for_metrics and not cfg.auth.require_for_healthz
    guard = context.http_guard(cfg, Reviews())
    assert guard.reviewer is not None and guard.open_routes == {"healthz"}
    assert guard.reviewer.allowed_ttl == 30 and guard.reviewer.denied_ttl == 10
    assert (guard.per_address.rate, guard.per_address.burst) == (20, 40)
    assert (guard.per_user.rate, guard.per_user.burst) == (10, 20)
    relaxed = settings.HttpSettings.model_validate(
        {"auth": {"requireForMetrics": False, "audiences": ["kube-transcoder"]}})
    guard = context.http_guard(relaxed, Reviews())
    assert guard.open_routes == {"healthz", "metrics"}
    assert guard.reviewer is not None and guard.reviewer.audiences == ("kube-transcoder",)


def test_auth_off_has_no_reviewer_and_auth_on_needs_a_review_client() -> None:
    off = settings.HttpSettings.model_validate({"auth": {"enabled": False}})
    assert context.http_guard(off, object()).reviewer is None
    with pytest.raises(TypeError, match="TokenReviews"):
        context.http_guard(settings.HttpSettings(), object())
    with pytest.raises(ValueError, match="perUserBurst"):
        settings.HttpSettings.model_validate({"rateLimit": {"perUserBurst": 0}})
