"""FFmpeg's -progress stream becomes percent, fps and speed."""

from __future__ import annotations

from tests.unit.runner import fakes
from transcode_runner.domain import progress


def feed(parser: progress.Parser, data: bytes) -> list[progress.Progress]:
    snapshots = [parser.feed(line) for line in data.decode().splitlines()]
    return [s for s in snapshots if s is not None]


def test_a_block_gives_percent_fps_and_speed() -> None:
    (snap,) = feed(progress.Parser(10.0), fakes.progress_block(2.5, fps=48.5, speed=1.9))
    assert (snap.percent, snap.fps, snap.speed, snap.media_seconds) == (25.0, 48.5, 1.9, 2.5)
    assert not snap.done


def test_end_block_is_100_and_percent_never_goes_back() -> None:
    parser = progress.Parser(10.0)
    data = (fakes.progress_block(4) + fakes.progress_block(3) + fakes.progress_block(9.99)
            + fakes.progress_block(10.0, end=True))
    percents = [s.percent for s in feed(parser, data)]
    assert percents == [40.0, 40.0, 99.9, 100.0]


def test_percent_stays_below_100_until_the_end_block() -> None:
    (snap,) = feed(progress.Parser(10.0), fakes.progress_block(12.0))
    assert snap.percent < 100


def test_two_pass_shares() -> None:
    first = feed(progress.Parser(10.0, start=0, share=50), fakes.progress_block(5)
                 + fakes.progress_block(10, end=True))
    second = feed(progress.Parser(10.0, start=50, share=50), fakes.progress_block(5))
    assert [s.percent for s in first + second] == [25.0, 50.0, 75.0]


def test_unknown_duration_and_na_values() -> None:
    parser = progress.Parser(0.0)
    (snap,) = feed(parser, b"fps=0.00\nout_time_us=N/A\nout_time=N/A\nspeed=N/A\n"
                           b"progress=continue\n")
    assert (snap.percent, snap.fps, snap.speed, snap.media_seconds) == (0.0, 0.0, None, 0.0)


def test_out_time_clock_is_a_fallback() -> None:
    assert progress.media_seconds({"out_time": "01:02:03.500000"}) == 3723.5
    assert progress.parse_clock("garbage") is None
