"""Posting the plan's Events on a TranscodeJob: through kopf's Event queue, or once by name.

`control.act` calls `Poster.post(job, event)` for every `domain.events.Event`
in a plan, after the status write. `KopfPoster` hands it to `kopf.event`,
which queues the Event and posts it from kopf's own background task (so
posting never blocks a worker); the workers run in tasks started from kopf's
first event handler, where that queue is set up. A keyed Event (an attempt's
`Created`) goes to `post_once` instead, which POSTs it itself under
`events.once_name` with the fields kopf fills in: the API server's 409 for a second
post of it makes the post idempotent, so a restarted operator may repeat it.
Unit tests inject a recorder.
"""

from __future__ import annotations

import datetime
import logging
import socket
from collections.abc import Mapping
from typing import Any, Protocol, cast

import kopf

from transcode_operator.domain import errors, events

MAX_MESSAGE = 1024
COMPONENT = "kube-transcoder-operator"
"""The Events' reportingComponent (kopf's posting settings say the same: app.handlers)."""
logger = logging.getLogger(__name__)


class EventApi(Protocol):
    async def create_event(self, namespace: str, body: dict[str, Any]) -> None: ...


class Poster(Protocol):
    def post(self, body: Mapping[str, Any], event: events.Event) -> None: ...

    async def post_once(self, body: Mapping[str, Any], event: events.Event) -> bool:
        """Post a keyed Event unless it exists; True once it does (posted now or before)."""
        ...


def once_body(target: Mapping[str, Any], event: events.Event, now: datetime.datetime,
              instance: str) -> dict[str, Any]:
    """The core/v1 Event `post_once` creates: named by `events.once_name`, as kopf's."""
    meta = target["metadata"]
    stamp = now.isoformat()
    return {
        "metadata": {"name": events.once_name(meta["name"], meta["uid"], event.key),
                     "namespace": meta["namespace"]},
        "type": event.type, "reason": event.reason, "message": event.message[:MAX_MESSAGE],
        "action": event.reason, "reportingComponent": COMPONENT,
        "reportingInstance": instance, "source": {"component": COMPONENT},
        "involvedObject": {"apiVersion": target["apiVersion"], "kind": target["kind"],
                           "name": meta["name"], "namespace": meta["namespace"],
                           "uid": meta["uid"]},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "eventTime": stamp, "count": 1,
    }


class KopfPoster:
    """Posts through kopf's Event queue; keyed Events through `api` by name."""

    def __init__(self, api: EventApi | None = None, instance: str = "") -> None:
        self.api, self.instance = api, instance or socket.gethostname()  # as kopf's

    def post(self, body: Mapping[str, Any], event: events.Event) -> None:
        kopf.event(cast(Any, body), type=event.type, reason=event.reason,
                   message=event.message[:MAX_MESSAGE])

    async def post_once(self, body: Mapping[str, Any], event: events.Event) -> bool:
        if self.api is None:
            self.post(body, event)
            return True
        document = once_body(body, event, datetime.datetime.now(datetime.UTC), self.instance)
        try:
            await self.api.create_event(body["metadata"]["namespace"], document)
        except errors.Conflict:
            return True  # posted before (by this process or the one before it)
        except errors.ApiError as exc:  # Events are auxiliary: the next turn tries again
            logger.warning("Could not post Event %s on %s/%s: %s", event.reason,
                           body["metadata"]["namespace"], body["metadata"]["name"], exc)
            return False
        return True
