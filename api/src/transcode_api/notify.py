"""Job notifications: `spec.notify` (where to POST CloudEvents) and `status.notifications`.

`NotifySpec` is the `notify` part of `spec.TranscodeJobSpec`: the sink URL
(http or https, no userinfo: refused at admission by the paired rules below) and
the Secret whose key signs every event. `NotificationStatus` is one entry of
`status.notifications`, keyed by event type: whether that event was delivered,
is pending a retry or failed for good, after how many attempts, and the last
error. The operator alone writes them (`transcode_operator.domain.notifications`
decides, `control.notify` sends); the event types, the delivery states, the
CloudEvents type prefix and the signature header are spelled here once, since
receivers and the docs name them too. Pydantic models only.
"""

from __future__ import annotations

import enum
import re

import pydantic

from transcode_api import base, constants, storage
from transcode_api.conditions import Timestamp

SIGNATURE_HEADER = "X-KubeTranscoder-Signature"
"""HTTP header carrying `sha256=<hex HMAC-SHA256 of "<ce-id>.<body>">` keyed by the Secret."""
SIGNATURE_PREFIX = "sha256="
TYPE_PREFIX = "io.kubetranscoder.job."
"""CloudEvents `type` = this prefix + the lowercased event type (`io.kubetranscoder.job.started`)."""
DEFAULT_SIGNING_KEY = "signingKey"
_URL = r"^https?://[^/?#@ ]+([/?#][^ ]*)?$"
_USERINFO = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"


class EventType(enum.StrEnum):
    """The events a job notifies, in the order they happen."""

    STARTED = "Started"  # the job's first runner Pod was created
    FELL_BACK = "FellBack"  # a GPU was wanted, the CPU encoded (status.metadata.fallbackReason)
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class DeliveryState(enum.StrEnum):
    PENDING = "Pending"  # not confirmed yet: sent again at nextAttemptTime
    DELIVERED = "Delivered"  # the sink answered 2xx
    FAILED = "Failed"  # given up: a 4xx answer, the sink not allowed, or the retry window spent


class SigningSecretRef(base.SpecModel):
    """A Secret in the job's namespace whose value keys the HMAC-SHA256 signature."""

    name: str = pydantic.Field(
        max_length=253,
        pattern=storage.DNS_SUBDOMAIN,
        description=(
            "Name of the Secret. It must carry the label kubetranscoder.io/credentials=true "
            "(else no event is sent and status.notifications says why). Its value is never "
            "logged or copied."
        ),
    )
    key: str = pydantic.Field(
        default=DEFAULT_SIGNING_KEY,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key in the Secret holding the signing key (at least 16 bytes). Default: signingKey.",
    )


class NotifySpec(base.SpecModel):
    """Where the operator POSTs the job's CloudEvents (binary mode), and how it signs them."""

    url: str = pydantic.Field(
        max_length=constants.MAX_URL_LENGTH,
        description=(
            "The sink: an http:// or https:// URL without user:password@. Its host must be on "
            "the operator's notifications.sinks allowlist (else the job runs and "
            "status.notifications names the refused host)."
        ),
    )
    secret_ref: SigningSecretRef | None = pydantic.Field(
        default=None,
        description=(
            "Secret whose key signs every event (header X-KubeTranscoder-Signature: "
            "sha256=<hex HMAC-SHA256 of '<ce-id>.<body>'>). Omit to send unsigned events."
        ),
    )

    __rules__ = (
        base.Rule(
            cel=f"!self.url.matches('{_USERINFO}')",
            message="notify.url must not carry credentials (user:password@); sign with notify.secretRef",
            field="url",
            check=lambda n: re.match(_USERINFO, n.url) is None,
        ),
        base.Rule(
            cel=f"self.url.matches('{_URL}')",
            message="notify.url must be an http:// or https:// URL with a host",
            field="url",
            check=lambda n: re.match(_URL, n.url) is not None,
        ),
    )


class NotificationStatus(base.StatusModel):
    """The delivery of one event type (an entry of `status.notifications`)."""

    type: EventType = pydantic.Field(description="Started, FellBack, Succeeded or Failed.")
    id: str = pydantic.Field(
        max_length=128,
        description="The CloudEvents id (stable: the job uid and the type), the same on every retry.",
    )
    state: DeliveryState = pydantic.Field(description="Pending, Delivered or Failed.")
    attempts: int = pydantic.Field(default=0, ge=0, description="POSTs made so far.")
    time: Timestamp | None = pydantic.Field(
        default=None, description="The event's time (its ce-time header), the same on every retry."
    )
    first_attempt_time: Timestamp | None = pydantic.Field(
        default=None, description="When the first POST was made (the retry window counts from it)."
    )
    last_attempt_time: Timestamp | None = pydantic.Field(default=None, description="When the last POST was made.")
    next_attempt_time: Timestamp | None = pydantic.Field(
        default=None, description="When a Pending event is sent again."
    )
    last_error: str | None = pydantic.Field(
        default=None, max_length=1024,
        description="Why the last POST was not delivered (no URL query, no response body, no secret).",
    )
