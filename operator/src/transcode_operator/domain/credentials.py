"""May a job use the Secret it names as S3 credentials? One answer, one message.

A tenant who may create TranscodeJobs in a namespace must not be able to make
the operator mount any Secret there, nor learn which Secrets exist or what keys
they hold. So a Secret is usable only when it exists, carries the opt-in label
`contract.CREDENTIALS_LABEL` set to "true" and holds both keys the job names;
every other case (missing, unlabelled, labelled "false", a key missing, or the
operator not allowed to read it) fails the job with the one reason `REASON`
and the one `message`, which names only the Secret and the rule.

`control.observe` reads the Secret and keeps only its labels and key names
(`view`); values never enter a `SecretView`, so they cannot reach a message.
`domain.reconcile` uses the same reason and message when the kubelet reports a
Secret problem of a runner Pod (the Secret vanished after the check). The same
opt-in label makes a Secret usable as the signing key of `spec.notify`
(`signing_allowed`, `signing_message`); `control.notify` alone reads that value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from transcode_api import contract, notify
from transcode_api import spec as job_spec

REASON = "CredentialsNotAllowed"


@dataclass(frozen=True)
class SecretView:
    """What the check may know of a Secret: its labels and key names, never values."""

    labels: Mapping[str, str]
    keys: frozenset[str]


def view(raw: Mapping[str, object] | None) -> SecretView | None:
    """The labels and key names of a Secret as read (None: not found)."""
    if raw is None:
        return None
    metadata = raw.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    keys: set[str] = set()
    for field in ("data", "stringData"):
        data = raw.get(field)
        if isinstance(data, Mapping):
            keys.update(str(k) for k in data)
    clean = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
    return SecretView(labels=clean, keys=frozenset(keys))


def message(ref: job_spec.CredentialsSecretRef) -> str:
    """The one message for every refusal: names the Secret and the rule, nothing found."""
    return (f'Secret "{ref.name}" cannot be used as S3 credentials: it must exist in this '
            f"namespace, carry the label {contract.CREDENTIALS_LABEL}="
            f"{contract.CREDENTIALS_LABEL_VALUE} and hold the keys {ref.access_key_id_key} "
            f"and {ref.secret_access_key_key}")


def opted_in(secret: SecretView | None, *keys: str) -> bool:
    """True only for an existing Secret with the opt-in label that holds every key."""
    return (secret is not None
            and secret.labels.get(contract.CREDENTIALS_LABEL) == contract.CREDENTIALS_LABEL_VALUE
            and all(key in secret.keys for key in keys))


def allowed(secret: SecretView | None, ref: job_spec.CredentialsSecretRef) -> bool:
    """True only for an existing, labelled Secret that holds both keys."""
    return opted_in(secret, ref.access_key_id_key, ref.secret_access_key_key)


def problem(secret: SecretView | None,
            ref: job_spec.CredentialsSecretRef) -> tuple[str, str] | None:
    """(REASON, message) when the job may not use the Secret; None when it may."""
    return None if allowed(secret, ref) else (REASON, message(ref))


def kubelet_message(ref: job_spec.CredentialsSecretRef | None,
                    config_error: str | None) -> str | None:
    """The one message in place of the kubelet's words about the credentials Secret.

    The kubelet tells a missing Secret from a missing key (CreateContainerConfigError);
    the job never does. None: no credentials Secret, or the error is about something else.
    """
    if ref is None or "secret" not in (config_error or "").lower():
        return None
    return message(ref)


MIN_SIGNING_KEY_BYTES = 16


def signing_message(ref: notify.SigningSecretRef) -> str:
    """The one message refusing a notification signing Secret (names the rule only)."""
    return (f'{REASON}: Secret "{ref.name}" cannot be used to sign notifications: it must exist '
            f"in this namespace, carry the label {contract.CREDENTIALS_LABEL}="
            f"{contract.CREDENTIALS_LABEL_VALUE} and hold the key {ref.key} "
            f"(at least {MIN_SIGNING_KEY_BYTES} bytes); no event is sent unsigned")


def signing_allowed(secret: SecretView | None, ref: notify.SigningSecretRef) -> bool:
    """True only for an existing, labelled Secret that holds the signing key."""
    return opted_in(secret, ref.key)
