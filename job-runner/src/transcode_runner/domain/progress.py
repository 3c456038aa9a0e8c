"""Parse FFmpeg's `-progress pipe:1` stream into percent, fps and speed.

FFmpeg writes blocks of `key=value` lines, each block closed by
`progress=continue` or `progress=end`. `encode` feeds every stdout line to a
`Parser` and gets a `Progress` snapshot per block; percent is media time
(`out_time_us`) over the source duration, mapped into the current pass's share
when a two-pass encode runs as two processes. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress snapshot of the whole job."""

    percent: float
    """0-100 over all passes; never decreases within one Parser."""
    media_seconds: float
    """Output media time reached in the current pass (seconds)."""
    fps: float | None
    """Frames per second FFmpeg reports, if any."""
    speed: float | None
    """Media seconds per wall second (FFmpeg's `speed=2.1x`), if any."""
    done: bool = False
    """True on the pass's `progress=end` block."""


class Parser:
    """Turns `-progress` lines into `Progress` snapshots for one FFmpeg process.

    `duration` is the source duration (seconds; 0 when unknown, then percent
    stays at the pass start until the end block). `start` and `share` place
    this process in the job: a two-pass job's first pass is (0, 50), the
    second (50, 50).
    """

    def __init__(self, duration: float, start: float = 0.0, share: float = 100.0) -> None:
        self.duration = max(duration, 0.0)
        self.start = start
        self.share = share
        self._block: dict[str, str] = {}
        self._percent = start

    def feed(self, line: str) -> Progress | None:
        """Consume one line; return a snapshot when it closes a block."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        key, value = key.strip(), value.strip()
        if key != "progress":
            self._block[key] = value
            return None
        block, self._block = self._block, {}
        return self._snapshot(block, done=value == "end")

    def _snapshot(self, block: dict[str, str], done: bool) -> Progress:
        media = media_seconds(block)
        if done:
            fraction = 1.0
        elif self.duration > 0 and media is not None:
            fraction = min(media / self.duration, 0.999)
        else:
            fraction = 0.0
        percent = max(self._percent, self.start + self.share * fraction)
        self._percent = min(percent, 100.0)
        return Progress(
            percent=round(self._percent, 2),
            media_seconds=media or 0.0,
            fps=_number(block.get("fps")),
            speed=_number(block.get("speed", "").removesuffix("x")),
            done=done,
        )


def media_seconds(block: dict[str, str]) -> float | None:
    """Output time of a block in seconds (`out_time_us`, else `out_time`)."""
    # FFmpeg's `out_time_ms` is in microseconds too (a long-standing misnomer).
    for key in ("out_time_us", "out_time_ms"):
        micros = _number(block.get(key))
        if micros is not None and micros >= 0:
            return micros / 1_000_000
    return parse_clock(block.get("out_time", ""))


def parse_clock(text: str) -> float | None:
    """`HH:MM:SS.micro` (FFmpeg's out_time) to seconds; None when not a time."""
    parts = text.strip().lstrip("-").split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None
