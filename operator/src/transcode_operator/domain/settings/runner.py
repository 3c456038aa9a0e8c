"""Settings of the runner Pods the operator creates: image, resources, network guard, GPU."""

from __future__ import annotations

from typing import Literal

import pydantic

from transcode_api import contract, placement
from transcode_operator.domain.settings.base import Group


class RunnerSettings(Group):
    """The runner Pod the operator creates for every attempt."""

    image: str = "ghcr.io/kube-transcoder/runner:0.1.0"
    """Container image of the runner (Dockerfile.runner). Default: the release's image."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """imagePullPolicy of the runner container. Default: IfNotPresent."""
    image_pull_secrets: list[str] = pydantic.Field(default_factory=list)
    """Names of Secrets (in each job's namespace) used to pull the image. Default: none."""
    command: list[str] = pydantic.Field(default_factory=lambda: ["transcode-runner", "run"])
    """Container command. Default: `transcode-runner run`. Tests replace it with a fake
    runner that only writes a termination message."""
    args: list[str] = pydantic.Field(default_factory=list)
    """Container args after the command. Default: none."""
    abort_uploads_command: list[str] = pydantic.Field(
        default_factory=lambda: ["transcode-runner", contract.ABORT_UPLOADS_COMMAND],
        min_length=1)
    """Command of a deleted job's cleanup Pod (the runner image), which aborts the
    multipart uploads a killed runner left open (`status.runner.openUploads`).
    Default: `transcode-runner abort-uploads`."""
    service_account_name: str = ""
    """ServiceAccount of runner Pods, which needs `get` on transcodejobs and `patch` on
    transcodejobs/status in the job's namespace (deploy/rbac/runner-clusterrole.yaml).
    Default "": the namespace's `default` ServiceAccount."""
    termination_grace_period_seconds: int = pydantic.Field(default=30, ge=0, le=3600)
    """Seconds between SIGTERM and SIGKILL when a runner Pod is stopped (suspend, delete,
    deadline, fallback). The runner aborts its unfinished multipart uploads in this
    time. Default: 30."""
    scratch_size_limit: str | None = "20Gi"
    """sizeLimit of the `scratch` emptyDir at /scratch (a Kubernetes quantity), which
    holds the source and every output until the uploads: the kubelet evicts a Pod above
    it (the job fails `SourceTooLarge`), and the runner, told the limit, refuses a
    source that with its outputs would not fit before downloading it (also
    `SourceTooLarge`). None: no limit (the node's disk). Default: 20Gi."""
    scratch_storage_request: str | None = "2Gi"
    """`ephemeral-storage` request of the runner container when the job's
    spec.resources names none: the scheduler places the Pod only where this much local
    storage is unreserved. Below the sizeLimit so that a node holds several runners;
    set it to the sizeLimit for a guarantee. None: no request. Default: 2Gi."""
    resources: dict[str, dict[str, str]] = pydantic.Field(
        default_factory=lambda: {"requests": {"cpu": "1", "memory": "1Gi"},
                                 "limits": {"memory": "8Gi"}})
    """Container resources when a job sets no `spec.resources`. Default: requests cpu 1,
    memory 1Gi; limits memory 8Gi. `nvidia.com/gpu` is added for GPU Pods."""
    extra_env: dict[str, str] = pydantic.Field(default_factory=dict)
    """Literal environment variables added to every runner container (proxies, log
    level). Never put secrets here: they would be visible in the Pod spec. Default: none."""
    network_allow: list[str] = pydantic.Field(default_factory=list)
    """Hosts, IPs or CIDRs the runner's SSRF guard lets a source, redirect or
    `storage.endpoint` reach although they are loopback, link-local, private or
    otherwise non-public (in-cluster origins, a MinIO Service). Passed to the runner as
    `TRANSCODER_NETWORK_ALLOW`. Default: none (public addresses only)."""
    host_network: bool = False
    """Run runner Pods in their node's network namespace (`hostNetwork: true`, with
    `dnsPolicy: ClusterFirstWithHostNet` so cluster DNS names still resolve). For
    clusters without a pod network and for bare-metal GPU nodes whose storage is only
    reachable from the host; the runner then shares the node's ports and addresses, so
    the SSRF guard (`network_allow`/`network_deny`) matters even more. Default: false."""
    network_deny: list[str] = pydantic.Field(default_factory=list)
    """Extra CIDRs the runner refuses like private ranges: list the cluster's Service
    and Pod CIDRs when they are not private address space. Passed as
    `TRANSCODER_NETWORK_DENY`. Default: none."""


    @pydantic.field_validator("scratch_size_limit", "scratch_storage_request")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None and not placement.QUANTITY_RE.match(str(value).strip()):
            raise ValueError(f"{value!r} is not a Kubernetes quantity (such as 20Gi)")
        return value


class GpuSettings(Group):
    """How GPU Pods are requested."""

    runtime_class_name: str = "nvidia"
    """RuntimeClass of GPU Pods when the job names none (the NVIDIA container runtime's
    usual name). Empty: no runtimeClassName (for nodes whose default runtime already
    injects GPUs). Default: nvidia."""
