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
from typing import Any

import pydantic
import yaml
from pydantic import alias_generators
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from transcode_operator.domain.settings.failure import FailurePolicySettings
from transcode_operator.domain.settings.httpauth import HttpAuthSettings, HttpRateLimitSettings
from transcode_operator.domain.settings.leader import LeaderElectionSettings
from transcode_operator.domain.settings.notify import NotifySettings
from transcode_operator.domain.settings.placement import PlacementPolicySettings, TolerationRule
from transcode_operator.domain.settings.queues import QueueSettings
from transcode_operator.domain.settings.redis import LimitSettings, LockSettings, RedisSettings
from transcode_operator.domain.settings.runner import GpuSettings, RunnerSettings
from transcode_operator.domain.settings.serving import WORKERS, HttpSettings, KopfSettings
from transcode_operator.domain.settings.tenancy import StoragePolicySettings
from transcode_operator.domain.settings.timing import RetrySettings, StatusSettings

CONFIG_ENV = "TRANSCODER_CONFIG"
"""Environment variable naming the YAML settings file (optional)."""



__all__ = [
    "CONFIG_ENV", "FailurePolicySettings", "GpuSettings", "HttpAuthSettings",
    "HttpRateLimitSettings", "HttpSettings", "KopfSettings", "LeaderElectionSettings",
    "LimitSettings", "LockSettings", "NotifySettings", "PlacementPolicySettings",
    "QueueSettings", "RedisSettings", "RetrySettings", "RunnerSettings", "Settings",
    "StatusSettings", "StoragePolicySettings", "TolerationRule", "load",
]


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
    workers: int = pydantic.Field(default=WORKERS, ge=1, le=256)
    """Workers serving the one work queue of job keys: at most this many jobs are
    reconciled at once, and a job is never worked on by two at a time. Idle jobs cost
    no worker, task or coroutine. A turn waits on the API server most of the time, so
    this many turns overlap; each is an API request in flight, and the kubelets' Pod
    status writes share that API server. In bench/operator_scale.py (1,000 jobs, 2
    cores) 32 workers created the Pods soonest but slowed every other client's
    requests (the node agent's Pod status patches 734 ms vs 250 ms on the Job side:
    Pods started a median 9-14 s after creation and their end reached the API server
    5-10 s late); 12 started them in 2 s but created them 1.3-1.9x slower than the Job
    controller; 20 finished a median 1.05x but created them 1.24x; 24 created them a
    median 1.07x and finished them 1.10x over six rounds (README). Default: 24."""
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
    leader_election: LeaderElectionSettings = pydantic.Field(
        default_factory=LeaderElectionSettings)
    failure_policy: FailurePolicySettings = pydantic.Field(
        default_factory=FailurePolicySettings)
    storage_policy: StoragePolicySettings = pydantic.Field(default_factory=StoragePolicySettings)
    """Tenant policy for `spec.storage` (YAML `storagePolicy`): allowed S3 endpoints and
    where ambient credentials may be used. Default: AWS S3 only, ambient nowhere."""
    placement_policy: PlacementPolicySettings = pydantic.Field(
        default_factory=PlacementPolicySettings)
    """Tenant policy for placement (YAML `placementPolicy`): allowed tolerations,
    PriorityClasses, node labels and the affinity bounds. Default: the GPU toleration only."""
    notifications: NotifySettings = pydantic.Field(default_factory=NotifySettings)
    """Job notifications (YAML `notifications`): allowed sink hosts, SSRF exceptions,
    POST timeout and retry timings. Default: no sink allowed."""
    queues: QueueSettings = pydantic.Field(default_factory=QueueSettings)
    """Kueue LocalQueues (YAML `queues`): the default queue per namespace and the CPU
    fallback queue. Default: no queue (runner Pods bypass Kueue)."""

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
