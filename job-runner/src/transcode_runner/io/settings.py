"""Runner settings: every knob of the runner in one pydantic-settings class.

Values come from a YAML file named by `TRANSCODER_CONFIG_FILE` (optional) and
then from environment variables with the `TRANSCODER_` prefix, which win. The
operator sets the job's identity and frozen spec in the Pod's environment
(names in `transcode_api.constants`); the rest has defaults from the seed.
`cli.main` builds one `Settings` and passes it down; nothing else reads the
environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from transcode_api import contract

MiB = 1024 * 1024
CONFIG_FILE_ENV = "TRANSCODER_CONFIG_FILE"


class Settings(BaseSettings):
    """The runner's configuration (env prefix `TRANSCODER_`)."""

    model_config = SettingsConfigDict(env_prefix="TRANSCODER_", extra="ignore")

    # --- job identity (set by the operator in the Pod) -------------------------
    job_spec: str | None = None
    """Frozen TranscodeJob spec as JSON with camelCase aliases. Default: unset
    (standalone runs pass `--spec FILE`). The operator freezes it at Pod creation
    so that an edit of the CR never changes a running attempt."""

    job_name: str | None = None
    """Name of the TranscodeJob this Pod works for. Default: unset (standalone);
    without it the runner patches no status."""

    job_namespace: str | None = None
    """Namespace of the TranscodeJob. Default: unset; needed with `job_name`."""

    job_uid: str | None = None
    """UID of the TranscodeJob; the status patch is refused if the CR was
    recreated under the same name. Default: unset (no precondition)."""

    attempt: int = 1
    """Attempt number (1-based) of this Pod, reported back in the result so the
    operator can ignore a stale Pod's message. Default 1."""

    pod_name: str | None = Field(
        default=None, validation_alias=AliasChoices(contract.ENV_POD_NAME, "POD_NAME", "HOSTNAME")
    )
    """Name of this runner Pod, reported in `status.runner.podName`. The operator sets
    `TRANSCODER_POD_NAME` from the downward API (a host-network Pod's host name is its
    node's). Default: the `POD_NAME` or `HOSTNAME` variable."""

    pod_uid: str | None = Field(default=None, validation_alias=AliasChoices(contract.ENV_POD_UID))
    """This runner Pod's own uid (the operator sets it from the downward API). The
    Redis progress key carries it, and the operator accepts progress only from the
    live Pod of the job's current attempt. Default: unset (no Redis progress)."""

    gpu_requested: bool = False
    """Whether the operator gave this Pod an `nvidia.com/gpu`. Default false.
    Informational: the probe decides what is usable."""

    redis_url: str | None = None
    """Redis URL for high-rate progress (`redis://host:6379/0`). Default unset:
    the runner works without Redis and reports only to the CR."""

    redis_username: str | None = None
    """Redis ACL user (`runner` in a runner Pod, `probe` in the GPU probe DaemonSet).
    Default: unset (the URL's, else Redis's default user)."""

    redis_password: SecretStr | None = None
    """That user's password; never logged. Default: unset."""

    scratch_dir: Path = Path("/tmp/transcode")
    """Working directory for the source, outputs and two-pass logs. Default
    `/tmp/transcode` (the seed's tempDir); the Pod mounts an emptyDir there."""

    scratch_limit_bytes: int | None = Field(default=None, ge=0)
    """The scratch emptyDir's `sizeLimit` in bytes (`TRANSCODER_SCRATCH_LIMIT_BYTES`,
    set by the operator): the kubelet evicts the Pod above it, and the filesystem's
    free space does not show it. Default: unset (the filesystem's free space only)."""

    scratch_output_factor: float = Field(default=1.0, ge=0.0, le=100.0)
    """Each output is estimated at this many times the source's size when checking,
    before the download, that the source and the outputs fit on scratch (else
    `SourceTooLarge`, exit 65). Default 1.0 (an output as large as its source); 0
    checks the source alone."""

    # --- tools -------------------------------------------------------------------
    ffmpeg_path: str = "ffmpeg"
    """FFmpeg executable. Default `ffmpeg` on PATH (the seed's ffmpegPath)."""

    ffprobe_path: str = "ffprobe"
    """FFprobe executable. Default `ffprobe` on PATH (the seed's ffprobePath)."""

    # --- GPU probe -----------------------------------------------------------------
    gpu_probe: bool = True
    """Run the NVENC probe before planning. Default true. False trusts the
    scheduler's GPU and lets a failed encode trigger the CPU fallback instead."""

    gpu_device_index: int = -1
    """GPU to use: -1 picks the best by free memory x (100 - utilization), fewer
    encoder sessions first (the seed's gpuDeviceIndex). Default -1."""

    min_free_gpu_memory_mib: int = 500
    """Free GPU memory (MiB) below which NVENC is not used. Default 500, the
    seed's fallback threshold; used when the spec does not set its own."""

    probe_timeout_seconds: float = 20.0
    """Seconds the one-frame NVENC test encode (and `ffmpeg -encoders`) may take.
    Default 20: a cold CUDA context can take several seconds to create."""

    # --- encode ------------------------------------------------------------------
    stall_timeout_seconds: float = 120.0
    """Seconds without any FFmpeg progress after which the watchdog kills it and
    the attempt fails as transient. Default 120: long enough for slow presets
    on large frames, short enough that a hung encoder does not hold a GPU."""

    ffprobe_timeout_seconds: float = 60.0
    """Seconds ffprobe may take on the source before it counts as bad input.
    Default 60; bounds the time a damaged file can cost."""

    stop_grace_seconds: float = 5.0
    """Seconds FFmpeg gets after SIGTERM before SIGKILL. Default 5, well inside
    the Pod's termination grace period."""

    # --- transfer ----------------------------------------------------------------
    upload_part_size: int = 10 * MiB
    """Multipart part size in bytes. Default 10 MiB (the seed's uploadPartSize)."""

    upload_concurrency: int = 10
    """Parts uploaded in parallel. Default 10 (the seed's maxConcurrentParts)."""

    multipart_threshold: int = 10 * MiB
    """Objects at or above this size (bytes) use multipart. Default 10 MiB."""

    download_part_size: int = 8 * MiB
    """Byte range fetched by one ranged GET. Default 8 MiB."""

    download_concurrency: int = 8
    """Ranged GETs in flight at once. Default 8."""

    transfer_stall_seconds: float = Field(default=60.0, gt=0)
    """Seconds a source download may go without `transfer_stall_min_bytes` of
    progress (all its parts together) before the attempt fails as transient
    `SourceStalled` (exit 75). Also the socket timeout of https sources.
    Default 60: a server that trickles a byte now and then cannot hold the Pod."""

    transfer_stall_min_bytes: int = Field(default=64 * 1024, ge=1)
    """Bytes that count as progress for the stall deadline. Default 64 KiB."""

    s3_max_attempts: int = Field(default=5, ge=1, le=20)
    """Attempts per S3 request, the first included (botocore `total_max_attempts`):
    503 SlowDown, 500/502/504, throttling codes and connection errors are retried
    with exponential backoff and jitter. Default 5."""

    s3_retry_mode: Literal["standard", "adaptive"] = "standard"
    """botocore retry mode: `standard`, or `adaptive` (also rate-limits the client
    after throttling answers). Default `standard`."""

    s3_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("TRANSCODER_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    """S3 region for signing. Default `us-east-1` (what most S3-compatible
    servers expect); `AWS_REGION` is honoured too."""

    s3_endpoint: str | None = None
    """S3 endpoint URL used when the spec names none (standalone runs). Default
    unset: AWS."""

    # --- SSRF guard (io.netguard) ----------------------------------------------
    network_allow: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices(contract.ENV_NETWORK_ALLOW))
    """Hosts, IPs or CIDRs the runner may connect to although they are loopback,
    link-local, private or otherwise non-public (in-cluster origins; the tests'
    127.0.0.1). JSON list in `TRANSCODER_NETWORK_ALLOW`. Default: none."""

    network_deny: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices(contract.ENV_NETWORK_DENY))
    """Extra CIDRs refused like private ranges, such as the cluster's service CIDR
    when it is public address space. JSON list in `TRANSCODER_NETWORK_DENY`. Default: none."""

    # --- report ------------------------------------------------------------------
    status_interval_seconds: float = 5.0
    """Minimum seconds between two progress patches of `status.runner`.
    Default 5: the API server is not a progress bus (Redis is)."""

    termination_message_path: Path = Path("/dev/termination-log")
    """File the final result is written to as JSON (<= 4 KiB). Default
    `/dev/termination-log`, the Pod's terminationMessagePath."""

    redis_progress_interval_seconds: float = 1.0
    """Minimum seconds between two Redis progress updates. Default 1, the seed's
    "updated every second" for the progress cache."""

    redis_progress_ttl_seconds: int = contract.PROGRESS_TTL_SECONDS
    """TTL of the Redis progress key. Default 3600 s: a dead runner's progress
    expires within the hour."""

    probe_report_interval_seconds: float = 10.0
    """Seconds between two GPU reports of `probe --report`. Default 10."""

    node_name: str = Field(
        default_factory=lambda: os.uname().nodename,
        validation_alias=AliasChoices("TRANSCODER_NODE_NAME", "NODE_NAME"),
    )
    """Node the probe reports for (`kt:gpu:{node}`); the DaemonSet sets
    `NODE_NAME` from the downward API. Default: the host name."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over the optional YAML file over defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)
