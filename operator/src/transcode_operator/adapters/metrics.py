"""Prometheus metrics of the operator, in one object with its own registry.

`app.context.start` builds one `Metrics()` and hands it to the control layer,
the Redis helpers (relay, caches, limits, locks, health) and the HTTP API, which
serves `registry` on /metrics. `control.act` reports job life through
`job_phase`/`job_removed` (queue depth and time in phase, computed at scrape
time) and `observe_result`; `app.context` hands it the work queue's sizes
(`watch_queue`); the GPU status reader feeds `set_gpu_devices` from
the node probes. GPU gauges reuse the DCGM exporter's names where they mean the
same, so dashboards built for DCGM work on them. The alert rules and the Grafana
dashboard under deploy/monitoring use only names defined here (a unit test
checks it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from transcode_api import constants
from transcode_operator.adapters import clocks

# Buckets: job duration from 5 s to 4 h; speed (media s per wall s) from 0.1x to 32x.
DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
SPEED_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 32)
NO_FALLBACK = "none"
"""`fallback_reason` label value of a result that needed no fallback."""

GPU_GAUGES: dict[str, tuple[str, str]] = {
    # metric name -> (device field, help)
    "DCGM_FI_DEV_GPU_UTIL": ("utilization_percent", "GPU utilization (in %)."),
    "DCGM_FI_DEV_FB_FREE": ("memory_free_mb", "Framebuffer memory free (in MiB)."),
    "DCGM_FI_DEV_FB_USED": ("memory_used_mb", "Framebuffer memory used (in MiB)."),
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_c", "GPU temperature (in C)."),
    "DCGM_FI_DEV_ENC_UTIL": ("encoder_utilization_percent", "Encoder utilization (in %)."),
    "transcoder_gpu_encoder_sessions": ("encoder_sessions", "Active NVENC sessions."),
}
GPU_LABELS = ("node", "gpu", "modelName")


def accelerator_of(encoder: str) -> str:
    """`gpu` for an NVENC encoder, `cpu` otherwise (the `accelerator` label)."""
    return "gpu" if encoder in constants.GPU_ENCODERS else "cpu"


@dataclass
class _Phase:
    phase: str
    since: float


class JobPhaseCollector(Collector):
    """Jobs per phase and the age of the oldest job in each phase, at scrape time.

    Exposes `transcoder_jobs{phase}` (queue depth is `phase="Pending"`) and
    `transcoder_jobs_oldest_phase_age_seconds{phase}` (0 when the phase is empty)
    for every phase, so the stuck-job alerts and the dashboard always see a value.
    """

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._jobs: dict[str, _Phase] = {}
        self._lock = threading.Lock()

    def set(self, uid: str, phase: str, since: float | None = None) -> None:
        with self._lock:
            current = self._jobs.get(uid)
            if current is not None and current.phase == phase and since is None:
                return
            self._jobs[uid] = _Phase(phase, self._clock.time() if since is None else since)

    def remove(self, uid: str) -> None:
        with self._lock:
            self._jobs.pop(uid, None)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families({})

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            jobs = list(self._jobs.values())
        return self._families({"jobs": jobs})

    def _families(self, state: Mapping[str, list[_Phase]]) -> Iterator[GaugeMetricFamily]:
        count = GaugeMetricFamily("transcoder_jobs", "TranscodeJobs by phase.", labels=["phase"])
        age = GaugeMetricFamily(
            "transcoder_jobs_oldest_phase_age_seconds",
            "Seconds the oldest job in each phase has been in it (0 when none).",
            labels=["phase"],
        )
        jobs = state.get("jobs")
        if jobs is not None:
            now = self._clock.time()
            for phase in [p.value for p in constants.Phase]:
                members = [job for job in jobs if job.phase == phase]
                count.add_metric([phase], len(members))
                oldest = min((job.since for job in members), default=now)
                age.add_metric([phase], max(now - oldest, 0.0))
        yield count
        yield age


class GpuCollector(Collector):
    """DCGM-named gauges from the latest node probes (replaced wholesale on refresh)."""

    def __init__(self) -> None:
        self._devices: list[Mapping[str, Any]] = []
        self._lock = threading.Lock()

    def set(self, devices: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._devices = list(devices)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families([])

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            devices = list(self._devices)
        return self._families(devices)

    def _families(self, devices: list[Mapping[str, Any]]) -> Iterator[GaugeMetricFamily]:
        for name, (field, help_text) in GPU_GAUGES.items():
            family = GaugeMetricFamily(name, help_text, labels=list(GPU_LABELS))
            for device in devices:
                value = device.get(field)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    labels = [str(device.get("node", "")), str(device.get("index", "")),
                              str(device.get("name", ""))]
                    family.add_metric(labels, float(value))
            yield family


class Metrics:
    """All operator metrics, registered in `registry` (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, clock: Any = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.jobs = JobPhaseCollector(clock or clocks.SystemClock())
        reg.register(self.jobs)
        self.gpu = GpuCollector()
        reg.register(self.gpu)
        self.job_duration = Histogram(
            "transcoder_job_duration_seconds",
            "Wall time from runner start to a finished job, by encoder used.",
            ["encoder", "accelerator"], buckets=DURATION_BUCKETS, registry=reg,
        )
        self.processing_speed = Histogram(
            "transcoder_job_processing_speed_ratio",
            "Media seconds encoded per wall second (2.0 = twice real time), by encoder.",
            ["encoder", "accelerator"], buckets=SPEED_BUCKETS, registry=reg,
        )
        self.job_results = Counter(
            "transcoder_job_results",
            "Finished jobs by result (Succeeded/Failed), encoder and fallback reason "
            f"('{NO_FALLBACK}' when the planned encoder was used).",
            ["result", "encoder", "fallback_reason"], registry=reg,
        )
        self.job_retries = Counter(
            "transcoder_job_retries", "Runner Pods started again after a failure, by reason.",
            ["reason"], registry=reg,
        )
        self.rate_limited_waits = Counter(
            "transcoder_rate_limited_waits",
            "Job starts refused by the namespace limits (each refusal; the job waits).",
            ["reason"], registry=reg,
        )
        self.lock_waits = Counter(
            "transcoder_lock_waits",
            "Job starts refused because another job holds an output lock (each refusal).",
            registry=reg,
        )
        self.lock_lost = Counter(
            "transcoder_lock_lost",
            "Output locks found expired or taken by another holder on renewal.",
            registry=reg,
        )
        self.cache_hits = Counter(
            "transcoder_cache_hits", "Cache reads answered from Redis.", ["cache"], registry=reg
        )
        self.cache_misses = Counter(
            "transcoder_cache_misses", "Cache reads that went to the source.", ["cache"],
            registry=reg,
        )
        self.progress_updates = Counter(
            "transcoder_progress_updates",
            "Runner progress updates seen by the relay, by outcome "
            "(patched, coalesced, ignored, rejected: a Pod uid not the current attempt's, failed).",
            ["outcome"], registry=reg,
        )
        self.notifications = Counter(
            "transcoder_notifications",
            "CloudEvents POSTs to job sinks, by event type and outcome (delivered; retrying: "
            "not delivered, sent again later; failed: given up).",
            ["type", "outcome"], registry=reg,
        )
        self.redis_errors = Counter(
            "transcoder_redis_errors", "Redis calls that failed, by operation.", ["operation"],
            registry=reg,
        )
        self.redis_up = Gauge(
            "transcoder_redis_up", "1 while Redis answers, 0 while it is down or not configured.",
            registry=reg,
        )
        self.redis_configured = Gauge(
            "transcoder_redis_configured", "1 when the operator was given a Redis URL.",
            registry=reg,
        )
        self.workqueue = Gauge(
            "transcoder_workqueue_keys",
            "Job keys in the work queue: queued (waiting for a worker) or delayed (waiting for "
            "a timer: a retry, a deadline, a GPU pending timeout, a TTL).",
            ["state"], registry=reg,
        )

    def watch_queue(self, queued: Callable[[], int], delayed: Callable[[], int]) -> None:
        """Read the work queue's sizes at each scrape."""
        self.workqueue.labels(state="queued").set_function(queued)
        self.workqueue.labels(state="delayed").set_function(delayed)

    # --- what control.act calls -------------------------------------------------------
    def job_phase(self, uid: str, phase: str, since: float | None = None) -> None:
        """Record that job `uid` is in `phase` (since now, unless `since` is given)."""
        self.jobs.set(uid, phase, since)

    def job_removed(self, uid: str) -> None:
        """Forget job `uid` (deleted)."""
        self.jobs.remove(uid)

    def observe_result(
        self,
        *,
        result: str,
        encoder: str,
        fallback_reason: str | None = None,
        duration_seconds: float | None = None,
        speed: float | None = None,
    ) -> None:
        """Count a finished job and observe its duration and processing speed."""
        encoder = encoder or "unknown"
        self.job_results.labels(
            result=result, encoder=encoder, fallback_reason=fallback_reason or NO_FALLBACK
        ).inc()
        labels = {"encoder": encoder, "accelerator": accelerator_of(encoder)}
        if duration_seconds is not None and duration_seconds >= 0:
            self.job_duration.labels(**labels).observe(duration_seconds)
        if speed is not None and speed > 0:
            self.processing_speed.labels(**labels).observe(speed)

    def observe_retry(self, reason: str) -> None:
        """Count a runner Pod started again (reason: transient, disruption, internal, ...)."""
        self.job_retries.labels(reason=reason).inc()

    def set_gpu_devices(self, devices: Iterable[Mapping[str, Any]]) -> None:
        """Replace the GPU gauges with these devices (fields as in the GPU status API)."""
        self.gpu.set(devices)

