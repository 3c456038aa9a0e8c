"""Fakes for the runner's seams: NVML, the process runner, the clock, sinks.

Used by the unit tests in this folder only; each fake records what it was asked
so a test can assert on the arguments (FFmpeg argv, patches, Redis writes).
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from transcode_api import spec
from transcode_runner.domain import media, tracks
from transcode_runner.io import seams

MiB = 1024 * 1024


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError (which carries `value`)."""

    def __init__(self, value: int, text: str = "") -> None:
        super().__init__(text or f"NVML error {value}")
        self.value = value


@dataclass
class FakeGPU:
    name: str = "NVIDIA L4"
    total_mib: int = 23_034
    free_mib: int = 22_000
    util: int = 5
    encoder_util: int = 0
    sessions: int = 0
    temperature: int = 40
    # codec query index (0 h264, 1 hevc, 2 av1) -> capacity %, or None for NotSupported
    capacity: dict[int, int | None] = field(default_factory=lambda: {0: 100, 1: 100, 2: 100})
    decoder_util: int | None = 3
    """NVDEC utilization %; None: the query is NotSupported (no NVDEC)."""


class FakeNVML:
    """The subset of pynvml that `gpu.inventory` calls."""

    NVML_ENCODER_QUERY_H264 = 0
    NVML_ENCODER_QUERY_HEVC = 1
    NVML_ENCODER_QUERY_AV1 = 2
    NVML_TEMPERATURE_GPU = 0
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_LIBRARY_NOT_FOUND = 12

    def __init__(self, gpus: Sequence[FakeGPU] = (), init_error: str | None = None) -> None:
        self.gpus = list(gpus)
        self.init_error = init_error
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise NVMLError(self.NVML_ERROR_LIBRARY_NOT_FOUND, self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGPU:
        return self.gpus[index]

    def nvmlDeviceGetName(self, gpu: FakeGPU) -> str:
        return gpu.name

    def nvmlDeviceGetUUID(self, gpu: FakeGPU) -> str:
        return f"GPU-{self.gpus.index(gpu)}"

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGPU) -> Any:
        return SimpleNamespace(total=gpu.total_mib * MiB, free=gpu.free_mib * MiB,
                               used=(gpu.total_mib - gpu.free_mib) * MiB)

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGPU) -> Any:
        return SimpleNamespace(gpu=gpu.util, memory=0)

    def nvmlDeviceGetEncoderUtilization(self, gpu: FakeGPU) -> list[int]:
        return [gpu.encoder_util, 167_000]

    def nvmlDeviceGetDecoderUtilization(self, gpu: FakeGPU) -> list[int]:
        if gpu.decoder_util is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED, "Not Supported")
        return [gpu.decoder_util, 167_000]

    def nvmlDeviceGetEncoderStats(self, gpu: FakeGPU) -> tuple[int, int, int]:
        return (gpu.sessions, 0, 0)

    def nvmlDeviceGetTemperature(self, gpu: FakeGPU, sensor: int) -> int:
        return gpu.temperature

    def nvmlDeviceGetEncoderCapacity(self, gpu: FakeGPU, query: int) -> int:
        value = gpu.capacity.get(query)
        if value is None:
            raise NVMLError(self.NVML_ERROR_NOT_SUPPORTED, "Not Supported")
        return value

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040


class FakeProcess:
    """A finished-on-demand process whose stdout/stderr are given up front."""

    def __init__(self, stdout: bytes = b"", stderr: bytes = b"", returncode: int = 0,
                 hang: bool = False) -> None:
        self.pid = 4242
        self.returncode = returncode
        self.hang = hang
        self.stdout: Any = _Blocking(stdout, hang)
        self.stderr: Any = io.BytesIO(stderr)
        self.terminated = False
        self.killed = False

    def poll(self) -> int | None:
        return None if self.hang and not (self.terminated or self.killed) else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.hang and not (self.terminated or self.killed):
            raise subprocess.TimeoutExpired("ffmpeg", timeout or 0)
        return -15 if self.terminated else self.returncode

    def terminate(self) -> None:
        self.terminated = True
        self.stdout.release()

    def kill(self) -> None:
        self.killed = True
        self.stdout.release()


class _Blocking(io.BytesIO):
    """stdout that, when `hang`, blocks after its data until released."""

    def __init__(self, data: bytes, hang: bool) -> None:
        super().__init__(data)
        import threading

        self._released = threading.Event()
        if not hang:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    def __iter__(self) -> Any:
        yield from io.BytesIO(self.getvalue())
        self._released.wait(10)


class FakeRunner:
    """A `seams.ProcessRunner` that answers from rules and records every argv."""

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self.ran: list[list[str]] = []
        self.start_rules: list[tuple[Callable[[list[str]], bool], Callable[[], FakeProcess]]] = []
        self.run_rules: list[tuple[Callable[[list[str]], bool], seams.Completed]] = []

    def on_start(self, when: Callable[[list[str]], bool], make: Callable[[], FakeProcess]) -> None:
        self.start_rules.append((when, make))

    def on_run(self, when: Callable[[list[str]], bool], answer: seams.Completed) -> None:
        self.run_rules.append((when, answer))

    def start(self, argv: Sequence[str]) -> FakeProcess:
        argv = list(argv)
        self.started.append(argv)
        for when, make in self.start_rules:
            if when(argv):
                return make()
        return FakeProcess()

    def run(self, argv: Sequence[str], timeout: float) -> seams.Completed:
        argv = list(argv)
        self.ran.append(argv)
        for when, answer in self.run_rules:
            if when(argv):
                return answer
        return seams.Completed(0, "", "")


class FakeClock:
    """A clock that moves only when told (or by `step` on every monotonic read)."""

    def __init__(self, step: float = 0.0) -> None:
        self.t = 1000.0
        self.step = step

    def monotonic(self) -> float:
        self.t += self.step
        return self.t

    def now(self) -> dt.datetime:
        return dt.datetime(2025, 1, 17, 12, 0, 0, tzinfo=dt.UTC) + dt.timedelta(
            seconds=self.t - 1000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeSink:
    """A `report.StatusSink` that records patches (and can fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.patches: list[dict[str, Any]] = []
        self.fail = fail

    def patch(self, body: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("API server unreachable")
        self.patches.append(body)


class FakeRedis:
    """The two Redis calls the reporter makes."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, int | None]] = {}
        self.published: list[tuple[str, str]] = []

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.values[key] = (value, ex)

    def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))


def progress_block(seconds: float, fps: float = 50.0, speed: float = 2.0, end: bool = False
                   ) -> bytes:
    """One `-progress` block as FFmpeg prints it."""
    micros = int(seconds * 1_000_000)
    return (f"frame={int(seconds * 25)}\nfps={fps}\nbitrate=1000kbits/s\n"
            f"out_time_us={micros}\nout_time_ms={micros}\nout_time=00:00:{seconds:09.6f}\n"
            f"speed={speed}x\nprogress={'end' if end else 'continue'}\n").encode()


SOURCE = media.MediaInfo(
    path=Path("/scratch/source.mov"), size=10_000_000, format_name="mov,mp4", duration=60.0,
    width=1920, height=1080, sample_aspect=Fraction(1), fps=25.0, video_codec="h264",
    has_audio=True, audio_codec="aac", bit_rate=8_000_000,
    audio_tracks=(tracks.AudioTrack(index=1, position=0, codec="aac", channels=2,
                                    layout="stereo", language=None, default=True, title=None),),
)


def job(*outputs: dict[str, Any], **acceleration: Any) -> spec.TranscodeJobSpec:
    """A valid spec with these outputs (names o0, o1, ...) and acceleration settings."""
    return spec.parse_spec({
        "source": "s3://media-in/trailer.mov",
        "outputs": [{"name": f"o{i}", "destination": f"s3://media-out/o{i}.mp4", **o}
                    for i, o in enumerate(outputs)],
        "acceleration": acceleration,
    })
