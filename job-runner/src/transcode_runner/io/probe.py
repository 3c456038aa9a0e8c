"""Decide whether NVENC can encode a codec here, on which GPU, and if not, why.

`pipeline` (before planning) and `cli probe` call `Prober.decide(codec)`. A GPU
encoder is judged usable only when every check passes, in this order: NVML sees
a device; a device has an encoder for the codec; it has at least
`min_free_mib` free memory; its encoder has capacity left; `ffmpeg -encoders`
lists the encoder (a list FFmpeg could not give in time claims nothing missing);
a one-frame test encode (lavfi testsrc to `-f null`) on the
chosen device succeeds within the timeout. The first failing check names the
`constants.FallbackReason`. NVML, FFmpeg and the environment are injected, so
unit tests drive every reason with a fake NVML and a fake process runner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from transcode_api import constants, contract
from transcode_runner.domain import errors
from transcode_runner.io import gpu, seams

Reason = constants.FallbackReason

# Encoder-open failures that mean "NVENC could not start" rather than "bad parameters".
_INIT_PATTERNS = re.compile(
    r"Cannot load|cuInit|CUDA_ERROR|No NVENC capable devices|No capable devices found|"
    r"OpenEncodeSessionEx failed|Driver does not support the required nvenc API|"
    r"nvenc API version|cuda.*not found|libnvidia-encode",
    re.IGNORECASE,
)
# What consumer drivers answer when their concurrent-session cap is reached.
_SESSION_PATTERNS = re.compile(
    r"incompatible client key|OpenEncodeSessionEx failed: out of memory", re.IGNORECASE
)


@dataclass(frozen=True)
class Decision:
    """The probe's verdict for one codec."""

    codec: str
    encoder: str | None
    """The GPU encoder judged (None when the codec has none)."""
    usable: bool
    device: int | None = None
    """NVML index of the chosen GPU (None when unknown or unusable)."""
    device_name: str | None = None
    reason: constants.FallbackReason | None = None
    """Why NVENC is not usable; None when it is."""
    message: str = ""
    """One line for people: what failed and what to check."""
    tested: bool = False
    """Whether FFmpeg ran a test encode with the encoder (it was really tried)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "encoder": self.encoder,
            "usable": self.usable,
            "device": self.device,
            "deviceName": self.device_name,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "tested": self.tested,
        }


@dataclass
class Prober:
    """Runs the checks; caches NVML inventory, encoder list and test encodes."""

    nvml: Any
    runner: seams.ProcessRunner
    ffmpeg: str = "ffmpeg"
    timeout: float = 20.0
    min_free_mib: int = 500
    device_index: int = -1
    """Use this NVML index; -1 picks the best-scoring usable device."""
    environ: Mapping[str, str] = field(default_factory=dict)
    _capability: gpu.GPUCapability | None = field(default=None, init=False)
    _encoders: frozenset[str] | None = field(default=None, init=False)
    _tests: dict[tuple[str, int | None], str | None] = field(default_factory=dict, init=False)

    @property
    def capability(self) -> gpu.GPUCapability:
        if self._capability is None:
            self._capability = gpu.inventory(self.nvml)
        return self._capability

    def reuse_ffmpeg_checks(self, other: Prober) -> None:
        """Take over another prober's encoder list and test-encode results."""
        self._encoders = other._encoders
        self._tests = dict(other._tests)

    def ffmpeg_encoders(self) -> frozenset[str]:
        """Encoder names `ffmpeg -hide_banner -encoders` lists (cached); empty when it
        listed none (it timed out or failed, as on a machine too busy to answer in time)."""
        if self._encoders is None:
            done = self.runner.run([self.ffmpeg, "-hide_banner", "-encoders"], self.timeout)
            names = set()
            if not done.timed_out and done.returncode == 0:
                for line in done.stdout.splitlines():
                    parts = line.split()
                    if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
                        names.add(parts[1])
            self._encoders = frozenset(names)
        return self._encoders

    def lacks(self, encoder: str) -> bool:
        """FFmpeg's list was read and `encoder` is not on it. Without a list nothing is
        claimed missing: the test encode decides."""
        names = self.ffmpeg_encoders()
        return bool(names) and encoder not in names

    def decide(self, codec: str) -> Decision:
        """Judge the GPU encoder for `codec` (see the module docstring for the order)."""
        encoder = constants.CODEC_ENCODERS.get(codec, (None, ""))[0]
        if encoder is None:
            return Decision(codec, None, False, reason=Reason.CODEC_NOT_SUPPORTED_ON_GPU,
                            message=f"no NVENC encoder exists for {codec}")
        capability = self.capability
        if capability.nvml_error is not None:
            return self._without_nvml(codec, encoder, capability.nvml_error)
        if capability.device_count == 0:
            return Decision(codec, encoder, False, reason=Reason.NO_GPU,
                            message="NVML sees no GPU in this container")
        devices = capability.devices
        if self.device_index >= 0:
            devices = [d for d in devices if d.index == self.device_index]
            if not devices:
                return Decision(codec, encoder, False, reason=Reason.NO_GPU,
                                message=f"GPU {self.device_index} is not visible "
                                f"({capability.device_count} visible)")
        with_engine = [d for d in devices if d.nvenc_supported]
        if not with_engine:
            names = ", ".join(sorted({d.name for d in devices}))
            return Decision(codec, encoder, False, reason=Reason.NO_ENCODER_ON_DEVICE,
                            message=f"{names} has no NVENC encoder (decode-only GPU)")
        for_codec = [d for d in with_engine if d.encoder_capacity.get(codec) is not None]
        if not for_codec:
            return Decision(codec, encoder, False, reason=Reason.CODEC_NOT_SUPPORTED_ON_GPU,
                            message=f"{with_engine[0].name} cannot encode {codec} with NVENC")
        roomy = [d for d in for_codec if d.memory_free_mib >= self.min_free_mib]
        if not roomy:
            most = max(d.memory_free_mib for d in for_codec)
            return Decision(codec, encoder, False, reason=Reason.INSUFFICIENT_GPU_MEMORY,
                            message=f"{most} MiB free GPU memory, {self.min_free_mib} MiB needed")
        open_ = [d for d in roomy if d.encoder_capacity.get(codec)]
        if not open_:
            sessions = max(d.encoder_sessions for d in roomy)
            return Decision(codec, encoder, False, reason=Reason.SESSION_LIMIT_REACHED,
                            message=f"encoder capacity exhausted ({sessions} active sessions)")
        if self.lacks(encoder):
            return Decision(codec, encoder, False, reason=Reason.ENCODER_NOT_IN_FFMPEG,
                            message=f"{self.ffmpeg} was built without {encoder}")
        best = gpu.best_device(open_)
        assert best is not None  # open_ is not empty
        failure = self.test_encode(encoder, best.index)
        if failure is not None:
            reason, message = classify_failure(failure, self.environ, best.encoder_sessions)
            return Decision(codec, encoder, False, best.index, best.name, reason, message,
                            tested=True)
        return Decision(codec, encoder, True, best.index, best.name,
                        message=f"{encoder} on GPU {best.index} ({best.name})", tested=True)

    def test_encode(self, encoder: str, device: int | None) -> str | None:
        """Encode one frame with `encoder`; None on success, else FFmpeg's error."""
        key = (encoder, device)
        if key not in self._tests:
            argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
                    "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
                    "-frames:v", "1", "-c:v", encoder]
            if device is not None:
                argv += ["-gpu", str(device)]
            argv += ["-f", "null", "-"]
            done = self.runner.run(argv, self.timeout)
            if done.timed_out:
                self._tests[key] = f"timed out after {self.timeout:.0f} s"
            elif done.returncode != 0:
                self._tests[key] = _ffmpeg_error(done.stderr) or f"exit status {done.returncode}"
            else:
                self._tests[key] = None
        return self._tests[key]

    def _without_nvml(self, codec: str, encoder: str, nvml_error: str) -> Decision:
        # NVML can be missing while NVENC works (a container without the
        # `utility` capability); FFmpeg gets the last word.
        if self.lacks(encoder):
            return Decision(codec, encoder, False, reason=Reason.NVML_UNAVAILABLE,
                            message=f"{nvml_error}; {self.ffmpeg} lacks {encoder} too")
        failure = self.test_encode(encoder, None)
        if failure is None:
            return Decision(codec, encoder, True, tested=True,
                            message=f"{encoder} works although NVML is unavailable ({nvml_error})")
        return Decision(codec, encoder, False, reason=Reason.NVML_UNAVAILABLE, tested=True,
                        message=f"{nvml_error}; {encoder} test encode failed: {failure}")



def classify_failure(
    failure: str, environ: Mapping[str, str], sessions: int | None = None
) -> tuple[constants.FallbackReason, str]:
    """Name the reason for an NVENC encode failure from FFmpeg's error text.

    Also used by `encode` when a GPU encode fails after a good probe (then the
    device's session count is not known: `sessions` is None).
    """
    if _SESSION_PATTERNS.search(failure) and (sessions is None or sessions > 0):
        return Reason.SESSION_LIMIT_REACHED, f"NVENC session limit reached: {failure}"
    if _INIT_PATTERNS.search(failure):
        hint = capability_hint(environ)
        return Reason.NVENC_INIT_FAILED, f"NVENC could not start: {failure}{hint}"
    return Reason.ENCODE_FAILED, f"NVENC encode failed: {failure}"


def capability_hint(environ: Mapping[str, str]) -> str:
    """A hint when the container likely lacks the `video` driver capability."""
    raw = environ.get(contract.ENV_NVIDIA_DRIVER_CAPABILITIES)
    if raw is None:
        return ""
    caps = {part.strip() for part in raw.split(",")}
    if "all" in caps or "video" in caps:
        return ""
    return (f" (likely cause: {contract.ENV_NVIDIA_DRIVER_CAPABILITIES}={raw} lacks `video`,"
            " so the container has no libnvidia-encode)")


def gpu_error_line(lines: Sequence[str]) -> str | None:
    """The line of FFmpeg's stderr in which NVENC or CUDA complains, if any."""
    for line in lines:
        if _INIT_PATTERNS.search(line) or _SESSION_PATTERNS.search(line):
            return errors.one_line(_strip_context(line.strip()), limit=200)
    return None


def _ffmpeg_error(stderr: str) -> str:
    """The most telling line of FFmpeg's stderr (the encoder's own complaint)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    found = gpu_error_line(lines)
    if found is not None:
        return found
    return errors.one_line(_strip_context(lines[0]), limit=200) if lines else ""


def _strip_context(line: str) -> str:
    """`[h264_nvenc @ 0x55c0a7aa8840] Cannot load libcuda.so.1` -> `h264_nvenc: Cannot ...`."""
    return re.sub(r"^\[([\w-]+) @ 0x[0-9a-f]+\]\s*", r"\1: ", line)
