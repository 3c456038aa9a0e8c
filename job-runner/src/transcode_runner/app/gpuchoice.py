"""The GPU side of one attempt: the probe, the per-codec decisions, the decoder, the provenance.

`pipeline._attempt` asks `prober` for the attempt's NVML/NVENC prober (None when the
probe is off), hands `decider` to `plan.choose` (each codec probed once), asks
`decode` whether frames are decoded by NVDEC (NVENC outputs, or the hybrid plan on a
GPU without NVENC) or on the CPU, and builds the seed's job `metadata` with the
fallback provenance from the choices and the encode's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transcode_api import constants, provenance, spec, status
from transcode_runner.domain import graph, media, plan
from transcode_runner.io import encode, nvdec, probe, settings

log = logging.getLogger(__name__)

Reason = constants.FallbackReason


def metadata(
    choices: Sequence[plan.Choice], outcome: encode.Outcome, duration: float
) -> status.JobMetadata:
    """The seed's job metadata with the fallback provenance."""
    final = outcome.plan.choices
    gpu_used = next((c for c in final if c.gpu), None)
    decode = outcome.plan.decode
    cpu_used = next((c for c in final if not c.gpu), None)
    probed = [c.gpu_encoder for c in choices if c.gpu_encoder and c.tested and not c.gpu]
    tried = list(dict.fromkeys([*probed, *outcome.encoders_tried]))
    wanted_gpu = next((c.gpu_encoder for c in choices
                       if c.gpu or (c.gpu_encoder and c.reason != Reason.CPU_REQUESTED)), None)
    return provenance.job_metadata(
        gpu_encoder=gpu_used.encoder if gpu_used else None,
        gpu_device=gpu_used.device if gpu_used else decode.device, wanted_gpu_encoder=wanted_gpu,
        cpu_encoder=cpu_used.encoder if cpu_used else None, tried=tried,
        used=final[0].encoder if final else None, reason=outcome.fallback_reason,
        message=outcome.fallback_message, wall_seconds=outcome.wall_seconds,
        media_seconds=outcome.media_seconds or duration, decoder_gpu=decode.gpu,
        decoder_message=outcome.decode_message or decode.message)


def prober(job: spec.TranscodeJobSpec, cfg: settings.Settings, nvml: Any, runner: Any,
           environ: Mapping[str, str]) -> probe.Prober | None:
    """The GPU prober of this attempt, or None when settings turn the probe off."""
    if not cfg.gpu_probe:
        return None
    return probe.Prober(
        nvml=nvml,
        runner=runner,
        ffmpeg=cfg.ffmpeg_path,
        timeout=cfg.probe_timeout_seconds,
        min_free_mib=job.acceleration.min_free_gpu_memory_mib,
        device_index=cfg.gpu_device_index,
        environ=environ,
    )


def decider(found: probe.Prober | None) -> Callable[[str], probe.Decision] | None:
    """`plan.choose`'s per-codec decision, probed once per codec."""
    if found is None:
        return None
    cache: dict[str, probe.Decision] = {}

    def decide(codec: str) -> probe.Decision:
        if codec not in cache:
            cache[codec] = found.decide(codec)
            log.info("probe %s: %s", codec, cache[codec].message)
        return cache[codec]

    return decide


def decode(job: spec.TranscodeJobSpec, cfg: settings.Settings, runner: Any,
           choices: Sequence[plan.Choice], source: media.MediaInfo,
           found: probe.Prober | None) -> graph.Decode:
    """NVDEC for NVENC outputs and for the hybrid plan (NVDEC, no NVENC); else the CPU."""
    if found is None or job.acceleration.mode == constants.AccelerationMode.CPU:
        return graph.CPU
    hybrid = any(c.reason == Reason.NO_ENCODER_ON_DEVICE for c in choices)
    if not (any(c.gpu for c in choices) or hybrid):
        return graph.CPU
    chosen = nvdec.decide(found.capability, source, runner, cfg.ffmpeg_path,
                          cfg.probe_timeout_seconds, cfg.gpu_device_index)
    log.info("decode: %s", chosen.message)
    return chosen
