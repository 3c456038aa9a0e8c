"""One runner attempt from spec to verified outputs: probe, download, plan, encode, upload.

`cli` builds a `Context` (settings and the injected seams) and calls `run`,
which never raises for an expected failure: it returns the `RunnerResult` to
report (outcome, exit code, reason, outputs, metadata with the GPU/CPU
provenance, the `package` of a job with `spec.packaging`, the `thumbs` of one with
`spec.thumbnails`) after handing it to the
`report.Reporter`. A source that with its outputs would not fit on scratch is refused
before its download (`domain.scratch`). The scratch directory of the attempt is
removed at the end, whatever happened.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transcode_api import constants, contract, spec, status
from transcode_runner.app import gpuchoice, package, thumbs
from transcode_runner.domain import errors, media, netpolicy, plan, progress, tracks
from transcode_runner.domain import scratch as scratch_room
from transcode_runner.io import (
    encode,
    ledger,
    mediaprobe,
    netguard,
    report,
    scratchspace,
    seams,
    settings,
    transfer,
)

log = logging.getLogger(__name__)

Reason = constants.FallbackReason


@dataclass
class Context:
    """Everything an attempt needs from outside."""

    settings: settings.Settings
    reporter: report.Reporter
    runner: seams.ProcessRunner = field(default_factory=seams.SubprocessRunner)
    clock: seams.Clock = field(default_factory=seams.SystemClock)
    nvml: Any = None
    s3_factory: Callable[[spec.Storage], Any] | None = None
    """Builds the S3 client for the job's storage; None: `transfer.make_s3_client`."""
    cancel: threading.Event = field(default_factory=threading.Event)
    environ: Mapping[str, str] = field(default_factory=dict)
    on_progress: Callable[[progress.Progress], None] | None = None
    """Extra progress listener (the terminal progress bar)."""
    uploads: ledger.Store = field(default_factory=ledger.Memory)
    """Where the UploadIds of this job's multipart uploads are recorded (`ledger`)."""


def run(job: spec.TranscodeJobSpec, ctx: Context) -> status.RunnerResult:
    """Run the attempt and report its result (also returned)."""
    cfg = ctx.settings
    scratch = cfg.scratch_dir / f"attempt-{uuid.uuid4().hex[:12]}"
    ctx.reporter.phase(constants.RunnerPhase.RUNNING)  # the first patch: this attempt started
    try:
        scratch.mkdir(parents=True, exist_ok=False)
        result = _attempt(job, ctx, scratch)
    except errors.RunnerError as exc:
        log.error("attempt failed (%s): %s", exc.reason, exc)
        result = _failure(exc)
    except Exception as exc:  # reported as an internal error, with its type
        log.exception("unexpected error")
        result = _failure(errors.Internal(f"{type(exc).__name__}: {exc}"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ctx.reporter.final(result)
    return result


def _attempt(job: spec.TranscodeJobSpec, ctx: Context, scratch: Path) -> status.RunnerResult:
    cfg = ctx.settings
    guard = netguard.Guard(network_policy(cfg))
    mover = transfer.Transfer(
        s3_client(job, ctx, guard),
        part_size=cfg.upload_part_size,
        concurrency=cfg.upload_concurrency,
        multipart_threshold=cfg.multipart_threshold,
        download_part_size=cfg.download_part_size,
        download_concurrency=cfg.download_concurrency,
        cancel=ctx.cancel,
        urlopen=guard.open,
        stall_seconds=cfg.transfer_stall_seconds,
        stall_min_bytes=cfg.transfer_stall_min_bytes,
        book=ledger.Book(ctx.uploads),
    )
    # A killed attempt's multipart uploads (recorded by it, so ours alone) go first.
    mover.abort_leftovers(o.destination for o in job.outputs)
    # The probe (NVML, `ffmpeg -encoders`, a test encode) runs while the source downloads.
    prober = gpuchoice.prober(job, ctx.settings, ctx.nvml, ctx.runner, ctx.environ)
    with futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="download") as pool:
        download = pool.submit(mover.download, job.source, scratch, room=_room(job, cfg))
        choices = plan.choose(job, gpuchoice.decider(prober))
        source_path = download.result()
    for out, choice in zip(job.outputs, choices, strict=True):
        log.info("output %s: %s%s", out.name, choice.encoder,
                 f" ({choice.reason}: {choice.message})" if choice.reason else "")
    source = mediaprobe.inspect_source(source_path, ctx.runner, cfg.ffprobe_path,
                                       cfg.ffprobe_timeout_seconds, ffmpeg=cfg.ffmpeg_path)
    log.info("source: %s, %dx%d shown %.0fx%.0f, %s, %s %s, %.2f s, audio: %s",
             source.format_name, source.width, source.height, *source.display_size,
             source.field_order, source.hdr.kind, source.video_codec, source.duration,
             source.audio_codec or "none")
    decode = gpuchoice.decode(job, ctx.settings, ctx.runner, choices, source, prober)
    encoder = encode.Encoder(ctx.runner, ctx.clock, stall_timeout=cfg.stall_timeout_seconds,
                             stop_grace=cfg.stop_grace_seconds, cancel=ctx.cancel,
                             environ=ctx.environ)

    def build(current: Sequence[plan.Choice]) -> plan.Plan:
        return plan.build(job, source, current, scratch, cfg.ffmpeg_path, decode)

    def on_progress(snapshot: progress.Progress) -> None:
        ctx.reporter.progress(snapshot)
        if ctx.on_progress is not None:
            ctx.on_progress(snapshot)

    outcome = encoder.run_with_fallback(build, choices, source.duration,
                                        job.acceleration.allow_cpu_fallback, on_progress)
    ctx.reporter.phase(constants.RunnerPhase.UPLOADING)
    # Every output is measured before any is uploaded: a bad one stops the job first.
    measured = [(out, _measure(out, ctx)) for out in outcome.plan.outputs]
    results = [_deliver(out, info, mover, ctx) for out, info in measured]
    packaged = None if job.packaging is None else package.deliver(
        job, measured, scratch, cfg, ctx.runner, mover, lambda sent: ctx.reporter.flush())
    pictures = None if outcome.plan.thumbs is None else thumbs.deliver(
        job, outcome.plan.thumbs, scratch, cfg, ctx.runner, mover,
        lambda sent: ctx.reporter.flush())
    return status.RunnerResult(
        outcome=constants.Outcome.SUCCEEDED,
        exit_code=int(contract.ExitCode.SUCCESS),
        reason="TranscodeSucceeded",
        message=f"{len(results)} output(s) uploaded and verified" + _notes(results)
        + (f"; {packaged.format} package: {', '.join(packaged.manifests)}" if packaged else "")
        + (f"; {pictures.objects} thumbnail object(s)" if pictures else ""),
        outputs=results,
        metadata=gpuchoice.metadata(choices, outcome, source.duration),
        packaging=packaged,
        thumbnails=pictures,
    )


def _room(job: spec.TranscodeJobSpec, cfg: settings.Settings) -> Callable[[int], None]:
    """The check that the source and its outputs fit on scratch (`domain.scratch`)."""
    def check(size: int) -> None:
        free = scratchspace.free_bytes(cfg.scratch_dir, cfg.scratch_limit_bytes)
        refused = scratch_room.refusal(size, len(job.outputs), cfg.scratch_output_factor, free)
        if refused is not None:
            raise refused
    return check


def _notes(results: Sequence[status.OutputResult]) -> str:
    """The outputs' message reasons for the job's message: "; notes: 720p NotUpscaled"."""
    notes = [f"{r.name} {m.split(':', 1)[0]}" for r in results for m in r.messages or []]
    return f"; notes: {', '.join(notes)} (see outputs[].messages)" if notes else ""


def _measure(out: plan.OutputPlan, ctx: Context) -> media.MediaInfo:
    cfg = ctx.settings
    info = mediaprobe.inspect_output(out.path, ctx.runner, cfg.ffprobe_path, cfg.ffprobe_timeout_seconds)
    if info.frames == 0:  # nothing decoded: never upload an empty picture
        raise errors.BadInput(f"output {out.name} has no video frame: no frame of the source "
                              "could be decoded", reason="NoVideoFrames")
    return info


def _deliver(out: plan.OutputPlan, info: media.MediaInfo, mover: transfer.Transfer,
             ctx: Context) -> status.OutputResult:
    audio, subtitles = tracks.results(info.audio_tracks, info.subtitle_tracks)
    uploaded = mover.upload(out.path, out.destination, out.content_type,
                            progress=lambda sent: ctx.reporter.flush())
    log.info("uploaded %s (%d bytes, %s %s)", uploaded.url, uploaded.bytes, uploaded.algorithm,
             uploaded.checksum)
    return status.OutputResult(
        name=out.name,
        url=uploaded.url,
        size_bytes=uploaded.bytes,
        checksum=uploaded.checksum,
        checksum_algorithm=uploaded.algorithm,
        duration_seconds=round(info.duration, 3),
        width=info.width,
        height=info.height,
        bitrate=info.bit_rate,
        codec=constants.ENCODER_CODEC.get(out.encoder, info.video_codec),
        encoder=out.encoder,
        audio=audio or None,
        subtitles=subtitles or None,
        messages=list(out.messages) or None,
    )


def network_policy(cfg: settings.Settings) -> netpolicy.Policy:
    """The SSRF guard's policy from the runner settings (a bad one is an Internal error)."""
    try:
        return netpolicy.policy(cfg.network_allow, cfg.network_deny)
    except ValueError as exc:
        raise errors.Internal(f"runner network settings: {exc}") from None


def s3_client(job: spec.TranscodeJobSpec, ctx: Context, guard: netguard.Guard) -> Any:
    """The S3 client for the job's storage (None: no s3:// URL), endpoint checked first."""
    urls = [job.source, *(o.destination for o in job.outputs),
            *([job.packaging.destination] if job.packaging else []),
            *([job.thumbnails.destination] if job.thumbnails else [])]
    if not any(url.startswith("s3://") for url in urls):
        return None
    cfg = ctx.settings
    endpoint = job.storage.endpoint or cfg.s3_endpoint
    guard.check_endpoint(endpoint)  # before any request: the endpoint is tenant input too
    if ctx.s3_factory is not None:
        return ctx.s3_factory(job.storage)
    pool = max(cfg.upload_concurrency, cfg.download_concurrency) + 2
    region = job.storage.region or cfg.s3_region
    return transfer.make_s3_client(endpoint, region, pool, job.storage.path_style,
                                   cfg.s3_max_attempts, cfg.s3_retry_mode)


def fail(exc: errors.RunnerError, reporter: report.Reporter) -> status.RunnerResult:
    """Report a failure that happened before an attempt could start (a bad spec)."""
    log.error("cannot start (%s): %s", exc.reason, exc)
    result = _failure(exc)
    reporter.final(result)
    return result


def _failure(exc: errors.RunnerError) -> status.RunnerResult:
    return status.RunnerResult(
        outcome=constants.Outcome.FAILED,
        exit_code=exc.exit_code,
        reason=exc.reason,
        message=str(exc),
    )
