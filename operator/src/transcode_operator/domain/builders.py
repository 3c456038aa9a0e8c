"""Pure builders of the runner Pod: names, labels and the whole manifest.

`reconcile` asks for a Pod (`PodRequest`) and `control.act` calls `pod(...)` to
turn the typed spec, the job's identity, the attempt and the operator settings
into a Pod manifest (a plain dict ready for the API). Nothing here reads the
clock or the cluster, so the same inputs always give the same Pod; the unit
tests check the manifest field by field. The Pod is `<job>-<attempt>`, owned
by the job (controller ownerReference), carries the frozen spec and its hash,
gets S3 credentials only as secretKeyRef env vars, a scratch emptyDir with the
configured sizeLimit (its bytes in `TRANSCODER_SCRATCH_LIMIT_BYTES`), and runs with the
restricted security profile; GPU Pods add `nvidia.com/gpu: 1`, the GPU
toleration, the driver capabilities and the RuntimeClass, while CPU Pods get
`NVIDIA_VISIBLE_DEVICES=void` and never the GPU RuntimeClass. With
`runner.host_network` the Pod uses its node's network (DNS policy
`ClusterFirstWithHostNet`). The runner's SSRF allow and deny lists travel as
`TRANSCODER_NETWORK_*` variables, the Redis login and the Pod's own uid as
`domain.redisauth.runner_env` says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from transcode_api import constants, contract
from transcode_api import spec as job_spec
from transcode_operator.domain import failurepolicy, pod_resources, redisauth
from transcode_operator.domain import settings as settings_module

SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/scratch"
RUNNER_UID = 65532  # the distroless "nonroot" user
MAX_NAME = 253
MAX_LABEL_VALUE = 63


@dataclass(frozen=True)
class JobRef:
    """Identity of a TranscodeJob (what the Pod must point back to)."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class PodRequest:
    """What `reconcile` wants created: attempt number, GPU or not, and why CPU."""

    attempt: int
    gpu: bool
    fallback_reason: str | None = None
    memory_factor: float = 1.0
    """Memory limit multiplier after OOMKilled attempts (failurepolicy.memory_factor)."""
    preemptions: int = 0
    """Kueue preemptions of this job so far (kept on a queued attempt's batch Job)."""


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def pod_name(job_name: str, attempt: int) -> str:
    """`<job>-<attempt>`; a job name too long for that is cut and given a hash."""
    suffix = f"-{attempt}"
    if len(job_name) + len(suffix) <= MAX_NAME:
        return job_name + suffix
    keep = MAX_NAME - len(suffix) - 9
    return f"{job_name[:keep].rstrip('-.')}-{_short_hash(job_name)}{suffix}"


def label_value(text: str) -> str:
    """`text` as a valid label value (at most 63 characters; long ones cut and hashed)."""
    if len(text) <= MAX_LABEL_VALUE:
        return text
    return f"{text[:MAX_LABEL_VALUE - 9].rstrip('-._')}-{_short_hash(text)}"


def spec_hash(spec: job_spec.TranscodeJobSpec) -> str:
    """Hash of the frozen spec without `suspend` (the only field that may change)."""
    frozen = spec.model_copy(update={"suspend": False}).to_json()
    return _short_hash(frozen, 16)


def selector_labels(job: JobRef) -> dict[str, str]:
    """Labels that find every runner Pod of one job."""
    return {contract.JOB_LABEL: label_value(job.name), contract.JOB_UID_LABEL: job.uid}


def labels(job: JobRef, attempt: int, gpu: bool) -> dict[str, str]:
    """All labels of a runner Pod."""
    return {
        "app.kubernetes.io/name": "kube-transcoder",
        "app.kubernetes.io/component": "runner",
        "app.kubernetes.io/instance": label_value(job.name),
        "app.kubernetes.io/managed-by": "kube-transcoder-operator",
        **selector_labels(job),
        contract.ATTEMPT_LABEL: str(attempt),
        contract.ACCELERATOR_LABEL: contract.ACCELERATOR_GPU if gpu else contract.ACCELERATOR_CPU,
    }


def owner_reference(job: JobRef) -> dict[str, Any]:
    """The controller ownerReference to the TranscodeJob (garbage collection, adoption)."""
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": job.name,
            "uid": job.uid, "controller": True, "blockOwnerDeletion": True}


def _secret_env(name: str, ref: job_spec.CredentialsSecretRef, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}}


def env(job: JobRef, spec: job_spec.TranscodeJobSpec, attempt: int, gpu: bool,
        cfg: settings_module.Settings) -> list[dict[str, Any]]:
    """The runner container's environment: frozen spec, identity, credentials by reference."""
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in
                                 sorted(cfg.runner.extra_env.items())]
    out += [
        {"name": contract.ENV_JOB_SPEC, "value": spec.to_json()},
        {"name": contract.ENV_JOB_NAME, "value": job.name},
        {"name": contract.ENV_JOB_NAMESPACE, "value": job.namespace},
        {"name": contract.ENV_JOB_UID, "value": job.uid},
        {"name": contract.ENV_ATTEMPT, "value": str(attempt)},
        {"name": contract.ENV_GPU_REQUESTED, "value": "true" if gpu else "false"},
        # its own name: with hostNetwork, HOSTNAME is the node's name, not the Pod's
        {"name": contract.ENV_POD_NAME,
         "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": contract.ENV_SCRATCH_DIR, "value": SCRATCH_PATH},
        *_scratch_limit_env(cfg),
        # The root filesystem is read-only: temporary files go to the scratch emptyDir.
        {"name": "TMPDIR", "value": SCRATCH_PATH},
    ]
    out += redisauth.runner_env(cfg.redis)  # URL without userinfo, runner login, Pod uid
    if cfg.runner.network_allow:
        out.append({"name": contract.ENV_NETWORK_ALLOW,
                    "value": json.dumps(list(cfg.runner.network_allow))})
    if cfg.runner.network_deny:
        out.append({"name": contract.ENV_NETWORK_DENY,
                    "value": json.dumps(list(cfg.runner.network_deny))})
    ref = spec.storage.credentials_secret_ref
    if ref is not None:
        out.append(_secret_env(contract.ENV_AWS_ACCESS_KEY_ID, ref, ref.access_key_id_key))
        out.append(_secret_env(contract.ENV_AWS_SECRET_ACCESS_KEY, ref,
                               ref.secret_access_key_key))
    if gpu:
        out.append({"name": contract.ENV_NVIDIA_DRIVER_CAPABILITIES,
                    "value": contract.NVIDIA_DRIVER_CAPABILITIES})
    else:  # whatever runtime the node uses, a CPU Pod sees no GPU
        out.append({"name": contract.ENV_NVIDIA_VISIBLE_DEVICES,
                    "value": contract.NVIDIA_NO_DEVICES})
    return out


def _scratch_limit_env(cfg: settings_module.Settings) -> list[dict[str, str]]:
    """The scratch sizeLimit in bytes for the runner's size check (statvfs cannot see it)."""
    limit = pod_resources.quantity(cfg.runner.scratch_size_limit or "")
    if limit is None:
        return []
    return [{"name": contract.ENV_SCRATCH_LIMIT_BYTES, "value": str(int(limit))}]


def tolerations(spec: job_spec.TranscodeJobSpec, gpu: bool) -> list[dict[str, Any]]:
    """The job's tolerations, plus `nvidia.com/gpu:NoSchedule` (Exists) for GPU Pods."""
    out = [t.model_dump(by_alias=True, exclude_none=True) for t in spec.tolerations or []]
    if gpu:
        gpu_tol = {"key": contract.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        if gpu_tol not in out:
            out.append(gpu_tol)
    return out


def security_context() -> tuple[dict[str, Any], dict[str, Any]]:
    """(Pod, container) security contexts: the restricted Pod Security profile."""
    pod_sc = {"runAsNonRoot": True, "runAsUser": RUNNER_UID, "runAsGroup": RUNNER_UID,
              "fsGroup": RUNNER_UID, "seccompProfile": {"type": "RuntimeDefault"}}
    container_sc = {"runAsNonRoot": True, "runAsUser": RUNNER_UID,
                    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]}, "privileged": False,
                    "seccompProfile": {"type": "RuntimeDefault"}}
    return pod_sc, container_sc


def runtime_class(spec: job_spec.TranscodeJobSpec, gpu: bool,
                  cfg: settings_module.Settings) -> str | None:
    """The job's RuntimeClass, else the configured GPU one for GPU Pods, else none.

    A CPU Pod never gets the GPU RuntimeClass, not even when the job names it.
    """
    if not gpu and spec.runtime_class_name == cfg.gpu.runtime_class_name:
        return None
    if spec.runtime_class_name:
        return spec.runtime_class_name
    if gpu and cfg.gpu.runtime_class_name:
        return cfg.gpu.runtime_class_name
    return None


def pod(job: JobRef, spec: job_spec.TranscodeJobSpec, request: PodRequest,
        cfg: settings_module.Settings) -> dict[str, Any]:
    """The runner Pod manifest for one attempt of a job."""
    pod_sc, container_sc = security_context()
    scratch: dict[str, Any] = {}
    if cfg.runner.scratch_size_limit:
        scratch["sizeLimit"] = cfg.runner.scratch_size_limit
    annotations = {contract.SPEC_HASH_ANNOTATION: spec_hash(spec)}
    if request.fallback_reason:
        annotations[contract.FALLBACK_ANNOTATION] = request.fallback_reason
    container: dict[str, Any] = {
        "name": contract.CONTAINER_NAME,
        "image": cfg.runner.image,
        "imagePullPolicy": cfg.runner.image_pull_policy,
        "command": list(cfg.runner.command),
        "env": env(job, spec, request.attempt, request.gpu, cfg),
        "resources": failurepolicy.scaled_resources(
            pod_resources.resources(spec, request.gpu, cfg), request.memory_factor),
        "securityContext": container_sc,
        "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": SCRATCH_PATH}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if cfg.runner.args:
        container["args"] = list(cfg.runner.args)
    spec_out: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": cfg.runner.termination_grace_period_seconds,
        "enableServiceLinks": False,
        "automountServiceAccountToken": True,
        "securityContext": pod_sc,
        "containers": [container],
        "volumes": [{"name": SCRATCH_VOLUME, "emptyDir": scratch}],
    }
    if cfg.runner.host_network:  # no pod network: the node's, with cluster DNS kept
        spec_out.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
    if cfg.runner.service_account_name:
        spec_out["serviceAccountName"] = cfg.runner.service_account_name
    if cfg.runner.image_pull_secrets:
        spec_out["imagePullSecrets"] = [{"name": n} for n in cfg.runner.image_pull_secrets]
    if spec.node_selector:
        spec_out["nodeSelector"] = dict(spec.node_selector)
    tols = tolerations(spec, request.gpu)
    if tols:
        spec_out["tolerations"] = tols
    if spec.affinity:
        spec_out["affinity"] = dict(spec.affinity)
    if spec.priority_class_name:
        spec_out["priorityClassName"] = spec.priority_class_name
    rc = runtime_class(spec, request.gpu, cfg)
    if rc:
        spec_out["runtimeClassName"] = rc
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(job.name, request.attempt),
            "namespace": job.namespace,
            "labels": labels(job, request.attempt, request.gpu),
            "annotations": annotations,
            "ownerReferences": [owner_reference(job)],
        },
        "spec": spec_out,
    }
