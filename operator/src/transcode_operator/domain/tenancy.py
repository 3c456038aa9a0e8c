"""The tenant policy of one job: may it use this endpoint, these credentials, this placement?

Every value a tenant writes is hostile, so before any Secret read or Pod create
`control.observe` asks `problem(namespace, spec, settings)` for every job that is
not finished, and `domain.reconcile` fails a refused job at once (no Pod). The
checks, in order: `spec.storage.endpoint` must be AWS S3 or a host the operator's
`storagePolicy.endpoints` allows (`EndpointNotAllowed`, naming the host and the
redacted URL, never its userinfo or query); a job without
`storage.credentialsSecretRef` runs with the runner ServiceAccount's ambient
identity, allowed only in the namespaces `storagePolicy.ambientCredentialsNamespaces`
lists (`CredentialsRequired`); then `domain.placement_policy` for tolerations,
PriorityClass, node labels and affinity (`PlacementNotAllowed`). Pure.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable

from transcode_api import constants, contract, urls
from transcode_api import spec as job_spec
from transcode_operator.domain import events as ev
from transcode_operator.domain import placement_policy
from transcode_operator.domain import settings as settings_module

Refusal = tuple[ev.Reason, str]
"""The Event/condition reason and the message naming what is not allowed."""


def _same_host(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(entry)
    except ValueError:
        return host == entry


def host_allowed(host: str | None, policy: settings_module.StoragePolicySettings) -> bool:
    """Whether an endpoint host (None: no endpoint, AWS S3) passes the allowlist."""
    if host is not None and not host:
        return False
    if policy.allow_aws_s3 and urls.is_aws_s3_host(host):
        return True
    return host is not None and host_listed(host, policy.endpoints)


def host_listed(host: str, entries: Iterable[str]) -> bool:
    """Whether `host` (lowercase, no brackets) matches an allowlist entry: an exact host
    or IP (`::1` and `[::1]` alike) or a suffix with a leading dot (`.example.com`
    matches `a.example.com`, not `example.com`). The notification sinks match the same way."""
    if not host:
        return False
    for raw in entries:
        entry = raw.strip().strip("[]").rstrip(".").lower()
        if entry.startswith(".") and len(entry) > 1 and host.endswith(entry):
            return True
        if entry and _same_host(host, entry):
            return True
    return False


def endpoint_problem(spec: job_spec.TranscodeJobSpec,
                     policy: settings_module.StoragePolicySettings) -> str | None:
    """The message refusing the job's endpoint, or None when it is allowed."""
    endpoint = spec.storage.endpoint
    host = urls.endpoint_host(endpoint)
    if host_allowed(host, policy):
        return None
    if endpoint is None:
        return ("spec.storage.endpoint is required: this operator does not allow AWS S3; "
                "name an endpoint the operator's storagePolicy.endpoints allows")
    return (f"spec.storage.endpoint {urls.redact(endpoint)} is not allowed: host "
            f"{host or '(none)'} is not AWS S3 nor in the operator's storagePolicy.endpoints; "
            "ask the operator's administrator to allow it")


def ambient_allowed(namespace: str, policy: settings_module.StoragePolicySettings) -> bool:
    """Whether jobs in `namespace` may use the runner's ambient credentials."""
    return any(fnmatch.fnmatchcase(namespace, pattern)
               for pattern in policy.ambient_credentials_namespaces)


def credentials_problem(namespace: str, spec: job_spec.TranscodeJobSpec,
                        policy: settings_module.StoragePolicySettings) -> str | None:
    """The message refusing a job without a credentials Secret, or None when it may run."""
    if spec.storage.credentials_secret_ref is not None or ambient_allowed(namespace, policy):
        return None
    return (f"spec.storage.credentialsSecretRef is required in namespace {namespace}: the "
            "operator does not let jobs here use the runner's ambient credentials; name a "
            f"Secret labelled {contract.CREDENTIALS_LABEL}={contract.CREDENTIALS_LABEL_VALUE} "
            f"that holds {constants.DEFAULT_ACCESS_KEY_ID_KEY} and {constants.DEFAULT_SECRET_ACCESS_KEY_KEY}")


def problem(namespace: str, spec: job_spec.TranscodeJobSpec,
            cfg: settings_module.Settings) -> Refusal | None:
    """The first rule the job breaks, as (reason, message); None when it may run."""
    message = endpoint_problem(spec, cfg.storage_policy)
    if message is not None:
        return ev.Reason.ENDPOINT_NOT_ALLOWED, message
    message = credentials_problem(namespace, spec, cfg.storage_policy)
    if message is not None:
        return ev.Reason.CREDENTIALS_REQUIRED, message
    message = placement_policy.problem(namespace, spec, cfg.placement_policy)
    if message is not None:
        return ev.Reason.PLACEMENT_NOT_ALLOWED, message
    return None
