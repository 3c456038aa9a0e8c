"""CloudEvents 1.0 in HTTP binary mode: a job event's id, headers, JSON body and signature (pure).

`domain.notifications` calls `build(job, status, type, time)` for each event due
and puts the result, with the sink and the Secret to sign with, into the plan as
a `Delivery`; `control.notify` adds `signed_headers(event, key)` once it has read
the key, and POSTs. The id is the job uid and the event type
(`<uid>-started`), so every retry, and a resend by an operator restarted after a
crash, carries the same id and receivers de-duplicate on it. Headers:
`ce-specversion: 1.0`, `ce-id`, `ce-source` (`/apis/kubetranscoder.io/v1alpha1/
namespaces/<ns>/transcodejobs`), `ce-type` (`io.kubetranscoder.job.<type>`),
`ce-subject` (the job name), `ce-time` (RFC 3339) and `content-type:
application/json`; the body is compact JSON with sorted keys, built only from
status fields that no longer change once the event is due, so a retry sends the
same bytes. The signature is `sha256=` and the hex HMAC-SHA256, keyed by the
Secret's value, of the UTF-8 id, one `.` and the body bytes.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from transcode_api import base, constants, notify, urls
from transcode_api import status as job_status
from transcode_operator.domain import builders

T = notify.EventType
CONTENT_TYPE = "application/json"
USER_AGENT = "kube-transcoder-operator"
EXTRA_STATUS_FIELDS = ("packaging", "thumbnails")
"""Status fields a Succeeded event carries when the status model has them and they are set."""


@dataclass(frozen=True)
class CloudEvent:
    """One event as it is POSTed, without the signature."""

    type: notify.EventType
    id: str
    time: datetime.datetime
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Delivery:
    """One POST the plan asks for: the event, where to, the Secret to sign with, and the
    event's delivery entry before this attempt (None: the first)."""

    event: CloudEvent
    url: str
    secret_ref: notify.SigningSecretRef | None
    current: notify.NotificationStatus | None


def event_id(uid: str, type_: notify.EventType) -> str:
    return f"{uid}-{type_.value.lower()}"


def ce_type(type_: notify.EventType) -> str:
    return notify.TYPE_PREFIX + type_.value.lower()


def source(namespace: str) -> str:
    return f"/apis/{constants.API_VERSION}/namespaces/{namespace}/{constants.PLURAL}"


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(when: datetime.datetime | None) -> str | None:
    return rfc3339(when) if when is not None else None


def data(job: builders.JobRef, status: job_status.TranscodeJobStatus,
         type_: notify.EventType) -> dict[str, Any]:
    """The event's `data`: the job, and what the event is about."""
    body: dict[str, Any] = {"job": {"namespace": job.namespace, "name": job.name, "uid": job.uid},
                            "startTime": _time(status.start_time)}
    meta = status.metadata
    if type_ is T.FELL_BACK and meta is not None:
        body.update({"fallbackReason": meta.fallback_reason.value if meta.fallback_reason else None,
                     "fallbackMessage": meta.fallback_message,
                     "encoderTried": meta.encoder_tried, "encoderUsed": meta.encoder_used})
    if type_ in (T.SUCCEEDED, T.FAILED):
        body.update({"phase": type_.value, "reason": status.reason, "message": status.message,
                     "attempts": status.attempts, "completionTime": _time(status.completion_time),
                     "metadata": meta.to_dict() if meta is not None else None})
    if type_ is T.SUCCEEDED:
        body["outputs"] = [o.to_dict() for o in status.outputs]
        for name in EXTRA_STATUS_FIELDS:  # the deliverables, where this status has them
            value = getattr(status, name, None)
            if isinstance(value, base.StatusModel):
                body[name] = value.to_dict()
    return {k: v for k, v in body.items() if v is not None}


def build(job: builders.JobRef, status: job_status.TranscodeJobStatus,
          type_: notify.EventType, when: datetime.datetime) -> CloudEvent:
    ident = event_id(job.uid, type_)
    body = json.dumps(data(job, status, type_), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
    headers = (("ce-specversion", "1.0"), ("ce-id", ident), ("ce-source", source(job.namespace)),
               ("ce-type", ce_type(type_)), ("ce-subject", job.name), ("ce-time", rfc3339(when)),
               ("content-type", CONTENT_TYPE), ("user-agent", USER_AGENT))
    return CloudEvent(type_, ident, when, headers, body)


def signature(key: bytes, ident: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 keyed by `key` over `<ce-id>.<body>`."""
    digest = hmac.new(key, ident.encode() + b"." + body, hashlib.sha256).hexdigest()
    return notify.SIGNATURE_PREFIX + digest


def verify(key: bytes, ident: str, body: bytes, header: str) -> bool:
    """What a receiver checks (constant-time); the tests use it too."""
    return hmac.compare_digest(signature(key, ident, body), header.strip())


def signed_headers(event: CloudEvent, key: bytes | None) -> dict[str, str]:
    headers = dict(event.headers)
    if key is not None:
        headers[notify.SIGNATURE_HEADER] = signature(key, event.id, event.body)
    return headers


def shown(url: str) -> str:
    """The sink as logs, status and Events may name it (no userinfo, query or fragment)."""
    return urls.redact(url)
