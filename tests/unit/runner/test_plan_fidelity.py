"""Plan argv for fidelity: colour tags on every output, timing kept, HDR carried to the encoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.unit.runner import fakes
from transcode_runner.domain import colorimetry, graph, plan

HDR10 = replace(fakes.SOURCE, video_codec="hevc", pix_fmt="yuv420p10le",
                colour=colorimetry.BT2020_PQ,
                hdr=colorimetry.Hdr(colorimetry.HdrKind.HDR10, light_level=colorimetry.LightLevel(
                    1000, 400)))


def argv_of(*outputs: dict, source=fakes.SOURCE, decode=graph.CPU, passes: int = 1,
            **acceleration: str) -> list[tuple[str, ...]]:
    job = fakes.job(*outputs, **acceleration)
    built = plan.build(job, source, plan.choose(job, None), Path("/scratch"), decode=decode)
    assert len(built.passes) == passes
    return list(built.passes)


def values(argv: tuple[str, ...], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_every_output_is_tagged_and_keeps_the_source_timing() -> None:
    (argv,) = argv_of({"video": {}}, {"video": {"codec": "hevc", "frameRate": 30}}, mode="cpu")
    assert values(argv, "-color_primaries:v:0") == ["bt709", "bt709"]
    assert values(argv, "-color_trc:v:0") == ["bt709", "bt709"]
    assert values(argv, "-colorspace:v:0") == ["bt709", "bt709"]
    assert values(argv, "-color_range:v:0") == ["tv", "tv"]
    assert values(argv, "-fps_mode:v:0") == ["vfr", "cfr"]
    assert "fps=30/1" in values(argv, "-filter_complex")[0]


def test_hdr_is_signalled_to_x265_in_both_passes_and_main10_on_nvenc() -> None:
    first, second = argv_of({"video": {"encoder": "libx265", "bitrate": 1_000_000,
                                       "twoPass": True}}, source=HDR10, passes=2)
    for argv, number in ((first, 1), (second, 2)):
        params = values(argv, "-x265-params")[-1]  # the last one is the one x265 reads
        assert "transfer=smpte2084" in params and "max-cll=1000,400" in params
        assert f"pass={number}" in params
    assert values(second, "-color_trc:v:0") == ["smpte2084"]
    (nvenc,) = argv_of({"video": {"codec": "hevc"}}, source=HDR10,
                       decode=graph.Decode(True, 0))
    assert values(nvenc, "-profile:v") == ["main10"]
    assert "format=p010le" in values(nvenc, "-filter_complex")[0]
    assert nvenc.index("-hwaccel_output_format") < nvenc.index("-i")


def test_tone_mapped_output_is_tagged_sdr_and_says_so() -> None:
    job = fakes.job({"video": {"codec": "h264"}}, mode="cpu")
    built = plan.build(job, HDR10, plan.choose(job, None), Path("/scratch"))
    (argv,) = built.passes
    assert values(argv, "-color_trc:v:0") == ["bt709"]
    assert built.outputs[0].messages == (
        "ToneMapped: HDR10 source tone-mapped to SDR BT.709 (h264 output is 8-bit)",)
