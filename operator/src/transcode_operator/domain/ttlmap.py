"""A bounded in-memory map whose entries expire: the HTTP API's short-lived answers.

`adapters.apiauth.Reviewer` keeps TokenReview and SubjectAccessReview answers in
one (allowed for 30 s, denied for 10 s by default) and
`adapters.cache.JobStatusCache` remembers unknown job names in another, so a
client polling the same URL costs no Kubernetes API call per request. Callers
pass the time in (`now`, monotonic seconds), which keeps this module pure and
lets tests move time by hand. At `max_entries` the entry written longest ago is
dropped first, so a flood of distinct keys costs bounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlMap(Generic[K, V]):
    """`put(key, value, ttl, now)` / `get(key, now)`; at most `max_entries` kept."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, now: float) -> V | None:
        """The value if present and not expired at `now`, else None (an expired one is dropped)."""
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if now >= expires:
            del self._items[key]
            return None
        return value

    def put(self, key: K, value: V, ttl: float, now: float) -> None:
        """Keep `value` until `now + ttl` (ttl <= 0 keeps nothing); evict the oldest when full."""
        self._items.pop(key, None)
        if ttl <= 0:
            return
        self._items[key] = (now + ttl, value)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget `key` (no error when absent)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
