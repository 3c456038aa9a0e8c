"""Packaging, pure parts: keyframe options per encoder, codec strings, manifests, the plan.

The functional tier (tests/functional/runner/test_packaging.py) proves the same
with real FFmpeg and S3; here each rule is checked on its own, including the
NVENC options no machine here can run.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from tests.unit.runner import fakes
from transcode_api import spec
from transcode_runner.domain import codecstrings, keyframes, manifests, packager, plan


def _after(argv: list[str] | tuple[str, ...], flag: str) -> str:
    return argv[list(argv).index(flag) + 1]


@pytest.mark.parametrize("encoder", ["libx264", "libx265", "h264_nvenc", "hevc_nvenc"])
def test_idr_encoders_get_closed_gops_of_one_segment_with_forced_idr(encoder: str) -> None:
    args = keyframes.args(encoder, 4, 25.0)
    assert _after(args, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert _after(args, "-g") == "100" and _after(args, "-forced-idr") == "1"
    assert _after(args, "-flags") == "+cgop"


def test_scene_cuts_are_off_where_the_encoder_allows() -> None:
    assert _after(keyframes.args("libx264", 2, 30.0), "-sc_threshold") == "0"
    assert _after(keyframes.args("h264_nvenc", 2, 30.0), "-no-scenecut") == "1"


def test_av1_and_vp9_get_forced_keyframes_and_the_gop_without_idr_options() -> None:
    for encoder in ("libsvtav1", "libaom-av1", "libvpx-vp9"):
        args = keyframes.args(encoder, 6, 29.97)
        assert _after(args, "-g") == "180" and "-forced-idr" not in args


def test_an_unknown_rate_still_forces_keyframes_by_time() -> None:
    assert keyframes.args("libx264", 4, None)[:2] == ["-force_key_frames", "expr:gte(t,n_forced*4)"]
    assert "-g" not in keyframes.args("libx264", 4, None)


def _job(packaging: dict[str, object] | None) -> spec.TranscodeJobSpec:
    data = fakes.job({"video": {"codec": "h264", "resolution": "720p"}},
                     {"video": {"encoder": "h264_nvenc", "resolution": "480p"}}).to_dict()
    if packaging is not None:
        data["packaging"] = packaging
    return spec.parse_spec(data)


def test_every_rung_of_a_packaged_job_gets_the_same_keyframe_rule() -> None:
    job = _job({"format": "cmaf", "destination": "s3://media-out/s/", "segmentSeconds": 2})
    argv = plan.build(job, fakes.SOURCE, plan.choose(job, None), Path("/scratch")).passes[-1]
    assert argv.count("-force_key_frames") == 2 and argv.count("expr:gte(t,n_forced*2)") == 2
    assert argv.count("-forced-idr") == 2  # libx264 and h264_nvenc alike
    plain = _job(None)
    assert "-force_key_frames" not in plan.build(plain, fakes.SOURCE, plan.choose(plain, None),
                                                 Path("/scratch")).passes[-1]


def test_every_track_of_a_rung_stops_at_the_pictures_end() -> None:
    job = _job({"format": "cmaf", "destination": "s3://media-out/s/", "segmentSeconds": 2})
    source = dataclasses.replace(fakes.SOURCE, video_end=8.0)
    argv = list(plan.build(job, source, plan.choose(job, None), Path("/scratch")).passes[-1])
    ends = [argv[i + 1] for i, a in enumerate(argv) if a == "-t"]
    assert ends == ["8.000000", "8.000000"]  # one per rung, before its file
    assert argv.index("-t") < argv.index(next(a for a in argv if a.endswith("out-o0.mp4")))
    plain = _job(None)
    assert "-t" not in plan.build(plain, source, plan.choose(plain, None), Path("/scratch")).passes[-1]
    assert "-t" not in plan.build(job, fakes.SOURCE, plan.choose(job, None),  # end unknown
                                  Path("/scratch")).passes[-1]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_codec_strings_come_from_the_configuration_records() -> None:
    avc = _box(b"avc1", b"\0" * 78 + _box(b"avcC", bytes([1, 0x64, 0x00, 0x1F, 0xFF])))
    assert codecstrings.from_init(_box(b"stsd", avc)) == "avc1.64001f"
    # HEVC Main, level 3.1, progressive + frame-only constraint flags (0xB0)
    hvcc = bytes([1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93]) + b"\0" * 10
    assert codecstrings.from_init(_box(b"hvc1", b"\0" * 78 + _box(b"hvcC", hvcc))) == \
        "hvc1.1.6.L93.B0"
    av1c = bytes([0x81, (0 << 5) | 8, 0x0C, 0])  # main profile, level 4.0, main tier, 8 bit
    assert codecstrings.from_init(_box(b"av01", b"\0" * 78 + _box(b"av1C", av1c))) == \
        "av01.0.08M.08"
    esds = b"\0\0\0\0" + bytes([0x03, 25, 0, 1, 0, 0x04, 17, 0x40, 0x15]) + b"\0" * 11 + \
        bytes([0x05, 2, 0x12, 0x10])  # AudioSpecificConfig: object type 2 (AAC LC)
    assert codecstrings.from_init(_box(b"mp4a", b"\0" * 28 + _box(b"esds", esds))) == "mp4a.40.2"
    with pytest.raises(ValueError, match="no avcC"):
        codecstrings.from_init(b"\0\0\0\x08free")


def test_rates_are_the_peak_segment_and_the_average() -> None:
    assert manifests.rates([(2.0, 250_000), (2.0, 500_000), (1.0, 100_000)]) == (2_000_000, 1_360_000)


def test_master_playlist_adds_the_largest_audio_to_every_variant() -> None:
    video = manifests.Rendition("f/media_0.m3u8", "avc1.64001f", 3_000_000, 2_000_000, 1280,
                                720, 25.0)
    audios = [manifests.Rendition("f/media_1.m3u8", "mp4a.40.2", 130_000, 128_000,
                                  language="en", channels=2, default=True),
              manifests.Rendition("f/media_2.m3u8", "mp4a.40.2", 100_000, 96_000, language="fr")]
    text = manifests.master([video], audios)
    assert ('#EXT-X-STREAM-INF:BANDWIDTH=3130000,AVERAGE-BANDWIDTH=2128000,RESOLUTION=1280x720,'
            'FRAME-RATE=25.000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"\nf/media_0.m3u8') in text
    assert ('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="fr",LANGUAGE="fr",DEFAULT=NO,'
            'AUTOSELECT=YES,URI="f/media_2.m3u8"') in text
    assert 'LANGUAGE="en",DEFAULT=YES' in text


def test_media_playlists_become_vod_without_wall_clock_tags() -> None:
    raw = ("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:2.000000,\n"
           "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000+0000\nseg-0-00001.m4s\n"
           "#EXT-X-ENDLIST\n")
    clean = manifests.clean_media(raw)
    assert "PROGRAM-DATE-TIME" not in clean and "#EXT-X-PLAYLIST-TYPE:VOD" in clean
    parsed = manifests.parse_media(clean)
    assert parsed.init == "init-0.mp4" and parsed.segments == (
        manifests.Segment("seg-0-00001.m4s", 2.0),)


MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period id="0">
<AdaptationSet id="0" contentType="video" frameRate="25/1" par="16:9" maxWidth="1280">
<Representation id="0" codecs="avc1" bandwidth="1" width="1280" height="720">
<SegmentTemplate initialization="init-$RepresentationID$.mp4" media="seg-$Number%05d$.m4s"/>
</Representation></AdaptationSet>
<AdaptationSet id="1" contentType="video" frameRate="25/1" par="427:240" maxWidth="854">
<Representation id="1" codecs="avc1" bandwidth="1" width="854" height="480"/></AdaptationSet>
<AdaptationSet id="2" contentType="audio" lang="eng">
<Representation id="2" codecs="mp4a.40.2" bandwidth="1"/></AdaptationSet></Period></MPD>"""


def test_mpd_puts_every_rung_in_one_switchable_set_with_measured_values() -> None:
    text = manifests.rewrite_mpd(MPD, {"0": ("avc1.64001f", 3_000_000),
                                       "1": ("avc1.64001e", 1_000_000)}, "abc", {"2": "en"})
    assert text.count("<AdaptationSet") == 2 and 'par="' not in text
    assert ('<Representation id="0" codecs="avc1.64001f" bandwidth="3000000" width="1280" '
            'height="720" frameRate="25/1">') in text
    assert 'initialization="abc/init-$RepresentationID$.mp4"' in text
    assert 'media="abc/seg-$Number%05d$.m4s"' in text and 'lang="en"' in text


def test_entry_points_go_to_the_prefix_and_the_rest_to_the_attempt_folder() -> None:
    assert packager.key("p/", "f1", "master.m3u8") == "p/master.m3u8"
    assert packager.key("p/", "f1", "seg-0-00001.m4s") == "p/f1/seg-0-00001.m4s"
    assert packager.headers("seg-0-00001.m4s") == ("video/iso.segment",
                                                   "public, max-age=31536000, immutable")
    assert packager.headers("manifest.mpd") == ("application/dash+xml", "public, max-age=5")
    assert packager.headers("init-3.mp4", audio=True)[0] == "audio/mp4"
