"""The runner↔operator contract: what one process writes and the other reads.

The two packages never import each other, so everything they must agree on is
spelled here once: the runner Pod's environment variables (set by
`transcode_operator.domain.builders`, read by the runner's settings and
probe), its container name, labels and annotations, the exit codes the
operator classifies a Pod's end by, the label a tenant puts on a Secret to
let jobs use it as S3 credentials, and the Redis keys, channel and TTLs of
progress and GPU probes (the runner writes, the operator relays). A progress
key names the runner Pod's uid (`progress_key` builds it, `parse_progress_key`
reads it back), so the operator accepts progress only from the live Pod of a
job's current attempt; who may write which key is `transcode_api.redisacl`. The final
result document is `transcode_api.status.RunnerResult`, and it travels one
way only: as JSON in the runner container's termination message (at most
`constants.TERMINATION_MESSAGE_MAX_BYTES`), which the operator reads from the
ended Pod; `status.runner` carries progress and phase, never the result.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from transcode_api import constants


class ExitCode(enum.IntEnum):
    """Runner process exit codes (a public contract, borrowed from sysexits.h).

    The operator classifies a failed runner Pod by this code: BAD_INPUT fails
    the job at once, TRANSIENT retries with backoff, INTERNAL retries too but is
    reported as a bug.
    """

    SUCCESS = 0
    BAD_INPUT = 65  # EX_DATAERR: the source or spec cannot be transcoded; no retry.
    INTERNAL = 70  # EX_SOFTWARE: a bug in the runner.
    TRANSIENT = 75  # EX_TEMPFAIL: network, S3, throttling; retry with backoff.


# --- runner Pod environment (set by the operator, read by the runner) --------
ENV_JOB_SPEC = "TRANSCODER_JOB_SPEC"  # JSON of the frozen spec, camelCase aliases.
ENV_JOB_NAME = "TRANSCODER_JOB_NAME"
ENV_JOB_NAMESPACE = "TRANSCODER_JOB_NAMESPACE"
ENV_JOB_UID = "TRANSCODER_JOB_UID"
ENV_ATTEMPT = "TRANSCODER_ATTEMPT"
ENV_GPU_REQUESTED = "TRANSCODER_GPU_REQUESTED"  # "true" or "false"
ENV_REDIS_URL = "TRANSCODER_REDIS_URL"  # never with userinfo: the credentials travel apart
ENV_REDIS_USERNAME = "TRANSCODER_REDIS_USERNAME"  # the ACL user (runner, probe)
ENV_REDIS_PASSWORD = "TRANSCODER_REDIS_PASSWORD"  # that user's password
ENV_POD_UID = "TRANSCODER_POD_UID"  # the runner Pod's own metadata.uid (downward API)
ENV_POD_NAME = "TRANSCODER_POD_NAME"  # its metadata.name (downward API): a host-network Pod's host name is the node's
ENV_SCRATCH_DIR = "TRANSCODER_SCRATCH_DIR"
ENV_SCRATCH_LIMIT_BYTES = "TRANSCODER_SCRATCH_LIMIT_BYTES"  # the scratch emptyDir's sizeLimit
ENV_AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"  # from a secretKeyRef, never a literal
ENV_AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"  # from a secretKeyRef, never a literal
ENV_NETWORK_ALLOW = "TRANSCODER_NETWORK_ALLOW"  # JSON list of hosts/CIDRs the SSRF guard lets through
ENV_NETWORK_DENY = "TRANSCODER_NETWORK_DENY"  # JSON list of extra CIDRs refused (the service CIDR)
ENV_NVIDIA_DRIVER_CAPABILITIES = "NVIDIA_DRIVER_CAPABILITIES"
ENV_NVIDIA_VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
NVIDIA_NO_DEVICES = "void"  # CPU Pods: the NVIDIA runtime exposes no GPU at all
NVIDIA_DRIVER_CAPABILITIES = "compute,utility,video"
GPU_RESOURCE = "nvidia.com/gpu"

# --- the runner Pod's identity -------------------------------------------------
CONTAINER_NAME = "runner"
LABEL_PREFIX = constants.GROUP
JOB_LABEL = f"{LABEL_PREFIX}/job"
JOB_UID_LABEL = f"{LABEL_PREFIX}/job-uid"
ATTEMPT_LABEL = f"{LABEL_PREFIX}/attempt"
ACCELERATOR_LABEL = f"{LABEL_PREFIX}/accelerator"
ACCELERATOR_GPU = "gpu"
ACCELERATOR_CPU = "cpu"
SPEC_HASH_ANNOTATION = f"{LABEL_PREFIX}/spec-hash"
FALLBACK_ANNOTATION = f"{LABEL_PREFIX}/fallback-reason"
ROLE_LABEL = f"{LABEL_PREFIX}/role"
"""Set on a job's cleanup Pod (value ROLE_CLEANUP); runner Pods of attempts carry none."""
ROLE_CLEANUP = "cleanup"
OPEN_UPLOADS_ANNOTATION = f"{LABEL_PREFIX}/open-uploads"
"""On the cleanup Pod: how many open multipart uploads the ledger held when it was made."""
ABORT_UPLOADS_COMMAND = "abort-uploads"
"""The runner subcommand the cleanup Pod runs: abort the uploads in `status.runner.openUploads`."""
CREDENTIALS_LABEL = f"{LABEL_PREFIX}/credentials"
"""A Secret is used as S3 credentials only when it carries this label set to "true"."""
CREDENTIALS_LABEL_VALUE = "true"

# --- Redis (the runner and the probe DaemonSet write, the operator reads) ------
PROGRESS_PREFIX = "kt:progress:"
PROGRESS_KEY = PROGRESS_PREFIX + "{namespace}:{name}:{pod_uid}"
"""The runner's latest progress JSON for one attempt: the job and the runner Pod's uid."""
PROGRESS_KEY_PATTERN = PROGRESS_PREFIX + "*"
"""Every progress key (the runner ACL user may write only these)."""
PROGRESS_CHANNEL = "kt:progress"
"""Channel on which the runner PUBLISHes a progress key's name after each write."""
PROGRESS_TTL_SECONDS = 3600
"""TTL the runner sets on a progress key: a dead runner's progress disappears."""
GPU_KEY = "kt:gpu:{node}"
"""One node's GPU probe JSON, written by `transcode-runner probe --report`."""
GPU_KEY_PATTERN = "kt:gpu:*"
KEY_PATTERN = "kt:*"
"""Every key and channel of kube-transcoder (the operator ACL user's reach)."""

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_UID = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]{0,127}")


class ProgressKey(NamedTuple):
    """What a progress key names: the job (namespace, name) and the runner Pod's uid."""

    namespace: str
    name: str
    pod_uid: str


def progress_key(namespace: str, name: str, pod_uid: str) -> str:
    """The progress key of the attempt that runs in Pod `pod_uid` of job namespace/name."""
    key = PROGRESS_KEY.format(namespace=namespace, name=name, pod_uid=pod_uid)
    if parse_progress_key(key) is None:
        raise ValueError(f"not a valid progress key: namespace {namespace!r}, name {name!r}, "
                         f"Pod uid {pod_uid!r}")
    return key


def parse_progress_key(key: str) -> ProgressKey | None:
    """The parts of a progress key, or None when `key` is not a well-formed one.

    Keys come from a channel anyone with the runner password can publish on, so
    each part must be what Kubernetes allows there (a namespace is a DNS label,
    a name a DNS subdomain, a uid letters, digits and dashes); anything else,
    including the older key without a uid, is None.
    """
    if not key.startswith(PROGRESS_PREFIX):
        return None
    parts = key[len(PROGRESS_PREFIX):].split(":")
    if len(parts) != 3:
        return None
    namespace, name, pod_uid = parts
    if not (_NAMESPACE.fullmatch(namespace) and _NAME.fullmatch(name)
            and _UID.fullmatch(pod_uid)):
        return None
    return ProgressKey(namespace, name, pod_uid)


def gpu_key(node: str) -> str:
    return GPU_KEY.format(node=node)
