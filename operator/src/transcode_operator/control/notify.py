"""POST a plan's due CloudEvents and write their delivery state into the job's status.

`control.act` calls `deliver(deps, obs, plan, written)` right after the plan's own
status patch (`written`: the status as it stands now), so an event never
announces a fact the API server does not hold yet. For each `cloudevents.Delivery`
it reads the job's signing Secret, if `spec.notify.secretRef` names one, under the
opt-in label rule of `domain.credentials`: a missing or unlabelled Secret, or one
without the key (or with a key shorter than 16 bytes), fails that event at once
with the CredentialsNotAllowed message, and nothing is ever sent unsigned; the
key's value stays in this function. Then it POSTs through `adapters.notifier`,
asks `domain.notifications.record` for the event's new entry, counts the attempt
(`transcoder_notifications_total{type,outcome}`) and logs it with the sink
redacted. One merge patch writes every new entry; an entry that became Failed
also posts one Warning Event `NotificationFailed`. Should the patch or the
process fail after a POST, the entry stays as it was and the next turn (or the
next operator) sends the same event again, with the same id.
"""

from __future__ import annotations

import base64
import binascii
import logging

from transcode_api import notify
from transcode_api import status as job_status
from transcode_operator.control import deps as deps_module
from transcode_operator.domain import (
    actions,
    cloudevents,
    conditions,
    credentials,
    errors,
    notifications,
    observation,
)

logger = logging.getLogger(__name__)
D = notify.DeliveryState
OUTCOMES = {D.DELIVERED: "delivered", D.PENDING: "retrying", D.FAILED: "failed"}


async def signing_key(d: deps_module.Deps, namespace: str,
                      ref: notify.SigningSecretRef) -> bytes | None:
    """The signing key of `ref`, or None when the Secret may not be used (see the docstring)."""
    try:
        raw = await d.api.get_secret(namespace, ref.name)
    except errors.Forbidden:
        logger.warning("No RBAC to read Secrets; notifications naming a secretRef fail")
        return None
    if raw is None or not credentials.signing_allowed(credentials.view(raw), ref):
        return None
    value = (raw.get("data") or {}).get(ref.key)
    try:
        key = base64.b64decode(str(value or ""), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) >= credentials.MIN_SIGNING_KEY_BYTES else None


async def deliver(d: deps_module.Deps, obs: observation.Observed, plan: actions.Plan,
                  written: job_status.TranscodeJobStatus) -> None:
    if not plan.notify or d.notifier is None:
        return
    job = obs.job
    status = written
    keys: dict[str, bytes | None] = {}
    for delivery in plan.notify:
        ref = delivery.secret_ref
        key = None
        if ref is not None:
            if ref.name not in keys:
                keys[ref.name] = await signing_key(d, job.namespace, ref)
            key = keys[ref.name]
        if ref is not None and key is None:
            outcome = notifications.Outcome(False, credentials.signing_message(ref), permanent=True)
        else:
            outcome = await d.notifier.send(delivery.url, cloudevents.signed_headers(
                delivery.event, key), delivery.event.body)
        entry = notifications.record(delivery, outcome, d.now(), d.cfg.notifications)
        d.metrics.notifications.labels(type=entry.type.value, outcome=OUTCOMES[entry.state]).inc()
        logger.info("Notification %s of %s/%s to %s: %s after %d attempt(s)%s", entry.type.value,
                    job.namespace, job.name, cloudevents.shown(delivery.url), entry.state.value,
                    entry.attempts, f" ({entry.last_error})" if entry.last_error else "")
        status = notifications.with_entry(status, entry)
        failed = notifications.failed_event(delivery, entry)
        if failed is not None:
            plan.events.append(failed)
    # The next POST of what is still Pending: our own status write wakes no one.
    plan.wake_in(notifications.next_wake(status, d.now()))
    patch = conditions.merge_patch(written, status)
    if not patch:
        return
    try:
        d.informer.wrote_job(await d.api.patch_job_status(job.namespace, job.name, patch))
    except errors.NotFound:
        return
    await d.invalidate(job.namespace, job.name)
