"""Posting the plan's Events on a TranscodeJob through kopf's Event queue.

`control.act` calls `Poster.post(job, event)` for every `domain.events.Event`
in a plan, after the status write. `KopfPoster` hands it to `kopf.event`,
which queues the Event and posts it from kopf's own background task (so
posting never blocks a worker); the workers run in tasks started from kopf's
first event handler, where that queue is set up. Unit tests inject a recorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

import kopf

from transcode_operator.domain import events

MAX_MESSAGE = 1024


class Poster(Protocol):
    def post(self, body: Mapping[str, Any], event: events.Event) -> None: ...


class KopfPoster:
    """Posts through kopf's Event queue."""

    def post(self, body: Mapping[str, Any], event: events.Event) -> None:
        kopf.event(cast(Any, body), type=event.type, reason=event.reason,
                   message=event.message[:MAX_MESSAGE])
