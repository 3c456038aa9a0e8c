"""The job state machine, one observation at a time: what `plan` decides and writes."""

from __future__ import annotations

import json

import pytest

from tests.unit.operator import helpers as h
from transcode_api import notify
from transcode_operator.domain import (
    actions,
    cloudevents,
    credentials,
    observation,
    reconcile,
    starts,
)
from transcode_operator.domain import settings as settings_module


def _plan(obs: observation.Observed, cfg: settings_module.Settings = h.CFG) -> actions.Plan:
    return reconcile.plan(obs, cfg)


def _reasons(p: actions.Plan) -> list[str]:
    return [e.reason for e in p.events]


def _cond(p: actions.Plan, type_: str) -> tuple[str, str | None]:
    assert p.status is not None
    c = next(c for c in p.status.conditions if c.type == type_)
    return c.status.value, c.reason


def test_first_sight_creates_attempt_one_and_sets_conditions() -> None:
    p = _plan(h.observed(), h.WRITE_NOW)
    assert p.create is not None and (p.create.attempt, p.create.gpu) == (1, True)
    assert p.gate
    assert p.status is not None
    assert (p.status.phase, p.status.attempts, p.status.pod_name) == ("Scheduling", 1, "trailer-1")
    assert p.status.start_time is not None and p.status.observed_generation == 1
    assert _cond(p, "Succeeded")[0] == "Unknown" and _cond(p, "Failed")[0] == "Unknown"
    assert _cond(p, "Reconciling") == ("True", "PodCreated")
    assert _cond(p, "Stalled")[0] == "False"
    assert _cond(p, "GPUAccelerated") == ("Unknown", "GPURequested")
    assert _reasons(p) == ["Created"]


def test_cpu_job_says_cpu_requested() -> None:
    p = _plan(h.observed(s=h.spec(acceleration={"mode": "cpu"})), h.WRITE_NOW)
    assert p.create is not None and not p.create.gpu
    assert _cond(p, "GPUAccelerated") == ("False", "CPURequested")


def test_a_new_jobs_first_write_waits_for_its_pod_to_run() -> None:
    delay = h.HOLD.status.first_write_delay_seconds
    # the creation turn: the Pod is created; the status and the Created Event wait
    p = _plan(h.observed(), h.HOLD)
    assert p.create is not None and p.status is None and p.requeue == delay
    assert _reasons(p) == [] and p.announce is None
    # the Pod exists (2 s old) and is creating its container: still nothing written
    young = h.view(phase="Pending", created=h.ago(2), waiting=("ContainerCreating", ""))
    p = _plan(h.observed(young), h.HOLD)
    assert p.status is None and p.requeue == pytest.approx(delay - 2)
    # it runs: one write records the attempt, the Pod and the CPU request with Running
    p = _plan(h.observed(h.view(phase="Running", created=h.ago(3))), h.HOLD)
    assert p.status is not None and p.status.phase == "Running"
    assert (p.status.attempts, p.status.pod_name) == (1, "trailer-1")
    assert p.status.start_time is not None
    assert _cond(p, "GPUAccelerated") == ("False", "CPURequested")
    assert _cond(p, "Reconciling") == ("True", "Running")
    assert p.announce is not None and p.announce.reason == "Created"  # with it, before it


def test_on_an_idle_queue_the_pod_is_recorded_and_announced_in_its_creation_turn() -> None:
    p = _plan(h.observed(backlog=0))
    assert p.create is not None and p.requeue is None
    assert p.status is not None and p.status.phase == "Scheduling"
    assert _reasons(p) == ["Created"]


def test_under_a_backlog_the_first_write_waits_for_the_pod_to_run_up_to_the_cap() -> None:
    cap = h.CFG.status.first_write_backlog_seconds
    # a burst: the creation turn creates the Pod and nothing else; it looks again at the cap
    p = _plan(h.observed(backlog=300))
    assert p.create is not None and p.status is None and _reasons(p) == []
    assert p.requeue == cap
    # still starting 4 s later: it waits for the rest, whether the queue is busy or has
    # drained (the cap is a time, not the queue's length)
    young = h.view(phase="Pending", created=h.ago(4), waiting=("ContainerCreating", ""))
    for backlog in (120, 0):
        p = _plan(h.observed(young, backlog=backlog))
        assert p.status is None and p.announce is None
        assert p.requeue == pytest.approx(cap - 4)
    # it runs before the cap: one write, Running, with the Created Event
    p = _plan(h.observed(h.view(phase="Running", created=h.ago(6)), backlog=50))
    assert p.status is not None and p.status.phase == "Running" and p.status.attempts == 1
    assert p.announce is not None and p.announce.reason == "Created"
    # at the cap a Pod still starting is recorded as Scheduling, busy queue or not
    late = h.view(phase="Pending", created=h.ago(cap), waiting=("ContainerCreating", ""))
    p = _plan(h.observed(late, backlog=500))
    assert p.status is not None and p.status.phase == "Scheduling" and p.requeue is None
    assert p.announce is not None and p.announce.reason == "Created"


def test_a_pod_that_waits_for_a_reason_is_recorded_even_under_a_backlog() -> None:
    stuck = h.view(phase="Pending", created=h.ago(1), waiting=("ErrImagePull", "not found"))
    p = _plan(h.observed(stuck, backlog=500))
    assert p.status is not None and p.status.phase == "Scheduling"
    assert p.announce is not None and p.announce.reason == "Created"


def test_while_the_first_write_is_held_the_created_event_is_not_posted_again() -> None:
    # the Pod exists and the status does not count it yet, on purpose: no repost per turn
    young = h.view(phase="Pending", created=h.ago(2), waiting=("ContainerCreating", ""))
    assert _plan(h.observed(young), h.HOLD).announce is None
    # without the delay the same young Pod may be one whose write waits under a burst
    # (or whose operator died before its write): it is held to the backlog cap ...
    p = _plan(h.observed(young))
    cap = h.CFG.status.first_write_backlog_seconds
    assert p.announce is None and p.status is None and p.requeue == pytest.approx(cap - 2)
    # ... and past it the status is written and the attempt's Created Event posted (once,
    # by name)
    old = h.view(phase="Pending", created=h.ago(cap), waiting=("ContainerCreating", ""))
    p = _plan(h.observed(old))
    assert p.status is not None and p.announce is not None and p.announce.reason == "Created"
    # the turn that ends the hold writes the status and repairs the Event once
    late = h.view(phase="Pending", created=h.ago(30), waiting=("ContainerCreating", ""))
    p = _plan(h.observed(late), h.HOLD)
    assert p.status is not None and p.announce is not None


def test_a_pod_still_starting_after_the_delay_is_recorded_as_scheduling() -> None:
    late = h.view(phase="Pending", created=h.ago(h.HOLD.status.first_write_delay_seconds))
    p = _plan(h.observed(late), h.HOLD)
    assert p.status is not None and p.status.phase == "Scheduling"
    assert (p.status.reason, p.status.attempts, p.status.pod_name) == ("PodCreated", 1,
                                                                       "trailer-1")


def test_a_young_pod_that_waits_for_a_reason_is_recorded_at_once() -> None:
    p = _plan(h.observed(h.view(phase="Pending", created=h.ago(1), gpu=True,
                                unschedulable="0/3 nodes have a free nvidia.com/gpu")), h.HOLD)
    assert p.status is not None and p.status.phase == "Scheduling"
    assert (p.status.reason, p.status.attempts) == ("WaitingForGPU", 1)
    assert _cond(p, "GPUAccelerated") == ("Unknown", "GPURequested")
    pulling = h.view(phase="Pending", created=h.ago(1), waiting=("ErrImagePull", "pull access denied"))
    p = _plan(h.observed(pulling), h.HOLD)
    assert p.status is not None and p.status.phase == "Scheduling"


def test_only_a_new_jobs_first_write_waits() -> None:
    # attempt 1 failed and was recorded; attempt 2's young Pending Pod is recorded at once
    failed = h.view(attempt=1, phase="Failed", exit_code=75, created=h.ago(60))
    young = h.view(attempt=2, phase="Pending", created=h.ago(1))
    p = _plan(h.observed(failed, young, status=h.running_status(1)), h.HOLD)
    assert p.status is not None and p.status.phase == "Scheduling"
    assert (p.status.attempts, p.status.pod_name) == (2, "trailer-2")


def test_running_pod_is_a_throttled_phase_write_and_copies_runner_progress() -> None:
    status = h.running_status(phase="Scheduling", reason="PodCreated", runner={
        "attempt": 1, "phase": "Uploading", "progress": {"percent": 40, "fps": 50.0}})
    p = _plan(h.observed(h.view(phase="Running"), status=status))
    assert p.create is None and p.throttled and p.track
    assert p.status is not None and p.status.phase == "Uploading"
    assert p.status.progress is not None and p.status.progress.percent == 40
    # with the Redis relay the relay owns progress
    p = _plan(h.observed(h.view(phase="Running"), status=status, relay=True))
    assert p.status is not None and p.status.progress is None


def test_runner_progress_of_an_older_attempt_is_ignored() -> None:
    status = h.running_status(2, runner={"attempt": 1, "phase": "Uploading",
                                         "progress": {"percent": 90}})
    p = _plan(h.observed(h.view(attempt=2, phase="Running"), status=status))
    assert p.status is not None and p.status.phase == "Running" and p.status.progress is None


def test_success_records_outputs_metadata_and_finishes() -> None:
    msg = h.result(0, message="ok", outputs=[{"name": "720p", "url": "s3://media-out/x",
                                              "bytes": 9}],
                   metadata={"gpuEnabled": True, "gpuCodec": "h264_nvenc",
                             "encoderUsed": "h264_nvenc", "processingSpeed": 3.1})
    p = _plan(h.observed(h.view(phase="Succeeded", exit_code=0, message=msg, gpu=True),
                         status=h.running_status()))
    assert p.status is not None
    assert (p.status.phase, p.status.reason) == ("Succeeded", "TranscodeSucceeded")
    assert [o.name for o in p.status.outputs] == ["720p"]
    assert p.status.metadata is not None and p.status.metadata.encoder_used == "h264_nvenc"
    assert p.status.progress is not None and p.status.progress.percent == 100
    assert p.status.completion_time == h.ago(1)
    assert _cond(p, "Succeeded")[0] == "True" and _cond(p, "Reconciling")[0] == "False"
    assert _cond(p, "GPUAccelerated") == ("True", "NVENC")
    assert p.release and p.finished is not None and _reasons(p) == ["Succeeded"]


def test_success_records_the_thumbnails_and_the_succeeded_event_carries_them() -> None:
    pictures = {"poster": {"url": "s3://media-out/p/poster.jpg", "width": 720, "height": 1280,
                           "bytes": 5000},
                "sprite": {"storyboard": "s3://media-out/p/storyboard.vtt", "sheets": 2,
                           "tiles": 120},
                "preview": {"url": "s3://media-out/p/preview.webp", "frames": 60},
                "bytes": 90000, "objects": 5}
    msg = h.result(0, message="ok", outputs=[{"name": "720p", "url": "s3://media-out/x",
                                              "bytes": 9}], thumbnails=pictures)
    p = _plan(h.observed(h.view(phase="Succeeded", exit_code=0, message=msg),
                         status=h.running_status()))
    assert p.status is not None and p.status.thumbnails is not None
    assert p.status.thumbnails.to_dict() == pictures
    event = json.loads(cloudevents.build(h.JOB, p.status, notify.EventType.SUCCEEDED,
                                         h.NOW).body)
    assert event["thumbnails"]["sprite"]["storyboard"] == "s3://media-out/p/storyboard.vtt"


def test_output_notes_become_one_event_per_reason_naming_each_output() -> None:
    outputs = [{"name": "720p", "url": "s3://media-out/720p.mp4", "bytes": 9,
                "messages": ["NotUpscaled: source has 576 lines, 720p asked; kept 576",
                             "DolbyVisionDropped: Dolby Vision metadata cannot be kept"]},
               {"name": "1080p", "url": "s3://media-out/1080p.mp4", "bytes": 9,
                "messages": ["NotUpscaled: source has 576 lines, 1080p asked; kept 576",
                             "ToneMapped: HDR10 tone-mapped to SDR BT.709"]}]
    p = _plan(h.observed(h.view(phase="Succeeded", exit_code=0,
                                message=h.result(0, message="ok", outputs=outputs)),
                         status=h.running_status()))
    assert _reasons(p) == ["Succeeded", "NotUpscaled", "DolbyVisionDropped", "ToneMapped"]
    by_reason = {e.reason: e for e in p.events}
    assert by_reason["NotUpscaled"].type == "Warning"
    assert by_reason["NotUpscaled"].message == (
        "output 720p: source has 576 lines, 720p asked; kept 576; "
        "output 1080p: source has 576 lines, 1080p asked; kept 576")
    assert by_reason["DolbyVisionDropped"].type == "Warning"
    assert by_reason["ToneMapped"].type == "Normal"  # what hdr: auto does on purpose


def test_success_without_a_readable_report_still_succeeds() -> None:
    p = _plan(h.observed(h.view(phase="Succeeded", exit_code=0, message="garbage"),
                         status=h.running_status()))
    assert p.status is not None and p.status.phase == "Succeeded"
    assert "without a readable result" in (p.status.message or "")


def test_bad_input_fails_at_once_and_is_stalled() -> None:
    msg = h.result(65, reason="SourceNotFound", message="gone")
    p = _plan(h.observed(h.view(phase="Failed", exit_code=65, message=msg),
                         status=h.running_status()))
    assert p.create is None and p.status is not None
    assert (p.status.phase, p.status.reason, p.status.message) == ("Failed", "SourceNotFound",
                                                                    "gone")
    assert _cond(p, "Failed")[0] == "True" and _cond(p, "Stalled") == ("True", "SourceNotFound")
    assert _reasons(p) == ["Failed"] and p.release


def test_transient_failure_waits_for_backoff_then_retries_once_announced() -> None:
    failed = h.view(phase="Failed", exit_code=75, finished=h.ago(3))
    p = _plan(h.observed(failed, status=h.running_status()))
    assert p.create is None and p.status is not None
    assert (p.status.phase, p.status.reason) == ("Pending", "Retrying")
    assert p.requeue == 7  # 10 s backoff, 3 s already passed
    assert _reasons(p) == ["Retrying"]
    # later: backoff over; already announced -> just the new Pod, same accelerator
    later = h.observed(failed, status=h.running_status(phase="Pending", reason="Retrying"),
                       now=h.ago(-8))
    p = _plan(later)
    assert p.create is not None and (p.create.attempt, p.create.gpu) == (2, False)
    assert _reasons(p) == ["Created"]


def test_backoff_limit_exceeded() -> None:
    pods = [h.view(attempt=i, phase="Failed", exit_code=75) for i in (1, 2, 3)]
    p = _plan(h.observed(*pods, s=h.spec(backoffLimit=2), status=h.running_status(3)))
    assert p.status is not None and p.status.reason == "BackoffLimitExceeded"
    assert "3 failed attempts exceed backoffLimit=2" in (p.status.message or "")
    assert _reasons(p) == ["BackoffLimitExceeded"]


def test_eviction_retries_at_once_without_counting() -> None:
    pods = [h.view(attempt=1, phase="Failed", exit_code=75),
            h.view(attempt=2, phase="Failed", exit_code=137, reason="Evicted")]
    p = _plan(h.observed(*pods, s=h.spec(backoffLimit=1), status=h.running_status(2)))
    assert p.create is not None and p.create.attempt == 3
    assert _reasons(p) == ["Disrupted", "Created"]


def test_gpu_pod_unschedulable_past_timeout_falls_back_to_cpu() -> None:
    gpu_pod = h.view(gpu=True, unschedulable="0/2 nodes: Insufficient nvidia.com/gpu",
                     created=h.ago(121))
    p = _plan(h.observed(gpu_pod, status=h.running_status(phase="Scheduling")))
    assert p.create is not None
    assert (p.create.attempt, p.create.gpu, p.create.fallback_reason) == (2, False,
                                                                          "GPUUnschedulable")
    assert [d.name for d in p.delete] == ["trailer-1"]
    assert p.status is not None and p.status.metadata is not None
    assert p.status.metadata.gpu_fallback is True
    assert p.status.metadata.fallback_reason == "GPUUnschedulable"
    assert "Insufficient nvidia.com/gpu" in (p.status.metadata.fallback_message or "")
    assert _cond(p, "GPUAccelerated") == ("False", "GPUUnschedulable")
    assert _reasons(p) == ["FallbackToCPU", "Created"]


def test_gpu_pod_before_timeout_waits_and_says_so() -> None:
    gpu_pod = h.view(gpu=True, unschedulable="Insufficient nvidia.com/gpu", created=h.ago(30))
    p = _plan(h.observed(gpu_pod, status=h.running_status(phase="Scheduling",
                                                          reason="PodCreated")))
    assert p.create is None and p.requeue == 90
    assert p.status is not None and p.status.reason == "WaitingForGPU"


def test_no_fallback_allowed_waits_with_gpu_unschedulable_once() -> None:
    s = h.spec(acceleration={"mode": "gpu", "allowCpuFallback": False})
    gpu_pod = h.view(gpu=True, unschedulable="Insufficient nvidia.com/gpu", created=h.ago(500))
    p = _plan(h.observed(gpu_pod, s=s, status=h.running_status(phase="Scheduling")))
    assert p.create is None and p.delete == []
    assert p.status is not None and (p.status.phase, p.status.reason) == ("Pending",
                                                                          "GPUUnschedulable")
    assert "allowCpuFallback is false" in (p.status.message or "")
    assert _reasons(p) == ["GPUUnschedulable"]
    again = _plan(h.observed(gpu_pod, s=s, status=h.running_status(
        phase="Pending", reason="GPUUnschedulable")))
    assert _reasons(again) == []


def test_retry_after_a_fallback_stays_on_the_cpu() -> None:
    pods = [h.view(attempt=2, phase="Failed", exit_code=75, fallback="GPUUnschedulable",
                   finished=h.ago(60))]
    status = h.running_status(2, metadata={"gpuFallback": True,
                                           "fallbackReason": "GPUUnschedulable"})
    p = _plan(h.observed(*pods, status=status))
    assert p.create is not None and not p.create.gpu
    assert p.create.fallback_reason == "GPUUnschedulable"


def test_deadline_fails_and_stops_the_pod() -> None:
    s = h.spec(activeDeadlineSeconds=30)
    p = _plan(h.observed(h.view(phase="Running"), s=s, status=h.running_status()))
    assert p.status is not None and p.status.reason == "DeadlineExceeded"
    assert [d.name for d in p.delete] == ["trailer-1"] and p.release
    assert _reasons(p) == ["DeadlineExceeded"]
    # before the deadline: wake up when it falls due
    p = _plan(h.observed(h.view(phase="Running"), s=h.spec(activeDeadlineSeconds=100),
                         status=h.running_status()))
    assert p.requeue == 40


def test_suspend_stops_the_pod_and_resume_starts_the_next_attempt() -> None:
    running = h.view(phase="Running")
    p = _plan(h.observed(running, s=h.spec(suspend=True), status=h.running_status()))
    assert [d.name for d in p.delete] == ["trailer-1"] and p.release
    assert p.status is not None and (p.status.phase, p.status.reason) == ("Pending", "Suspended")
    assert _cond(p, "Reconciling") == ("False", "Suspended")
    assert _reasons(p) == ["Suspended"]
    # the Pod is gone; resumed
    p = _plan(h.observed(s=h.spec(), status=h.running_status(phase="Pending", reason="Suspended")))
    assert p.create is not None and p.create.attempt == 2
    assert _reasons(p) == ["Resumed", "Created"]


def test_a_pod_that_vanished_is_replaced_uncounted() -> None:
    p = _plan(h.observed(status=h.running_status()))
    assert p.create is not None and p.create.attempt == 2
    assert _reasons(p) == ["Disrupted", "Created"]


def test_a_pod_being_deleted_is_waited_for() -> None:
    p = _plan(h.observed(h.view(phase="Running", deleting=True), status=h.running_status()))
    assert p.create is None and p.delete == [] and p.status is None


def test_pod_created_but_status_lost_is_adopted_with_its_bookkeeping() -> None:
    p = _plan(h.observed(h.view(phase="Running", created=h.ago(20))))
    assert p.create is None
    assert p.status is not None
    assert (p.status.attempts, p.status.pod_name, p.status.start_time) == (1, "trailer-1",
                                                                           h.ago(20))


def test_older_active_pods_are_cleaned_up() -> None:
    pods = [h.view(attempt=1, gpu=True, unschedulable="x"),
            h.view(attempt=2, phase="Running", fallback="GPUUnschedulable")]
    p = _plan(h.observed(*pods, status=h.running_status(1)))
    assert [d.name for d in p.delete] == ["trailer-1"]
    assert p.status is not None and p.status.attempts == 2


def test_config_error_fails_after_the_grace_period() -> None:
    stuck = h.view(waiting=("CreateContainerConfigError", 'configmap "x" not found'),
                   created=h.ago(30), scheduled=True)
    p = _plan(h.observed(stuck, status=h.running_status(phase="Scheduling")))
    assert p.status is not None and p.status.reason == "CreateContainerConfigError"
    assert 'configmap "x" not found' in (p.status.message or "")
    assert [d.name for d in p.delete] == ["trailer-1"]


@pytest.mark.parametrize("kubelet", ['secret "s3" not found',
                                     "couldn't find key AWS_SECRET_ACCESS_KEY in Secret m/s3"])
def test_a_vanished_credentials_secret_fails_with_the_one_message(kubelet: str) -> None:
    creds = h.spec(storage={"credentialsSecretRef": {"name": "s3"}})
    ref = creds.storage.credentials_secret_ref
    assert ref is not None
    waiting = h.view(waiting=("CreateContainerConfigError", kubelet), created=h.ago(1),
                     scheduled=True)
    p = _plan(h.observed(waiting, s=creds, status=h.running_status(phase="Scheduling")))
    assert p.status is not None and p.status.message == credentials.message(ref)
    stuck = h.view(waiting=("CreateContainerConfigError", kubelet), created=h.ago(30),
                   scheduled=True)
    p = _plan(h.observed(stuck, s=creds, status=h.running_status(phase="Scheduling")))
    assert p.status is not None and p.status.reason == "CredentialsNotAllowed"
    assert p.status.message == credentials.message(ref)
    assert [e.message for e in p.events] == [credentials.message(ref)]
    assert [d.name for d in p.delete] == ["trailer-1"]


def test_finished_job_with_ttl_is_deleted_when_due() -> None:
    done = {"phase": "Succeeded", "completionTime": h.stamp(h.ago(100))}
    p = _plan(h.observed(s=h.spec(ttlSecondsAfterFinished=60), status=done))
    assert p.delete_job and _reasons(p) == ["TTLExpired"]
    p = _plan(h.observed(s=h.spec(ttlSecondsAfterFinished=300), status=done))
    assert not p.delete_job and p.requeue == 200
    p = _plan(h.observed(s=h.spec(), status=done))
    assert not p.delete_job and p.requeue is None and p.status is None


def test_finishing_schedules_the_ttl() -> None:
    done = h.view(phase="Succeeded", exit_code=0, message=h.result(0))
    p = _plan(h.observed(done, s=h.spec(ttlSecondsAfterFinished=30), status=h.running_status()))
    assert p.status is not None and p.status.phase == "Succeeded" and p.requeue == 30


def test_invalid_spec_fails_once() -> None:
    p = _plan(h.observed(spec_error="invalid TranscodeJob spec: spec.source: bad"))
    assert p.status is not None and p.status.reason == "InvalidSpec"
    assert _reasons(p) == ["InvalidSpec"]
    again = _plan(h.observed(spec_error="x", status={"phase": "Failed", "reason": "InvalidSpec"}))
    assert again.status is None and again.events == []


def test_gated_start_waits_in_pending_and_announces_once() -> None:
    obs = h.observed()
    planned = _plan(obs)
    gate = observation.Gate(False, "RateLimited", "namespace media: StartRateExceeded", 12.0)
    p = reconcile.gated(obs, planned, gate)
    assert p.create is None and p.requeue == 12.0
    assert p.status is not None and (p.status.phase, p.status.reason) == ("Pending", "RateLimited")
    assert p.status.attempts is None  # nothing started
    assert _reasons(p) == ["RateLimited"]
    again = h.observed(status={"phase": "Pending", "reason": "RateLimited"})
    assert _reasons(reconcile.gated(again, _plan(again), gate)) == []
    fatal = reconcile.gated(obs, planned, observation.Gate(False, "CredentialsNotAllowed", "no", fatal=True))
    assert fatal.status is not None and fatal.status.phase == "Failed"


def test_gates_are_asked_only_when_a_pod_may_start() -> None:
    assert starts.needs_gates(h.observed(gate=None))  # a new job
    running = h.view(phase="Running")
    assert not starts.needs_gates(h.observed(running, status=h.running_status(), gate=None))
    done = h.view(phase="Succeeded", exit_code=0, message=h.result(0))
    assert not starts.needs_gates(h.observed(done, status=h.running_status(), gate=None))
    retry = h.view(phase="Failed", exit_code=75, message=h.result(75))
    assert starts.needs_gates(h.observed(retry, status=h.running_status(), gate=None))
    suspended = h.observed(s=h.spec(suspend=True), gate=None)
    assert not starts.needs_gates(suspended)
    # a start the observation has no answer for asks for it and does nothing else
    due = h.view(phase="Failed", exit_code=75, message=h.result(75), finished=h.ago(600))
    p = reconcile.plan(h.observed(due, status=h.running_status(), gate=None), h.CFG)
    assert p.ask_gates and p.create is None and p.status is None


def test_only_a_pod_being_created_or_simply_starting_counts_as_a_burst() -> None:
    assert _plan(h.observed()).starting  # the creation turn
    creating = h.view(phase="Pending", created=h.ago(2), waiting=("ContainerCreating", ""))
    assert _plan(h.observed(creating)).starting
    for view in (h.view(phase="Pending", created=h.ago(2), unschedulable="0/2 nodes: GPU"),
                 h.view(phase="Pending", created=h.ago(2), waiting=("ErrImagePull", "x")),
                 h.view(phase="Running", created=h.ago(2))):
        assert not _plan(h.observed(view)).starting, view
