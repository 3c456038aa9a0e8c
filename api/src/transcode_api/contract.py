"""The runner↔operator contract: what one process writes and the other reads.

The two packages never import each other, so everything they must agree on is
spelled here once: the runner Pod's environment variables (set by
`transcode_operator.domain.builders`, read by the runner's settings and
probe), its container name, labels and annotations, the exit codes the
operator classifies a Pod's end by, the label a tenant puts on a Secret to
let jobs use it as S3 credentials, and the Redis keys, channel and TTLs of
progress and GPU probes (the runner writes, the operator relays). The final
result document is `transcode_api.status.RunnerResult`, and it travels one
way only: as JSON in the runner container's termination message (at most
`constants.TERMINATION_MESSAGE_MAX_BYTES`), which the operator reads from the
ended Pod; `status.runner` carries progress and phase, never the result.
"""

from __future__ import annotations

import enum

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
ENV_REDIS_URL = "TRANSCODER_REDIS_URL"
ENV_SCRATCH_DIR = "TRANSCODER_SCRATCH_DIR"
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
CREDENTIALS_LABEL = f"{LABEL_PREFIX}/credentials"
"""A Secret is used as S3 credentials only when it carries this label set to "true"."""
CREDENTIALS_LABEL_VALUE = "true"

# --- Redis (the runner and the probe DaemonSet write, the operator reads) ------
PROGRESS_KEY = "kt:progress:{namespace}:{name}"
"""The runner's latest progress JSON for one job."""
PROGRESS_CHANNEL = "kt:progress"
"""Channel on which the runner PUBLISHes a progress key's name after each write."""
PROGRESS_TTL_SECONDS = 3600
"""TTL the runner sets on a progress key: a dead runner's progress disappears."""
GPU_KEY = "kt:gpu:{node}"
"""One node's GPU probe JSON, written by `transcode-runner probe --report`."""
GPU_KEY_PATTERN = "kt:gpu:*"


def progress_key(namespace: str, name: str) -> str:
    return PROGRESS_KEY.format(namespace=namespace, name=name)


def parse_progress_key(key: str) -> tuple[str, str] | None:
    """(namespace, name) of a progress key, or None when it is not one."""
    prefix, _, rest = key.partition("kt:progress:")
    namespace, sep, name = rest.partition(":")
    if prefix or not sep or not namespace or not name:
        return None
    return namespace, name


def gpu_key(node: str) -> str:
    return GPU_KEY.format(node=node)
