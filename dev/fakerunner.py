"""A stand-in for `transcode-runner run` whose outcome a test chooses per attempt.

`dev.operators.fake_runner()` hands this file's source to `python3 -c` as the runner
Pod's command, so it runs wherever the Pod runs: a node-agent process (this
checkout's `transcode_api` on its PYTHONPATH) or a container of the runner image on a
kubelet node (the image's `transcode_api`); it imports nothing else of this
repository. Operator tests use it where they need what the real runner cannot do on
cue: exit with the code chosen for each attempt (`KT_FAKE_EXIT_CODES=75,0`), sleep
for a chosen time (`KT_FAKE_SLEEP=60,1`), take `KT_FAKE_TERM_DELAY` seconds to exit on
SIGTERM (as the runner does while it aborts uploads; it prints `READY` to its log once
that handler is installed, so a test reading the kubelet's log deletes only then), report chosen percentages
through Redis (`KT_FAKE_PROGRESS=10,42`, with the Pod uid key and the runner login
the operator hands it), or "succeed" on a GPU. Its result document is a real
`transcode_api.status.RunnerResult` with the metadata of `provenance.job_metadata`,
the function the real runner builds its own with, so it carries the same fields:
`fallbackReason` is `CPURequested` for a CPU-mode job, `NVMLUnavailable` for another
job on a CPU Pod, none on a GPU Pod; outputs carry size, sha256 checksum, duration,
size and encoder. A failure carries the reason the real runner's errors carry for
its exit code (65 `BadInput`, with the message the runner gives a missing S3
source; 75 `Transient`; others `Internal`).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from transcode_api import constants, contract, provenance, spec, status

TERMINATION_LOG = Path("/dev/termination-log")
READY = "fake runner: SIGTERM handler installed"
"""The line the fake runner prints once SIGTERM is its own to handle."""
Reason = constants.FallbackReason
REASONS = {int(contract.ExitCode.BAD_INPUT): "BadInput", int(contract.ExitCode.TRANSIENT): "Transient"}
"""The reason the real runner's errors carry for an exit code (others: Internal)."""


def _per_attempt(variable: str, default: str, attempt: int) -> str:
    values = os.environ.get(variable, default).split(",")
    return values[min(attempt - 1, len(values) - 1)]


def _outputs(job: spec.TranscodeJobSpec, attempt: int, encoder: str) -> list[status.OutputResult]:
    return [status.OutputResult(
        name=o.name, url=o.destination, size_bytes=1000 + attempt,
        checksum=hashlib.sha256(f"{o.destination}#{attempt}".encode()).hexdigest(),
        checksum_algorithm="sha256", duration_seconds=2.0, width=1280, height=720,
        bitrate=4000, codec=constants.ENCODER_CODEC[encoder], encoder=encoder)
        for o in job.outputs]


def result(job: spec.TranscodeJobSpec, attempt: int, gpu: bool, code: int) -> status.RunnerResult:
    """The RunnerResult of one fake attempt that exits with `code` on a GPU Pod or not."""
    gpu_encoder, cpu_encoder = constants.CODEC_ENCODERS[constants.Codec.H264.value]
    assert gpu_encoder is not None
    encoder = gpu_encoder if gpu else cpu_encoder
    if gpu:
        reason, message = None, ""
    elif job.acceleration.mode == constants.AccelerationMode.CPU:
        reason, message = Reason.CPU_REQUESTED, "acceleration.mode is cpu"
    else:
        reason, message = Reason.NVML_UNAVAILABLE, "fake runner: a CPU Pod has no NVML"
    metadata = provenance.job_metadata(
        gpu_encoder=gpu_encoder if gpu else None, gpu_device=0 if gpu else None,
        wanted_gpu_encoder=gpu_encoder if reason != Reason.CPU_REQUESTED else None,
        cpu_encoder=None if gpu else cpu_encoder, tried=[encoder], used=encoder,
        reason=reason, message=message, wall_seconds=1.5, media_seconds=3.75)
    ok = code == 0
    return status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED if ok else constants.Outcome.FAILED,
        exit_code=code, reason=None if ok else REASONS.get(code, "Internal"),
        message=f"source {job.source} does not exist" if code == 65
        else f"fake runner attempt {attempt} exit {code}",
        outputs=_outputs(job, attempt, encoder) if ok else [], metadata=metadata)


def _report_progress(percents: list[int]) -> None:
    """Write each percentage to the attempt's Redis key and publish it, as the runner does."""
    import redis

    client = redis.Redis.from_url(os.environ[contract.ENV_REDIS_URL],
                                  username=os.environ.get(contract.ENV_REDIS_USERNAME),
                                  password=os.environ.get(contract.ENV_REDIS_PASSWORD))
    namespace, name = os.environ[contract.ENV_JOB_NAMESPACE], os.environ[contract.ENV_JOB_NAME]
    key = contract.progress_key(namespace, name, os.environ[contract.ENV_POD_UID])
    for percent in percents:
        document = {"namespace": namespace, "name": name, "phase": "Running",
                    "attempt": int(os.environ[contract.ENV_ATTEMPT]),
                    **status.Progress(percent=percent, fps=60.0, speed=2.0).to_dict()}
        client.set(key, json.dumps(document), ex=contract.PROGRESS_TTL_SECONDS)
        client.publish(contract.PROGRESS_CHANNEL, key)
        time.sleep(0.2)


def _on_term(signum: int, frame: FrameType | None) -> None:
    time.sleep(float(os.environ.get("KT_FAKE_TERM_DELAY", "0")))
    sys.exit(143)


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)
    print(READY, flush=True)  # the handler is in place: SIGTERM is ours now
    job = spec.TranscodeJobSpec.from_json(os.environ[contract.ENV_JOB_SPEC])
    attempt = int(os.environ[contract.ENV_ATTEMPT])
    gpu = os.environ[contract.ENV_GPU_REQUESTED] == "true"
    code = int(_per_attempt("KT_FAKE_EXIT_CODES", "0", attempt))
    if os.environ.get("KT_FAKE_PROGRESS") and os.environ.get(contract.ENV_REDIS_URL):
        _report_progress([int(p) for p in os.environ["KT_FAKE_PROGRESS"].split(",")])
    time.sleep(float(_per_attempt("KT_FAKE_SLEEP", "0", attempt)))
    TERMINATION_LOG.write_text(result(job, attempt, gpu, code).to_termination_message())
    return code


if __name__ == "__main__":
    sys.exit(main())
