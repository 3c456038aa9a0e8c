"""Run a plan's FFmpeg processes, watch them, and fall back to the CPU when the GPU fails.

`pipeline` calls `Encoder.run_with_fallback`. Each FFmpeg process is started
through the injected `seams.ProcessRunner`; its `-progress` lines are parsed
(`progress.Parser`) and handed to the caller as monotonic snapshots; a
watchdog kills it when the media position has not moved for
`stall_timeout` seconds; the last stderr lines are kept for the error. When a
plan with NVENC outputs fails, the same plan is rebuilt with the CPU encoders
and run again, and the outcome records the reason, the encoders tried and the
encoders used. A hybrid plan (NVDEC decode, CPU encoders) that fails is run
again with the CPU decoding, and the outcome says why. Failures caused by the source (unreadable, truncated) become
`errors.BadInput`; a stalled CPU encode is `errors.Transient`.
"""

from __future__ import annotations

import collections
import logging
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO

from transcode_api import constants, provenance
from transcode_runner.domain import errors, plan, progress
from transcode_runner.io import probe, seams

log = logging.getLogger(__name__)

OnProgress = Callable[[progress.Progress], None]
Build = Callable[[Sequence[plan.Choice]], plan.Plan]

# FFmpeg errors that blame the input, not the runner or the encoder.
_BAD_INPUT = re.compile(
    r"Invalid data found when processing input|moov atom not found|partial file|"
    r"Error while decoding|could not find codec parameters|does not contain any stream|"
    r"codec not currently supported in container|Decoder \(codec [\w-]+\) not found|"
    r"Invalid NAL unit|corrupt",
    re.IGNORECASE,
)
# FFmpeg's words for "not one frame of the source could be decoded".
_NO_FRAMES = re.compile(r"Cannot determine format of input stream .* after EOF|"
                        r"Output file is empty, nothing was encoded", re.IGNORECASE)
_TAIL_LINES = 40
_POLL = 0.25


@dataclass(frozen=True)
class Outcome:
    """How the outputs were produced."""

    plan: plan.Plan
    """The plan whose run produced the outputs (the CPU plan after a fallback)."""
    encoders_tried: tuple[str, ...]
    fallback_reason: constants.FallbackReason | None = None
    fallback_message: str = ""
    media_seconds: float = 0.0
    """Media time decoded and encoded (the final pass)."""
    wall_seconds: float = 0.0
    """Wall time of all FFmpeg runs, the failed GPU attempt included."""
    decode_message: str = ""
    """Why a plan that decoded on NVDEC was run again with a CPU decode (if it was)."""


@dataclass
class Encoder:
    """Runs FFmpeg plans for one job (cancellable through `cancel`)."""

    runner: seams.ProcessRunner
    clock: seams.Clock
    stall_timeout: float = 120.0
    stop_grace: float = 5.0
    min_decoded_fraction: float = 0.9
    cancel: threading.Event = field(default_factory=threading.Event)
    environ: Mapping[str, str] = field(default_factory=dict)

    def run_with_fallback(
        self,
        build: Build,
        choices: Sequence[plan.Choice],
        duration: float,
        allow_fallback: bool,
        on_progress: OnProgress,
    ) -> Outcome:
        """Run the plan for `choices`; on a GPU failure, run it again on the CPU."""
        report = _Monotonic(on_progress)
        started = self.clock.monotonic()
        first = build(choices)
        tried = [o.encoder for o in first.outputs]
        try:
            media = self.run(first, duration, report)
        except errors.EncodeFailed as exc:
            if not first.uses_gpu:
                raise self._final(exc) from exc
            if not first.uses_nvenc:  # the hybrid plan: NVDEC failed, the CPU encoders did not
                return self._decode_again(build, choices, duration, report, exc, started)
            reason, message = probe.classify_failure(str(exc), self.environ)
            if not allow_fallback:
                if _BAD_INPUT.search(str(exc)):
                    raise errors.BadInput(str(exc), reason="SourceUnreadable") from exc
                raise errors.Transient(message, reason=reason.value) from exc
            if exc.stalled:
                reason, message = constants.FallbackReason.ENCODE_FAILED, str(exc)
            log.warning("GPU encode failed (%s), encoding again on the CPU: %s", reason, message)
            cpu = build(plan.on_cpu(choices, reason, message))
            tried += [o.encoder for o in cpu.outputs]
            try:
                media = self.run(cpu, duration, report)
            except errors.EncodeFailed as again:
                raise self._final(again) from again
            self._check_complete(media, duration)
            decoded = (f"NVDEC decode abandoned with the GPU encode: {message}"
                       if first.decode.gpu else "")
            return Outcome(cpu, _unique(tried), reason, message, media,
                           self.clock.monotonic() - started, decoded)
        self._check_complete(media, duration)
        first_reason, first_message = provenance.primary((c.reason, c.message) for c in choices)
        return Outcome(first, _unique(tried), first_reason, first_message, media,
                       self.clock.monotonic() - started)

    def _decode_again(self, build: Build, choices: Sequence[plan.Choice], duration: float,
                      report: OnProgress, exc: errors.EncodeFailed, started: float) -> Outcome:
        """Run the hybrid plan again with the CPU decoding; say why in the outcome."""
        why = f"NVDEC failed during the encode, decoded again on the CPU: {exc}"
        log.warning("%s", why)
        again = build([replace(c, cpu_decode=True) for c in choices])
        try:
            media = self.run(again, duration, report)
        except errors.EncodeFailed as second:
            raise self._final(second) from second
        self._check_complete(media, duration)
        first = next((c for c in choices if c.reason is not None), None)
        return Outcome(again, _unique([o.encoder for o in again.outputs]),
                       first.reason if first else None, first.message if first else "",
                       media, self.clock.monotonic() - started, why)

    def run(self, the_plan: plan.Plan, duration: float, on_progress: OnProgress) -> float:
        """Run every pass of `the_plan`; returns the media seconds of the last pass."""
        count = len(the_plan.passes)
        share = 100.0 / count
        media = 0.0
        for index, argv in enumerate(the_plan.passes):
            parser = progress.Parser(duration, start=index * share, share=share)
            media = self._run_process(argv, parser, on_progress)
        return media

    def _run_process(
        self, argv: Sequence[str], parser: progress.Parser, on_progress: OnProgress
    ) -> float:
        log.debug("running %s", " ".join(argv))
        process = self.runner.start(argv)
        lines: queue.Queue[str | None] = queue.Queue()
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        readers = [
            threading.Thread(target=_pump_lines, args=(process.stdout, lines), daemon=True),
            threading.Thread(target=_pump_tail, args=(process.stderr, tail), daemon=True),
        ]
        for reader in readers:
            reader.start()
        media, last_move = -1.0, self.clock.monotonic()
        try:
            while True:
                if self.cancel.is_set():
                    raise errors.Cancelled("encode cancelled")
                try:
                    line = lines.get(timeout=_POLL)
                except queue.Empty:
                    line = ""
                if line is None:
                    break
                snapshot = parser.feed(line) if line else None
                if snapshot is not None:
                    if snapshot.media_seconds > media:
                        media, last_move = snapshot.media_seconds, self.clock.monotonic()
                    on_progress(snapshot)
                if self.clock.monotonic() - last_move > self.stall_timeout:
                    raise errors.EncodeFailed(
                        f"FFmpeg made no progress for {self.stall_timeout:.0f} s "
                        f"(stuck at {max(media, 0.0):.1f} s of media)", stalled=True)
            status = process.wait()
        except BaseException:
            self._stop(process)
            raise
        finally:
            for reader in readers:
                reader.join(timeout=self.stop_grace)
        if status != 0:
            raise errors.EncodeFailed(f"FFmpeg exited with status {status}: {summary(tail)}")
        return max(media, 0.0)

    def _stop(self, process: seams.Process) -> None:
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=self.stop_grace)

    def _check_complete(self, media: float, duration: float) -> None:
        if duration > 1.0 and media < duration * self.min_decoded_fraction:
            raise errors.BadInput(
                f"source is truncated or damaged: decoded {media:.1f} s of {duration:.1f} s",
                reason="SourceTruncated",
            )

    @staticmethod
    def _final(exc: errors.EncodeFailed) -> errors.RunnerError:
        if _NO_FRAMES.search(str(exc)):
            return errors.BadInput(f"no frame of the source video can be decoded: {exc}",
                                   reason="NoVideoFrames")
        if _BAD_INPUT.search(str(exc)):
            return errors.BadInput(f"source cannot be decoded: {exc}", reason="SourceUnreadable")
        if exc.stalled:
            return errors.Transient(str(exc), reason="EncoderStalled")
        return exc


def summary(tail: Sequence[str]) -> str:
    """One line from FFmpeg's stderr tail: the input's complaint, else the last line."""
    lines = [line.strip() for line in tail if line.strip()]
    for line in lines:
        if _NO_FRAMES.search(line):
            return errors.one_line(_strip(line), limit=240)
    for line in lines:
        if _BAD_INPUT.search(line):
            return errors.one_line(_strip(line), limit=240)
    gpu_line = probe.gpu_error_line(lines)
    if gpu_line is not None:
        return gpu_line
    return errors.one_line(_strip(lines[-1]), limit=240) if lines else "no error output"


def _strip(line: str) -> str:
    return re.sub(r"^\[([\w-]+) @ 0x[0-9a-f]+\]\s*", r"\1: ", line)


def _pump_lines(stream: IO[bytes] | None, out: queue.Queue[str | None]) -> None:
    try:
        if stream is not None:
            for raw in stream:
                out.put(raw.decode("utf-8", errors="replace"))
    finally:
        out.put(None)


def _pump_tail(stream: IO[bytes] | None, tail: collections.deque[str]) -> None:
    if stream is not None:
        for raw in stream:
            tail.append(raw.decode("utf-8", errors="replace"))


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


class _Monotonic:
    """Passes on snapshots whose percent does not go back (a CPU rerun restarts at 0)."""

    def __init__(self, target: OnProgress) -> None:
        self.target = target
        self.best = -1.0

    def __call__(self, snapshot: progress.Progress) -> None:
        if snapshot.percent >= self.best:
            self.best = snapshot.percent
            self.target(snapshot)
