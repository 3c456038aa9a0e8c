"""Operator settings: a YAML file first, then `TRANSCODER_*` environment overrides.

`__main__` calls `load()` once at startup and hands the `Settings` object to
`app.context` (through kopf's memo), which passes it down to the Pod builders, the retry
and fallback decisions, the work queue and its workers and the Redis helpers. The YAML file is
named by `TRANSCODER_CONFIG` (the Helm chart mounts it from a ConfigMap);
keys are camelCase as in a Helm values file (snake_case works too).
Environment variables override it, in the seed's style: `TRANSCODER_ENABLEGPU`,
`TRANSCODER_MAXCONCURRENT`, and `TRANSCODER_<GROUP>__<FIELD>` for grouped
fields (`TRANSCODER_RUNNER__IMAGE`, `TRANSCODER_RETRY__BACKOFFBASESECONDS`);
lists and maps are JSON (`TRANSCODER_RUNNER__COMMAND='["python3","-c","..."]'`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import alias_generators
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

CONFIG_ENV = "TRANSCODER_CONFIG"
"""Environment variable naming the YAML settings file (optional)."""


class _Group(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=alias_generators.to_camel, populate_by_name=True, extra="forbid",
        frozen=True,
    )


class RunnerSettings(_Group):
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
    service_account_name: str = ""
    """ServiceAccount of runner Pods, which needs `get` on transcodejobs and `patch` on
    transcodejobs/status in the job's namespace (deploy/rbac/runner-clusterrole.yaml).
    Default "": the namespace's `default` ServiceAccount."""
    termination_grace_period_seconds: int = pydantic.Field(default=30, ge=0, le=3600)
    """Seconds between SIGTERM and SIGKILL when a runner Pod is stopped (suspend, delete,
    deadline, fallback). The runner aborts its unfinished multipart uploads in this
    time. Default: 30."""
    scratch_size_limit: str | None = None
    """sizeLimit of the `scratch` emptyDir at /scratch (a Kubernetes quantity such as
    50Gi). Default: none (node ephemeral storage)."""
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
    network_deny: list[str] = pydantic.Field(default_factory=list)
    """Extra CIDRs the runner refuses like private ranges: list the cluster's Service
    and Pod CIDRs when they are not private address space. Passed as
    `TRANSCODER_NETWORK_DENY`. Default: none."""


class GpuSettings(_Group):
    """How GPU Pods are requested."""

    runtime_class_name: str = "nvidia"
    """RuntimeClass of GPU Pods when the job names none (the NVIDIA container runtime's
    usual name). Empty: no runtimeClassName (for nodes whose default runtime already
    injects GPUs). Default: nvidia."""


class RetrySettings(_Group):
    """Backoff after transient runner failures (exit 75, 70, other codes)."""

    backoff_base_seconds: float = pydantic.Field(default=10.0, gt=0)
    """Delay before the first retry; doubled for each further failure. Default: 10."""
    backoff_cap_seconds: float = pydantic.Field(default=360.0, gt=0)
    """Longest delay between retries. Default: 360 (6 minutes)."""
    error_backoff_base_seconds: float = pydantic.Field(default=0.5, gt=0)
    """When a reconcile turn of a job fails (API or Redis error), its key is worked on
    again after this delay, doubled per consecutive failure of that key. Default: 0.5."""
    error_backoff_cap_seconds: float = pydantic.Field(default=60.0, gt=0)
    """Longest delay before a failing key's next turn. Default: 60."""


class StatusSettings(_Group):
    """How often the operator writes the job status while a runner works."""

    progress_interval_seconds: float = pydantic.Field(default=5.0, ge=0)
    """At most one progress or phase-only status patch per job in this many seconds.
    Default: 5."""
    config_error_grace_seconds: float = pydantic.Field(default=15.0, ge=0)
    """How long a runner Pod may wait in CreateContainerConfigError (missing Secret or
    key) before the job is Failed (`CredentialsNotAllowed` for its Secret). Default: 15."""
    check_credentials_secret: bool = True
    """Read `spec.storage.credentialsSecretRef` before creating a Pod and fail the job
    at once (`CredentialsNotAllowed`) unless the Secret exists, carries the label
    kubetranscoder.io/credentials=true and holds both keys (needs `get` on secrets).
    false: no check at all, so any Secret in a job's namespace can be used. Default: true."""


class RedisSettings(_Group):
    """Redis: progress relay, caches, rate limits and output locks (all optional)."""

    url: str | None = None
    """redis:// URL. Unset: no relay (progress comes from status.runner), no caches,
    limits and locks follow their failOpen. Default: unset."""
    socket_timeout_seconds: float = pydantic.Field(default=2.0, gt=0)
    """Timeout of one Redis command. Default: 2."""


class LimitSettings(_Group):
    """Per-namespace job-start rate limit and running-job cap (in Redis)."""

    starts_per_minute: int = pydantic.Field(default=0, ge=0)
    """Job starts allowed per namespace in any 60 s window; 0 = unlimited. Default: 0."""
    fail_open: bool = True
    """Without Redis: true lets jobs start, false keeps them Pending (RateLimited)."""
    namespaces: dict[str, dict[str, int]] = pydantic.Field(default_factory=dict)
    """Per-namespace overrides: {namespace: {startsPerMinute: N, maxRunning: M}}."""


class LockSettings(_Group):
    """Output-destination locks: one job at a time writes an object."""

    enabled: bool = True
    """Take a lock on every output destination before the first Pod. Default: true."""
    ttl_seconds: float = pydantic.Field(default=120.0, gt=0)
    """Lock expiry, renewed every ttl/3 while the operator runs. Default: 120."""
    fail_open: bool = True
    """Without Redis: true starts jobs unlocked, false keeps them Pending (OutputLocked)."""


class HttpSettings(_Group):
    """The read-only HTTP API (GPU status, job status, /metrics, /healthz)."""

    enabled: bool = True
    """Serve the API. Default: true."""
    host: str = "0.0.0.0"
    """Listen address. Default: 0.0.0.0."""
    port: int = pydantic.Field(default=8080, ge=0, le=65535)
    """Listen port (0 picks a free one). Default: 8080."""


class KopfSettings(_Group):
    """kopf's own behaviour, chosen on purpose (see app.handlers.configure)."""

    liveness_endpoint: str | None = "http://0.0.0.0:8081/healthz"
    """kopf's liveness probe URL (the Deployment's livenessProbe). Empty: off."""
    request_timeout_seconds: float = pydantic.Field(default=30.0, gt=0)
    """Timeout of one Kubernetes API request (kopf's and ours). Default: 30."""
    connect_timeout_seconds: float = pydantic.Field(default=10.0, gt=0)
    """TCP/TLS connect timeout to the API server. Default: 10."""
    watch_server_timeout_seconds: int = pydantic.Field(default=300, gt=0)
    """Server-side watch timeout: the API server ends each watch after this. Default: 300."""
    watch_inactivity_timeout_seconds: float = pydantic.Field(default=600.0, gt=0)
    """A watch that brings nothing (not even a bookmark) for this long is restarted,
    which recovers from silently dropped connections. Default: 600."""
    posting_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level of kopf.event() calls posted as Kubernetes Events. Default: INFO."""
    namespaces: list[str] = pydantic.Field(default_factory=list)
    """Namespaces to serve (globs allowed); empty: all namespaces. Default: all."""
    api_workers: int = pydantic.Field(default=32, ge=1, le=256)
    """Threads (and pooled connections) of the operator's own API client: as many as
    `workers`, so that no turn waits for a thread. Default: 32."""


class Settings(BaseSettings):
    """Everything the operator can be told; every field has a safe default."""

    model_config = SettingsConfigDict(
        env_prefix="TRANSCODER_", env_nested_delimiter="__", case_sensitive=False,
        extra="ignore", frozen=True, populate_by_name=True,
    )

    enable_gpu: bool = pydantic.Field(
        default=True,
        validation_alias=pydantic.AliasChoices("TRANSCODER_ENABLEGPU", "TRANSCODER_ENABLE_GPU"),
    )
    """The seed's `enableGPU`: false never asks for `nvidia.com/gpu` (every job runs on
    the CPU, fallbackReason CPURequested is left to the runner). Default: true."""
    max_concurrent: int = pydantic.Field(
        default=0, ge=0,
        validation_alias=pydantic.AliasChoices("TRANSCODER_MAXCONCURRENT",
                                               "TRANSCODER_MAX_CONCURRENT"),
    )
    """The seed's `maxConcurrent`: running jobs allowed per namespace (Redis cap);
    0 = unlimited. Default: 0."""
    workers: int = pydantic.Field(default=32, ge=1, le=256)
    """Workers serving the one work queue of job keys: at most this many jobs are
    reconciled at once, and a job is never worked on by two at a time. Idle jobs cost
    no worker, task or coroutine. A turn waits on the API server most of the time, so
    this many turns overlap (bench/operator_scale.py: 8 workers created Pods half as fast
    as 32). Default: 32."""
    shutdown_timeout_seconds: float = pydantic.Field(default=10.0, gt=0)
    """On SIGTERM the workers finish the keys already queued for at most this long;
    what is left is picked up by the next operator (nothing is lost). Default: 10."""
    runner: RunnerSettings = pydantic.Field(default_factory=RunnerSettings)
    gpu: GpuSettings = pydantic.Field(default_factory=GpuSettings)
    retry: RetrySettings = pydantic.Field(default_factory=RetrySettings)
    status: StatusSettings = pydantic.Field(default_factory=StatusSettings)
    redis: RedisSettings = pydantic.Field(default_factory=RedisSettings)
    limits: LimitSettings = pydantic.Field(default_factory=LimitSettings)
    locks: LockSettings = pydantic.Field(default_factory=LockSettings)
    http: HttpSettings = pydantic.Field(default_factory=HttpSettings)
    kopf: KopfSettings = pydantic.Field(default_factory=KopfSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: explicit arguments, then the environment, then the YAML file.
        return init_settings, env_settings, _YamlSource(settings_cls)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the file named by TRANSCODER_CONFIG (missing variable: nothing)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            return {}
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the settings file must hold a mapping")
        # Top-level keys are camelCase in the file (enableGPU, maxConcurrent, runner);
        # the groups accept camelCase themselves.
        return {alias_generators.to_snake(str(k)): v for k, v in data.items()}


def load(**overrides: Any) -> Settings:
    """Settings from TRANSCODER_CONFIG's YAML, the environment and `overrides` (highest)."""
    return Settings(**overrides)
