"""Turn a spec, the source's facts and the encoder choices into FFmpeg argument lists.

Pure functions, called by `pipeline` (and by `encode` for the CPU re-plan after
a GPU failure). `choose` picks each output's encoder from the spec and the
probe's `Decision`s; `build` returns a `Plan`: one FFmpeg process that decodes
the source once (on the CPU or on NVDEC, `graph.Decode`), runs the one filter
graph of `graph` (each output's `render.Look`: displayed size, deinterlace,
colour, HDR or tone mapping, rate), encodes each output with its encoder
settings (NVENC per the seed, libx264/libx265/... with preset and bitrate or
CRF), tags its colour, keeps the source's timing unless a rate is asked, and
writes `-progress pipe:1`; a packaged job's rungs get keyframes at every
segment boundary (`keyframes`) and every track ends with the picture; the
thumbnails (`thumbplan`) are more branches and outputs of the last process. A job with two-pass outputs gets two processes: an
analysis pass for those outputs, then the real pass for all. Argument lists
only: nothing here is ever given to a shell.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from transcode_api import constants, output, spec
from transcode_runner.domain import (
    colorimetry,
    encoders,
    errors,
    graph,
    keyframes,
    media,
    render,
    thumbplan,
    tracks,
)

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
    cpu_decode: bool = False
    """Decode on the CPU whatever the plan's `graph.Decode` says (set by `on_cpu`)."""


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
    look: render.Look | None = None
    messages: tuple[str, ...] = ()
    """Notes for status.outputs[].messages (NotUpscaled, ToneMapped, tracks dropped)."""

    @property
    def content_type(self) -> str:
        return encoders.CONTENT_TYPES[self.container.value]


@dataclass(frozen=True)
class Plan:
    """FFmpeg processes to run, in order, and the outputs they produce."""

    passes: tuple[tuple[str, ...], ...]
    outputs: tuple[OutputPlan, ...]
    choices: tuple[Choice, ...]
    decode: graph.Decode = graph.CPU
    thumbs: thumbplan.Thumbs | None = None
    """The poster, sprite and preview the last pass writes besides the outputs."""

    @property
    def uses_gpu(self) -> bool:
        """NVENC encodes an output or NVDEC decodes the source."""
        return self.decode.gpu or any(choice.gpu for choice in self.choices)

    @property
    def uses_nvenc(self) -> bool:
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
    """The same choices with every GPU encoder replaced by its CPU counterpart, CPU decode."""
    return tuple(
        replace(c, encoder=constants.CODEC_ENCODERS[constants.ENCODER_CODEC[c.encoder]][1],
                gpu=False, device=None, reason=reason, message=message, cpu_decode=True)
        if c.gpu else replace(c, cpu_decode=True)
        for c in choices
    )


def build(
    job: spec.TranscodeJobSpec,
    source: media.MediaInfo,
    choices: Sequence[Choice],
    scratch: Path,
    ffmpeg: str = "ffmpeg",
    decode: graph.Decode = graph.CPU,
) -> Plan:
    """The FFmpeg processes that produce every output of `job` from `source`."""
    if any(c.cpu_decode for c in choices):
        decode = graph.CPU
    outs = []
    for o, c in zip(job.outputs, choices, strict=True):
        look = render.decide(o.video, c.encoder, source)
        kept = tracks.select(o, source.audio_tracks, source.subtitle_tracks)
        outs.append(OutputPlan(
            name=o.name,
            destination=o.destination,
            path=scratch / f"out-{o.name}.{encoders.EXTENSIONS[o.container.value]}",
            container=constants.Container(o.container),
            encoder=c.encoder,
            gpu=c.gpu,
            width=look.width,
            height=look.height,
            two_pass=o.video.two_pass and encoders.supports_two_pass(c.encoder),
            look=look,
            messages=look.messages + kept.messages,
        ))
    specs = {o.name: o for o in job.outputs}
    by_name = choices_by(outs, choices)
    segment = job.packaging.segment_seconds if job.packaging is not None else None
    thumbs = (thumbplan.build(job.thumbnails, source, scratch)
              if job.thumbnails is not None else None)
    passes: list[tuple[str, ...]] = []
    if any(o.two_pass for o in outs):
        first = [o for o in outs if o.two_pass]
        passes.append(_process(ffmpeg, source, decode, first, by_name, specs, scratch,
                               analysis=True, segment=segment))
    passes.append(_process(ffmpeg, source, decode, outs, by_name, specs, scratch,
                           analysis=False, segment=segment, thumbs=thumbs))
    return Plan(tuple(passes), tuple(outs), tuple(choices), decode, thumbs)


def choices_by(outs: Sequence[OutputPlan], choices: Sequence[Choice]) -> dict[str, Choice]:
    return {o.name: c for o, c in zip(outs, choices, strict=True)}


def _process(
    ffmpeg: str,
    source: media.MediaInfo,
    decode: graph.Decode,
    outs: Sequence[OutputPlan],
    choices: dict[str, Choice],
    specs: dict[str, output.OutputSpec],
    scratch: Path,
    analysis: bool,
    segment: int | None = None,
    thumbs: thumbplan.Thumbs | None = None,
) -> tuple[str, ...]:
    argv: list[str] = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                       "-progress", "pipe:1", "-nostats", *graph.input_args(source, decode),
                       "-i", "file:" + os.fspath(source.path.resolve())]
    branches = [graph.Branch(_look(o), o.encoder) for o in outs]
    products = thumbs.products if thumbs is not None else ()
    text, labels = graph.filter_complex(source, decode,
                                        [*branches, *(p.branch for p in products)])
    argv += ["-filter_complex", text]
    for o, label in zip(outs, labels, strict=False):
        o_spec = specs[o.name]
        look = _look(o)
        rate = look.frame_rate or source.frame_rate
        argv += ["-map", f"[{label}]"]
        fps = float(rate) if rate else source.fps
        argv += encoders.video_args(o.encoder, o_spec.video, choices[o.name].device, o, fps)
        if segment is not None:  # packaged: keyframes at every segment boundary, all rungs
            argv += keyframes.args(o.encoder, segment, fps)
            argv += _end_with_picture(source)
        argv += colorimetry.tag_args(look.colour, stream=0)
        argv += ["-fps_mode:v:0", look.fps_mode.value]
        if analysis:
            argv += encoders.pass_args(o.encoder, 1, _passlog(scratch, o.name), look)
            argv += ["-an", "-f", "null", os.devnull]
            continue
        if o.two_pass:
            argv += encoders.pass_args(o.encoder, 2, _passlog(scratch, o.name), look)
        argv += tracks.select(o_spec, source.audio_tracks, source.subtitle_tracks).args
        argv += ["-max_muxing_queue_size", "1024"]
        argv += encoders.container_args(o.container.value)
        argv += ["file:" + os.fspath(o.path.resolve())]
    for product, label in zip(products, labels[len(outs):], strict=True):
        argv += ["-map", f"[{label}]", *product.args]  # same decode, its own picture
    return tuple(argv)


def _end_with_picture(source: media.MediaInfo) -> list[str]:
    """`-t` at the source picture's end: a rung's audio (AAC's last-frame padding, which
    FFmpeg 5.1 decodes from an MP4 source, or a longer audio track) stops with its video,
    so no track runs past the package's last segment."""
    return ["-t", f"{source.video_end:.6f}"] if source.video_end > 0 else []


def _look(out: OutputPlan) -> render.Look:
    assert out.look is not None  # build always decides one
    return out.look


def _passlog(scratch: Path, name: str) -> Path:
    return scratch / f"passlog-{name}"
