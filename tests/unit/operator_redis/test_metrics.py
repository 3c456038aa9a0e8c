"""The operator's metrics as Prometheus would scrape them: queue depth and time in
phase, results with encoder and fallback reason, DCGM-named GPU gauges, the work queue."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest

from tests.unit.operator import fakes
from tests.unit.operator_redis import promnames
from transcode_operator.adapters import metrics
from transcode_operator.control import workqueue


def test_jobs_by_phase_and_the_age_of_the_oldest(metric_set, clock, sample):
    async def scenario():
        metric_set.job_phase("uid-1", "Pending")
        await clock.advance(60)
        metric_set.job_phase("uid-2", "Pending")
        metric_set.job_phase("uid-3", "Running")
        await clock.advance(30)
        metric_set.job_phase("uid-1", "Pending")  # same phase again: keeps its start

    asyncio.run(scenario())
    assert sample(metric_set, "transcoder_jobs", phase="Pending") == 2
    assert sample(metric_set, "transcoder_jobs", phase="Running") == 1
    assert sample(metric_set, "transcoder_jobs", phase="Succeeded") == 0
    assert sample(metric_set, "transcoder_jobs_oldest_phase_age_seconds", phase="Pending") == 90
    assert sample(metric_set, "transcoder_jobs_oldest_phase_age_seconds", phase="Running") == 30
    metric_set.job_phase("uid-1", "Running")
    metric_set.job_removed("uid-2")
    assert sample(metric_set, "transcoder_jobs", phase="Pending") == 0
    assert sample(metric_set, "transcoder_jobs", phase="Running") == 2
    assert sample(metric_set, "transcoder_jobs_oldest_phase_age_seconds", phase="Pending") == 0


def test_results_durations_and_speeds_by_encoder(metric_set, sample):
    metric_set.observe_result(result="Succeeded", encoder="h264_nvenc", duration_seconds=30,
                              speed=4.0)
    metric_set.observe_result(result="Succeeded", encoder="libx264",
                              fallback_reason="NVENCInitFailed", duration_seconds=120, speed=1.0)
    metric_set.observe_result(result="Failed", encoder="", duration_seconds=None, speed=None)
    assert sample(metric_set, "transcoder_job_results_total", result="Succeeded",
                  encoder="h264_nvenc", fallback_reason="none") == 1
    assert sample(metric_set, "transcoder_job_results_total", result="Succeeded",
                  encoder="libx264", fallback_reason="NVENCInitFailed") == 1
    assert sample(metric_set, "transcoder_job_results_total", result="Failed",
                  encoder="unknown", fallback_reason="none") == 1
    assert sample(metric_set, "transcoder_job_processing_speed_ratio_sum",
                  encoder="h264_nvenc", accelerator="gpu") == 4.0
    assert sample(metric_set, "transcoder_job_duration_seconds_count",
                  encoder="libx264", accelerator="cpu") == 1


def test_gpu_gauges_use_dcgm_names_and_labels(metric_set):
    metric_set.set_gpu_devices([
        {"node": "gpu-node-1", "index": 0, "name": "NVIDIA L4", "utilization_percent": 25,
         "memory_free_mb": 20000, "memory_used_mb": 2528, "temperature_c": 51,
         "encoder_utilization_percent": 40, "encoder_sessions": 2},
        {"node": "gpu-node-1", "index": 1, "name": "NVIDIA L4", "utilization_percent": None},
    ])
    text = generate_latest(metric_set.registry).decode()
    assert 'DCGM_FI_DEV_GPU_UTIL{gpu="0",modelName="NVIDIA L4",node="gpu-node-1"} 25.0' in text
    assert 'DCGM_FI_DEV_FB_FREE{gpu="0",modelName="NVIDIA L4",node="gpu-node-1"} 20000.0' in text
    assert 'transcoder_gpu_encoder_sessions{gpu="0",modelName="NVIDIA L4",node="gpu-node-1"} 2.0' in text
    assert 'DCGM_FI_DEV_GPU_UTIL{gpu="1"' not in text  # unknown values are left out
    metric_set.set_gpu_devices([])  # the node's probe expired
    assert "gpu-node-1" not in generate_latest(metric_set.registry).decode()


def test_each_metrics_object_has_its_own_registry():
    first, second = metrics.Metrics(), metrics.Metrics()
    first.lock_waits.inc()
    assert second.registry.get_sample_value("transcoder_lock_waits_total") == 0
    assert "transcoder_cache_hits_total" in promnames.exported_names(first.registry)
    assert "transcoder_job_duration_seconds_bucket" in promnames.exported_names(first.registry)


def test_work_queue_sizes_are_read_at_each_scrape(metric_set, sample):
    clock = fakes.Clock()
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue(clock=clock)
    metric_set.watch_queue(q.__len__, q.delayed)
    q.add("a")
    q.add_after("b", 30)
    q.add_after("c", 60)
    assert sample(metric_set, "transcoder_workqueue_keys", state="queued") == 1
    assert sample(metric_set, "transcoder_workqueue_keys", state="delayed") == 2
    clock.value += 30  # b's timer falls due
    assert q.pop_ready() == "a" and q.pop_ready() == "b"
    assert sample(metric_set, "transcoder_workqueue_keys", state="queued") == 0
    assert sample(metric_set, "transcoder_workqueue_keys", state="delayed") == 1
