"""Who holds output locks, read straight from Redis: what the lock tests check after a race."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from transcode_operator.adapters import locks


async def holders(client: Any, destinations: Iterable[str]) -> dict[str, locks.LockOwner]:
    """destination -> owner for each destination locked now."""
    dests = list(dict.fromkeys(destinations))
    values = await client.mget([locks.OutputLocks.key(d) for d in dests])
    return {d: locks.LockOwner.decode(v if isinstance(v, str) else v.decode())
            for d, v in zip(dests, values, strict=True) if v}
