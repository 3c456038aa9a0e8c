"""NVML inventory: what GPUs this container sees and how busy their encoders are.

`probe` calls `inventory(nvml)` with the NVML binding (`load_nvml()` returns
the real `pynvml` module; unit tests pass a fake with the same functions) and
gets a `GPUCapability` with the seed's fields plus per-device utilization,
encoder and decoder (NVDEC) utilization, encoder sessions, temperature and
per-codec encoder capacity. `best_device` ranks devices by the seed's score. Reading NVML never
raises: a missing library or driver becomes `GPUCapability.nvml_error`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transcode_api import constants

MiB = 1024 * 1024

# Data-centre GPUs with NVDEC but no NVENC: a safety net for drivers whose
# encoder-capacity query answers 0 instead of NotSupported.
NO_NVENC_MODELS: tuple[str, ...] = (
    "A100",
    "A30",
    "A800",
    "H100",
    "H800",
    "H200",
    "GH200",
    "B100",
    "B200",
    "GB200",
)

# codec -> name of the pynvml constant for nvmlDeviceGetEncoderCapacity.
_CAPACITY_QUERY: dict[str, str] = {
    constants.Codec.H264.value: "NVML_ENCODER_QUERY_H264",
    constants.Codec.HEVC.value: "NVML_ENCODER_QUERY_HEVC",
    constants.Codec.AV1.value: "NVML_ENCODER_QUERY_AV1",
}
_QUERY_DEFAULTS = {"NVML_ENCODER_QUERY_H264": 0, "NVML_ENCODER_QUERY_HEVC": 1}


@dataclass(frozen=True)
class Device:
    """One GPU as NVML reports it."""

    index: int
    name: str
    uuid: str | None
    memory_total_mib: int
    memory_free_mib: int
    utilization_percent: int | None
    encoder_utilization_percent: int | None
    encoder_sessions: int
    temperature_c: int | None
    encoder_capacity: dict[str, int | None] = field(default_factory=dict)
    """codec -> remaining encoder capacity in percent; None = not supported."""
    decoder_utilization_percent: int | None = None
    """NVDEC utilization; None when NVML cannot read it (no NVDEC engine)."""

    @property
    def nvdec_supported(self) -> bool:
        """The device reports an NVDEC engine (its decoder utilization can be read)."""
        return self.decoder_utilization_percent is not None

    @property
    def known_without_nvenc(self) -> bool:
        """A model that has no NVENC engine at all (H100, H200, A100, ...)."""
        tokens = re.split(r"[\s_-]+", self.name.upper())
        return any(model in tokens for model in NO_NVENC_MODELS)

    @property
    def nvenc_supported(self) -> bool:
        """The device has an NVENC engine for at least one codec."""
        if self.known_without_nvenc:
            return False
        known = [value for value in self.encoder_capacity.values() if value is not None]
        # No capacity anywhere while nothing is encoding: there is no engine.
        return bool(known) and (any(known) or self.encoder_sessions > 0)

    @property
    def score(self) -> float:
        """free memory x (100 - utilization), divided by (1 + active sessions)."""
        busy = self.utilization_percent or 0
        return self.memory_free_mib * (100 - busy) / (1 + self.encoder_sessions)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "memoryTotalMiB": self.memory_total_mib,
            "memoryFreeMiB": self.memory_free_mib,
            "memoryUsedMiB": self.memory_total_mib - self.memory_free_mib,
            "utilizationPercent": self.utilization_percent,
            "encoderUtilizationPercent": self.encoder_utilization_percent,
            "encoderSessions": self.encoder_sessions,
            "temperatureC": self.temperature_c,
            "nvencSupported": self.nvenc_supported,
            "encoderCapacity": dict(self.encoder_capacity),
            "decoderUtilizationPercent": self.decoder_utilization_percent,
            "nvdecSupported": self.nvdec_supported,
        }


@dataclass(frozen=True)
class GPUCapability:
    """The seed's GPUCapability, plus the per-device details."""

    available: bool
    device_count: int
    device_names: list[str]
    nvenc_supported: bool
    max_encoders: int
    """Devices with an NVENC engine (each can host encode sessions)."""
    memory_total_mib: list[int]
    memory_free_mib: list[int]
    driver_version: str | None
    cuda_version: str | None
    devices: list[Device]
    nvml_error: str | None = None
    """Why NVML could not be read (no library, no driver); None when it could."""

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "deviceCount": self.device_count,
            "deviceNames": list(self.device_names),
            "nvencSupported": self.nvenc_supported,
            "maxEncoders": self.max_encoders,
            "memoryTotalMiB": list(self.memory_total_mib),
            "memoryFreeMiB": list(self.memory_free_mib),
            "driverVersion": self.driver_version,
            "cudaVersion": self.cuda_version,
            "nvmlError": self.nvml_error,
            "devices": [device.to_json() for device in self.devices],
        }


def load_nvml() -> Any:
    """The real NVML binding (`pynvml` from nvidia-ml-py), or None if not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def unavailable(reason: str) -> GPUCapability:
    """A capability that says NVML could not be read, and why."""
    return GPUCapability(False, 0, [], False, 0, [], [], None, None, [], nvml_error=reason)


def inventory(nvml: Any) -> GPUCapability:
    """Read every visible device through `nvml`; never raises."""
    if nvml is None:
        return unavailable("the NVML Python binding (nvidia-ml-py) is not installed")
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError subclasses vary by cause
        return unavailable(f"NVML did not initialise: {_describe(exc)}")
    try:
        count = int(nvml.nvmlDeviceGetCount())
        devices = [_device(nvml, index) for index in range(count)]
        driver = _call(nvml, "nvmlSystemGetDriverVersion")
        cuda = _call(nvml, "nvmlSystemGetCudaDriverVersion")
    except Exception as exc:  # noqa: BLE001
        return unavailable(f"NVML could not list devices: {_describe(exc)}")
    finally:
        _call(nvml, "nvmlShutdown")
    return GPUCapability(
        available=count > 0,
        device_count=count,
        device_names=[device.name for device in devices],
        nvenc_supported=any(device.nvenc_supported for device in devices),
        max_encoders=sum(1 for device in devices if device.nvenc_supported),
        memory_total_mib=[device.memory_total_mib for device in devices],
        memory_free_mib=[device.memory_free_mib for device in devices],
        driver_version=_text(driver),
        cuda_version=_cuda_version(cuda),
        devices=devices,
    )


def best_device(devices: Iterable[Device]) -> Device | None:
    """The device with the highest `Device.score` (lowest index on ties)."""
    ranked = sorted(devices, key=lambda device: (-device.score, device.index))
    return ranked[0] if ranked else None


def _device(nvml: Any, index: int) -> Device:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    rates = _call(nvml, "nvmlDeviceGetUtilizationRates", handle)
    encoder_util = _call(nvml, "nvmlDeviceGetEncoderUtilization", handle)
    decoder_util = _call(nvml, "nvmlDeviceGetDecoderUtilization", handle)
    stats = _call(nvml, "nvmlDeviceGetEncoderStats", handle)
    temperature = _call(
        nvml, "nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    )
    return Device(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)) or f"GPU {index}",
        uuid=_text(_call(nvml, "nvmlDeviceGetUUID", handle)),
        memory_total_mib=int(memory.total) // MiB,
        memory_free_mib=int(memory.free) // MiB,
        utilization_percent=int(rates.gpu) if rates is not None else None,
        encoder_utilization_percent=int(encoder_util[0]) if encoder_util else None,
        encoder_sessions=int(stats[0]) if stats else 0,
        temperature_c=int(temperature) if temperature is not None else None,
        encoder_capacity={
            codec: _capacity(nvml, handle, query) for codec, query in _CAPACITY_QUERY.items()
        },
        decoder_utilization_percent=int(decoder_util[0]) if decoder_util else None,
    )


def _capacity(nvml: Any, handle: Any, query_name: str) -> int | None:
    query = getattr(nvml, query_name, _QUERY_DEFAULTS.get(query_name))
    if query is None:  # this NVML binding predates the codec
        return None
    try:
        return int(nvml.nvmlDeviceGetEncoderCapacity(handle, query))
    except Exception:  # noqa: BLE001 - NotSupported, InvalidArgument: no encoder for it
        return None


def _call(nvml: Any, name: str, *args: Any) -> Any:
    """Call an optional NVML function; None when missing or not supported."""
    function = getattr(nvml, name, None)
    if function is None:
        return None
    try:
        return function(*args)
    except Exception:  # noqa: BLE001 - optional metrics must not fail the probe
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _cuda_version(value: Any) -> str | None:
    """NVML's CUDA driver version 12040 -> "12.4"."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return _text(value)
    return f"{number // 1000}.{(number % 1000) // 10}"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())
