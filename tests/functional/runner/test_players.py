"""Real players: headless Chromium plays the CMAF package with hls.js and with dash.js.

The page (player.html) comes from the test's own HTTP origin on 127.0.0.1 in
front of the S3 server; Chromium runs with no proxy and a resolver that fails
every name, so nothing outside loopback is reachable. The player starts on the
lowest rung (of ultrafast rungs, and of B-frame rungs), is told to switch to
the highest, and must show its picture size, play to the end (the element's
`ended`, or dash.js's PLAYBACK_ENDED when its own end check paused the element
first) with no track past the picture, and report no error. Screenshots of the
playing page are kept under pytest's tmp dir (the path is printed).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dev import players
from dev.services import s3server
from tests.functional.runner import packaged, streaming


@pytest.fixture(scope="module")
def package(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[packaged.Packaged]:
    yield from packaged.served(s3_server, tmp_path_factory.mktemp("players"))


@pytest.fixture(scope="module")
def bframes(s3_server: s3server.S3Server, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[packaged.Packaged]:
    """The same job with B-frame rungs (preset veryfast), as most presets make them."""
    yield from packaged.served(s3_server, tmp_path_factory.mktemp("bframes"), "veryfast")


def _until(browser: streaming.Browser, what: str, check: Callable[[dict[str, Any]], bool],
           seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        state = dict(browser.evaluate("JSON.parse(JSON.stringify(window.state || {}))") or {})
        assert not state.get("errors"), f"player errors while waiting for {what}: {state}"
        if check(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s; last state {state}")
        time.sleep(0.2)


@pytest.mark.parametrize("fixture", ["package", "bframes"])
@pytest.mark.parametrize(("kind", "manifest"), [("hls", "master.m3u8"), ("dash", "manifest.mpd")])
def test_player_plays_to_the_end_switching_rendition_when_told(
        request: pytest.FixtureRequest, fixture: str, tmp_path: Path, kind: str, manifest: str
        ) -> None:
    package: packaged.Packaged = request.getfixturevalue(fixture)
    browser = streaming.Browser(players.chromium_binary(), tmp_path / "profile")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        src = package.origin.url(package.prefix + manifest)
        browser.open(f"{package.origin.base}/player.html?kind={kind}&src="
                     + urllib.parse.quote(src, safe=""))
        lowest, highest = min(h for _, h, _ in packaged.RUNGS), max(h for _, h, _ in packaged.RUNGS)
        state = _until(browser, "playing the lowest rung",
                       lambda s: s.get("time", 0) > 0.3 and s.get("height") == lowest, 30)
        assert sorted(state["levels"]) == sorted(h for _, h, _ in packaged.RUNGS)
        browser.screenshot(shots / f"{kind}-1-lowest.png")
        browser.evaluate(f"window.switchTo({highest})")
        _until(browser, f"showing {highest} lines after the switch",
               lambda s: s.get("height") == highest, 30)
        browser.screenshot(shots / f"{kind}-2-switched.png")
        state = _until(browser, "the end of the stream", lambda s: s.get("ended") is True,
                       packaged.SECONDS + 30)
        browser.screenshot(shots / f"{kind}-3-ended.png")
        assert state["time"] >= packaged.SECONDS - 0.5
        # no track runs past the picture (AAC's priming played, or its last frame's
        # padding, made the duration 8.01-8.02 s and left the player short of its end)
        ends = {kind: max(end for _, end in spans) for kind, spans in state["buffers"]}
        assert set(ends) == {"video", "audio"}, state
        assert ends["audio"] <= ends["video"] + 0.001, state
        assert abs(state["duration"] - packaged.SECONDS) <= 0.001, state
        assert lowest in state["heights"] and highest in state["heights"]
        names = {"manifest" if n.endswith((".m3u8", ".mpd")) else "segment"
                 for n, status in package.origin.log if n.startswith("/s3/")}
        assert names == {"manifest", "segment"}
        assert all(status == 200 for path, status in package.origin.log
                   if path.startswith(("/s3/", "/lib/")))  # every object asked for was there
        reach = "fetch('http://example.com/').then(() => 'reached', () => 'blocked')"
        assert browser.evaluate(reach) == "blocked"  # no name resolves: loopback only
    finally:
        browser.close()
        print(f"\n{kind} screenshots: {shots}")
    for shot in sorted(shots.iterdir()):
        assert shot.stat().st_size > 5_000  # a rendered page, not an empty image
