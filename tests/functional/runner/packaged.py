"""A three-rung CMAF job run once per test module, and readers for what it left in S3.

`run_packaged` generates an 8 s 1280x720 25 fps source with an English AAC
track, runs the real runner CLI with three H.264 rungs (720p, 480p, 360p; preset
ultrafast, or one with B-frames such as veryfast, whose pictures are shown in
another order than they are decoded) and
`packaging: cmaf` at 2 s segments against the real S3 server, and returns the
`Packaged` facts: the run, the bucket and prefix, and an `Origin` serving the
bucket over HTTP (`served`: the same as a module fixture's body). `segments_of_mpd` expands the MPD's SegmentTemplate /
SegmentTimeline into the segment names a DASH player requests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dev import players
from dev.services import s3server
from tests.functional.runner import conftest, streaming

SECONDS, FPS, SEGMENT = 8, 25, 2
RUNGS = (("720p", 720, 2_000_000), ("480p", 480, 1_000_000), ("360p", 360, 500_000))
NS = {"m": "urn:mpeg:dash:schema:mpd:2011"}


@dataclass
class Packaged:
    run: conftest.Run
    bucket: str
    prefix: str
    origin: streaming.Origin
    work: Path

    @property
    def result(self) -> dict[str, object]:
        return dict(self.run.result["packaging"])


def job_spec(source: Path, bucket: str, prefix: str, fmt: str = "cmaf",
             preset: str = "ultrafast") -> dict[str, object]:
    return {
        "source": str(source),
        "acceleration": {"mode": "cpu"},
        "packaging": {"format": fmt, "destination": f"s3://{bucket}/{prefix}",
                      "segmentSeconds": SEGMENT},
        "outputs": [{"name": name, "destination": f"s3://{bucket}/files/{name}.mp4",
                     "video": {"codec": "h264", "preset": preset,
                               "resolution": name, "bitrate": rate},
                     "audio": {"codec": "aac", "bitrate": 96000}}
                    for name, _, rate in RUNGS],
    }


def make_source(folder: Path) -> Path:
    source = folder / "source.mp4"
    conftest.ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}:duration={SECONDS}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                    "-metadata:s:a:0", "language=eng", "-shortest", str(source))
    return source


def run_packaged(server: s3server.S3Server, work: Path, preset: str = "ultrafast") -> Packaged:
    bucket, prefix = server.make_bucket(), "streams/trailer/"
    spec = {"storage": conftest.storage(server),
            **job_spec(make_source(work), bucket, prefix, preset=preset)}
    env = conftest.runner_env(server, work)
    run = conftest.finish(conftest.start_job(spec, work, env), work, None)
    origin = streaming.Origin(server.client(), bucket, players.player_scripts())
    return Packaged(run, bucket, prefix, origin, work)


def served(server: s3server.S3Server, work: Path, preset: str = "ultrafast"
           ) -> Iterator[Packaged]:
    """A module fixture's body: the packaged job (it must succeed), its origin closed after."""
    done = run_packaged(server, work, preset)
    assert done.run.code == 0, done.run.stderr[-3000:]
    yield done
    done.origin.close()


def segments_of_mpd(text: str) -> dict[str, list[str]]:
    """Representation id -> [init segment, media segments...] as a DASH player names them."""
    found: dict[str, list[str]] = {}
    for rep in ET.fromstring(text).iterfind(".//m:Representation", NS):
        template = rep.find("m:SegmentTemplate", NS)
        assert template is not None
        count = sum(1 + int(s.get("r", "0")) for s in template.iterfind(".//m:S", NS))
        number = int(template.get("startNumber", "1"))
        media = template.get("media", "").replace("$RepresentationID$", rep.get("id", ""))
        init = template.get("initialization", "").replace("$RepresentationID$", rep.get("id", ""))
        head, _, tail = media.partition("$Number%05d$")
        found[rep.get("id", "")] = [init] + [f"{head}{n:05d}{tail}"
                                             for n in range(number, number + count)]
    return found


def timeline_seconds(text: str) -> dict[str, float]:
    """Representation id -> the seconds its SegmentTimeline covers (what a player buffers)."""
    found: dict[str, float] = {}
    for rep in ET.fromstring(text).iterfind(".//m:Representation", NS):
        template = rep.find("m:SegmentTemplate", NS)
        assert template is not None
        ticks = sum(int(s.get("d", "0")) * (1 + int(s.get("r", "0")))
                    for s in template.iterfind(".//m:S", NS))
        found[rep.get("id", "")] = ticks / int(template.get("timescale", "1"))
    return found
