"""Turn a spec, the source's facts and the encoder choices into FFmpeg argument lists.

Pure functions, called by `pipeline` (and by `encode` for the CPU re-plan after
a GPU failure). `choose` picks each output's encoder from the spec and the
probe's `Decision`s; `build` returns a `Plan`: one FFmpeg process that decodes
the source once, splits the video to every output (`-filter_complex split`,
scaled with the aspect ratio kept, even dimensions, never upscaled), encodes
each with its encoder settings (NVENC per the seed, libx264/libx265/... with
preset and bitrate or CRF) and writes `-progress pipe:1`. A job with two-pass
outputs gets two processes: an analysis pass for those outputs, then the real
pass for all. Argument lists only: nothing here is ever given to a shell.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from transcode_api import constants, output, spec
from transcode_runner import encoders, errors, media

Reason = constants.FallbackReason


@dataclass(frozen=True)
class Choice:
    """Which encoder one output uses, and why it is not the GPU one (if so)."""

    encoder: str
    gpu: bool
    device: int | None = None
    gpu_encoder: str | None = None
    """The NVENC encoder the output would have used on a usable GPU (None if none)."""
    reason: constants.FallbackReason | None = None
    message: str = ""
    tested: bool = False
    """The probe's test encode ran `gpu_encoder` (so it counts as tried)."""


@dataclass(frozen=True)
class OutputPlan:
    """One output file of the plan."""

    name: str
    destination: str
    path: Path
    """Local file FFmpeg writes."""
    container: constants.Container
    encoder: str
    gpu: bool
    width: int
    height: int
    two_pass: bool

    @property
    def content_type(self) -> str:
        return encoders.CONTENT_TYPES[self.container.value]


@dataclass(frozen=True)
class Plan:
    """FFmpeg processes to run, in order, and the outputs they produce."""

    passes: tuple[tuple[str, ...], ...]
    outputs: tuple[OutputPlan, ...]
    choices: tuple[Choice, ...]

    @property
    def uses_gpu(self) -> bool:
        return any(choice.gpu for choice in self.choices)


class Verdict(Protocol):
    """What `choose` reads from a probe decision (`probe.Decision` fits)."""

    @property
    def usable(self) -> bool: ...

    @property
    def device(self) -> int | None: ...

    @property
    def reason(self) -> constants.FallbackReason | None: ...

    @property
    def message(self) -> str: ...

    @property
    def tested(self) -> bool: ...


def choose(
    job: spec.TranscodeJobSpec, decide: Callable[[str], Verdict] | None
) -> tuple[Choice, ...]:
    """Pick every output's encoder. `decide(codec)` is the probe; None: trust the GPU.

    Raises `errors.Transient` when a GPU is required (mode gpu without CPU
    fallback) but the probe finds it unusable.
    """
    mode = constants.AccelerationMode(job.acceleration.mode)
    return tuple(_choose_one(o.video, mode, job.acceleration.allow_cpu_fallback, decide)
                 for o in job.outputs)


def _choose_one(
    video: output.VideoSpec,
    mode: constants.AccelerationMode,
    allow_fallback: bool,
    decide: Callable[[str], Verdict] | None,
) -> Choice:
    codec = video.effective_codec.value
    gpu_encoder, cpu_encoder = constants.CODEC_ENCODERS[codec]
    if video.encoder is not None and video.encoder.value in constants.CPU_ENCODERS:
        return Choice(video.encoder.value, False, gpu_encoder=gpu_encoder,
                      reason=Reason.CPU_REQUESTED, message=f"encoder {video.encoder} requested")
    if video.encoder is not None:
        gpu_encoder = video.encoder.value
    cpu = Choice(cpu_encoder, False, gpu_encoder=gpu_encoder, reason=Reason.CPU_REQUESTED)
    if mode == constants.AccelerationMode.CPU:
        return replace(cpu, message="acceleration.mode is cpu")
    if video.preset == constants.Preset.CPU:
        return replace(cpu, message="preset cpu requested")
    if video.two_pass:
        return replace(cpu, message="two-pass encoding runs on the CPU only")
    if gpu_encoder is None:
        return replace(cpu, reason=Reason.CODEC_NOT_SUPPORTED_ON_GPU,
                       message=f"no NVENC encoder exists for {codec}")
    if decide is None:
        return Choice(gpu_encoder, True, gpu_encoder=gpu_encoder)
    decision = decide(codec)
    if decision.usable:
        return Choice(gpu_encoder, True, decision.device, gpu_encoder=gpu_encoder)
    if not allow_fallback:
        raise errors.Transient(
            f"GPU required but unusable ({decision.reason}): {decision.message}",
            reason=str(decision.reason or "GPUUnusable"),
        )
    return Choice(cpu_encoder, False, gpu_encoder=gpu_encoder, reason=decision.reason,
                  message=decision.message, tested=decision.tested)


def on_cpu(choices: Sequence[Choice], reason: constants.FallbackReason, message: str
           ) -> tuple[Choice, ...]:
    """The same choices with every GPU encoder replaced by its CPU counterpart."""
    return tuple(
        replace(c, encoder=constants.CODEC_ENCODERS[constants.ENCODER_CODEC[c.encoder]][1],
                gpu=False, device=None, reason=reason, message=message) if c.gpu else c
        for c in choices
    )


def build(
    job: spec.TranscodeJobSpec,
    source: media.MediaInfo,
    choices: Sequence[Choice],
    scratch: Path,
    ffmpeg: str = "ffmpeg",
) -> Plan:
    """The FFmpeg processes that produce every output of `job` from `source`."""
    outs = tuple(
        OutputPlan(
            name=o.name,
            destination=o.destination,
            path=scratch / f"out-{o.name}.{encoders.EXTENSIONS[o.container.value]}",
            container=constants.Container(o.container),
            encoder=c.encoder,
            gpu=c.gpu,
            width=(size := frame_size(o.video, source))[0],
            height=size[1],
            two_pass=o.video.two_pass and encoders.supports_two_pass(c.encoder),
        )
        for o, c in zip(job.outputs, choices, strict=True)
    )
    specs = {o.name: o for o in job.outputs}
    passes: list[tuple[str, ...]] = []
    if any(o.two_pass for o in outs):
        first = [o for o in outs if o.two_pass]
        passes.append(_process(ffmpeg, source, first, choices_by(outs, choices), specs,
                               scratch, analysis=True))
    passes.append(_process(ffmpeg, source, list(outs), choices_by(outs, choices), specs,
                           scratch, analysis=False))
    return Plan(tuple(passes), outs, tuple(choices))


def choices_by(outs: Sequence[OutputPlan], choices: Sequence[Choice]) -> dict[str, Choice]:
    return {o.name: c for o, c in zip(outs, choices, strict=True)}


def frame_size(video: output.VideoSpec, source: media.MediaInfo) -> tuple[int, int]:
    """Output width and height: aspect kept (square pixels), even, never above the source.

    A named resolution sets the short side, so `720p` of a portrait 1080x1920
    source is 720x1280. Width and height together are a box the frame fits in.
    """
    src_w, src_h = max(source.display_width, 2.0), float(max(source.height, 2))
    if video.resolution is not None:
        target = float(constants.RESOLUTION_HEIGHTS[video.resolution.value])
        short = min(src_w, src_h)
        scale = min(target / short, 1.0)
    elif video.width is not None and video.height is not None:
        scale = min(video.width / src_w, video.height / src_h, 1.0)
    elif video.width is not None:
        scale = min(video.width / src_w, 1.0)
    elif video.height is not None:
        scale = min(video.height / src_h, 1.0)
    else:
        scale = 1.0
    return _even(src_w * scale), _even(src_h * scale)


def _even(value: float) -> int:
    return max(2, int(value / 2 + 0.5) * 2)


def _process(
    ffmpeg: str,
    source: media.MediaInfo,
    outs: Sequence[OutputPlan],
    choices: dict[str, Choice],
    specs: dict[str, output.OutputSpec],
    scratch: Path,
    analysis: bool,
) -> tuple[str, ...]:
    argv: list[str] = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                       "-progress", "pipe:1", "-nostats",
                       "-i", "file:" + os.fspath(source.path.resolve())]
    labels = [f"v{i}" for i in range(len(outs))]
    chains = [f"scale={o.width}:{o.height}:flags=bicubic,setsar=1,format=yuv420p"
              for o in outs]
    if len(outs) == 1:
        graph = f"[0:v:0]{chains[0]}[{labels[0]}]"
    else:
        split = "".join(f"[s{i}]" for i in range(len(outs)))
        graph = ";".join([f"[0:v:0]split={len(outs)}{split}"]
                         + [f"[s{i}]{chain}[{label}]"
                            for i, (chain, label) in enumerate(zip(chains, labels, strict=True))])
    argv += ["-filter_complex", graph]
    for o, label in zip(outs, labels, strict=True):
        o_spec = specs[o.name]
        argv += ["-map", f"[{label}]"]
        argv += encoders.video_args(o.encoder, o_spec.video, choices[o.name].device, o,
                                    source.fps)
        if analysis:
            argv += encoders.pass_args(o.encoder, 1, _passlog(scratch, o.name))
            argv += ["-an", "-f", "null", os.devnull]
            continue
        if o.two_pass:
            argv += encoders.pass_args(o.encoder, 2, _passlog(scratch, o.name))
        argv += _audio_args(o_spec, source)
        argv += ["-max_muxing_queue_size", "1024"]
        argv += encoders.container_args(o.container.value)
        argv += ["file:" + os.fspath(o.path.resolve())]
    return tuple(argv)


def _passlog(scratch: Path, name: str) -> Path:
    return scratch / f"passlog-{name}"


def _audio_args(o: output.OutputSpec, source: media.MediaInfo) -> list[str]:
    codec = o.audio.effective_codec(constants.Container(o.container))
    if codec == constants.AudioCodec.NONE or not source.has_audio:
        return ["-an"]
    args = ["-map", "0:a:0?"]
    if codec == constants.AudioCodec.COPY:
        return args + ["-c:a", "copy"]
    if codec == constants.AudioCodec.OPUS:
        bitrate = o.audio.bitrate or 96_000
        return args + ["-c:a", "libopus", "-b:a", str(bitrate)]
    bitrate = o.audio.bitrate or 128_000
    return args + ["-c:a", "aac", "-b:a", str(bitrate)]
