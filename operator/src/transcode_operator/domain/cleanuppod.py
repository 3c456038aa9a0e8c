"""Pure builder of a job's cleanup Pod, which aborts the multipart uploads a killed runner left.

`domain.finalizing` asks for it (`actions.Plan.cleanup`) and `control.act` calls
`pod(job, spec, attempt, count, cfg)` for the manifest. It is the runner Pod of
`builders.pod` for a CPU attempt (same namespace, ServiceAccount, credentials
secretKeyRef env, security context, placement and host network: the operator itself
never holds tenant S3 credentials) with what differs: the name `<job>-cleanup`, the role
label instead of the attempt label, the command `runnerSettings.abortUploadsCommand`
(`transcode-runner abort-uploads`), small fixed resources and no GPU, a small scratch
volume, `activeDeadlineSeconds` (DEADLINE_SECONDS) and the number of open uploads it was
made for (an annotation, which the finalizer's Event names).
"""

from __future__ import annotations

import hashlib
from typing import Any

from transcode_api import contract
from transcode_api import spec as job_spec
from transcode_operator.domain import builders
from transcode_operator.domain import settings as settings_module

SUFFIX = "-cleanup"
DEADLINE_SECONDS = 120  # the kubelet stops the Pod this long after it started
RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "16Mi"},
             "limits": {"memory": "256Mi"}}
SCRATCH_LIMIT = "64Mi"


def name(job_name: str) -> str:
    """`<job>-cleanup`; a job name too long for that is cut and given a hash."""
    if len(job_name) + len(SUFFIX) <= builders.MAX_NAME:
        return job_name + SUFFIX
    keep = builders.MAX_NAME - len(SUFFIX) - 9
    return f"{job_name[:keep].rstrip('-.')}-{hashlib.sha256(job_name.encode()).hexdigest()[:8]}{SUFFIX}"


def labels(job: builders.JobRef) -> dict[str, str]:
    """The runner Pod's labels with the role instead of the attempt."""
    out = builders.labels(job, 0, gpu=False)
    out.pop(contract.ATTEMPT_LABEL)
    out["app.kubernetes.io/component"] = contract.ROLE_CLEANUP
    out[contract.ROLE_LABEL] = contract.ROLE_CLEANUP
    return out


def pod(job: builders.JobRef, spec: job_spec.TranscodeJobSpec, attempt: int, count: int,
        cfg: settings_module.Settings) -> dict[str, Any]:
    """The cleanup Pod manifest (see the module docstring); `attempt` is the job's last."""
    manifest = builders.pod(job, spec, builders.PodRequest(attempt=max(attempt, 1), gpu=False),
                            cfg)
    meta, pod_spec = manifest["metadata"], manifest["spec"]
    meta["name"] = name(job.name)
    meta["labels"] = labels(job)
    meta["annotations"] = {contract.SPEC_HASH_ANNOTATION: builders.spec_hash(spec),
                           contract.OPEN_UPLOADS_ANNOTATION: str(count)}
    (container,) = pod_spec["containers"]
    container["command"] = list(cfg.runner.abort_uploads_command)
    container.pop("args", None)
    container["env"] = [e for e in container["env"]
                        if e["name"] != contract.ENV_SCRATCH_LIMIT_BYTES]
    container["resources"] = {k: dict(v) for k, v in RESOURCES.items()}
    pod_spec["volumes"] = [{"name": builders.SCRATCH_VOLUME,
                            "emptyDir": {"sizeLimit": SCRATCH_LIMIT}}]
    pod_spec["activeDeadlineSeconds"] = DEADLINE_SECONDS
    return manifest
