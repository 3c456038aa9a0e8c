"""tracks: ffprobe streams to typed tracks, and each output's track selection as FFmpeg argv."""

from __future__ import annotations

from typing import Any

import pytest

from transcode_api import output
from transcode_runner.domain import languages, tracks

ENG = tracks.AudioTrack(1, 0, "aac", 2, "stereo", "eng", True, "Main")
FRE = tracks.AudioTrack(2, 1, "aac", 2, "stereo", "fre", False)
DEU51 = tracks.AudioTrack(3, 2, "ac3", 6, "5.1(side)", "deu", False)
AUDIO = (ENG, FRE, DEU51)
SRT_EN = tracks.SubtitleTrack(4, 0, "subrip", "eng", False, False, True)
ASS_FR = tracks.SubtitleTrack(5, 1, "ass", "fra", True, False, True)
PGS_FR = tracks.SubtitleTrack(6, 2, "hdmv_pgs_subtitle", "fra", False, True, False)
MOVTEXT = tracks.SubtitleTrack(7, 3, "mov_text", "deu", False, False, True)
SUBS = (SRT_EN, ASS_FR, PGS_FR)


def out(container: str = "mp4", audio: dict[str, Any] | None = None,
        subtitles: dict[str, Any] | None = None) -> output.OutputSpec:
    video = {"codec": "vp9"} if container == "webm" else {}
    return output.OutputSpec.model_validate({
        "name": "o", "destination": "s3://media-out/o", "container": container, "video": video,
        "audio": audio or {}, "subtitles": subtitles or {}})


def pairs(args: tuple[str, ...], flag: str) -> dict[str, str]:
    """`{"-c:a:0": "aac", ...}` for every option starting with `flag`."""
    return {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith(flag)}


def maps(args: tuple[str, ...]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "-map"]


def defaults(args: tuple[str, ...], kind: str = "a") -> list[str]:
    return [v for k, v in pairs(args, f"-disposition:{kind}:").items()]


# --- parse ------------------------------------------------------------------------
def test_parse_reads_ffprobe_streams() -> None:
    streams = [
        {"index": 0, "codec_type": "video", "codec_name": "h264"},
        {"index": 1, "codec_type": "audio", "codec_name": "ac3", "channels": 6,
         "channel_layout": "5.1(side)", "tags": {"language": "fre", "title": "VF"},
         "disposition": {"default": 0}},
        {"index": 2, "codec_type": "audio", "codec_name": "aac", "channels": 2,
         "tags": {"LANGUAGE": "und"}, "disposition": {"default": 1}},
        {"index": 3, "codec_type": "subtitle", "codec_name": "subrip",
         "tags": {"language": "eng"}, "disposition": {"default": 1, "forced": 0}},
        {"index": 4, "codec_type": "subtitle", "codec_name": "hdmv_pgs_subtitle",
         "disposition": {"forced": 1}},
        {"index": 5, "codec_type": "data", "codec_name": "bin_data"},
    ]
    audio, subs = tracks.parse(streams)
    assert audio == (
        tracks.AudioTrack(1, 0, "ac3", 6, "5.1(side)", "fre", False, "VF"),
        tracks.AudioTrack(2, 1, "aac", 2, None, None, True, None),
    )
    assert subs == (
        tracks.SubtitleTrack(3, 0, "subrip", "eng", True, False, True),
        tracks.SubtitleTrack(4, 1, "hdmv_pgs_subtitle", None, False, True, False),
    )


def test_parse_of_a_file_without_tracks() -> None:
    assert tracks.parse([{"index": 0, "codec_type": "video"}]) == ((), ())


@pytest.mark.parametrize(("code", "norm"), [("en", "eng"), ("eng", "eng"), ("FRE", "fra"),
                                            ("fr", "fra"), ("ger", "deu"), ("und", None),
                                            ("", None), (None, None), ("tlh", "tlh")])
def test_language_codes_normalise_to_iso639_2t(code: str | None, norm: str | None) -> None:
    assert languages.normalise(code) == norm


# --- audio selection ---------------------------------------------------------------
def test_default_keeps_the_source_default_track_and_names_the_others() -> None:
    sel = tracks.select(out(), (FRE, ENG, DEU51), ())
    assert maps(sel.args) == ["0:a:0"]  # ENG's position: the default, not the first stream
    assert sel.audio == (ENG,)
    assert pairs(sel.args, "-metadata:s:a:") == {"-metadata:s:a:0": "language=eng"}
    assert defaults(sel.args) == ["default"]
    assert sel.messages == ("AudioTracksNotSelected: audio tracks 1 (aac, fre), 2 (ac3, deu) "
                            "not kept (audio.tracks default keeps the source's default track; "
                            "set all or languages)",)
    assert "-sn" in sel.args and "-an" not in sel.args


def test_default_without_a_flagged_track_is_the_first() -> None:
    sel = tracks.select(out(audio={"tracks": "default"}), (FRE, DEU51), ())
    assert maps(sel.args) == ["0:a:1"] and sel.audio == (FRE,)


def test_single_track_source_has_no_message() -> None:
    sel = tracks.select(out(), (ENG,), ())
    assert sel.messages == () and maps(sel.args) == ["0:a:0"]


def test_all_keeps_every_track_in_order_with_the_source_default_flag() -> None:
    first = tracks.AudioTrack(1, 0, "aac", 2, "stereo", "fre", False)
    second = tracks.AudioTrack(2, 1, "aac", 2, "stereo", "eng", True)
    sel = tracks.select(out(audio={"tracks": "all"}), (first, second, DEU51), ())
    assert maps(sel.args) == ["0:a:0", "0:a:1", "0:a:2"]
    assert defaults(sel.args) == ["0", "default", "0"]
    assert [v for v in pairs(sel.args, "-metadata:s:a:").values()] == [
        "language=fre", "language=eng", "language=deu"]
    assert sel.messages == ()


def test_languages_in_spec_order_any_iso_form_first_is_default() -> None:
    sel = tracks.select(out(audio={"languages": ["de", "fra", "en"]}), AUDIO, ())
    assert maps(sel.args) == ["0:a:2", "0:a:1", "0:a:0"]
    assert defaults(sel.args) == ["default", "0", "0"]
    assert sel.audio == (DEU51, FRE, ENG) and sel.messages == ()


def test_languages_keep_every_track_of_a_language_and_ignore_repeats() -> None:
    commentary = tracks.AudioTrack(9, 3, "aac", 2, "stereo", "eng", False, "Commentary")
    sel = tracks.select(out(audio={"languages": ["eng", "en"]}), (*AUDIO, commentary), ())
    assert maps(sel.args) == ["0:a:0", "0:a:3"]
    assert defaults(sel.args) == ["default", "0"]


def test_missing_language_is_skipped_with_a_message() -> None:
    sel = tracks.select(out(audio={"languages": ["spa", "fra"]}), AUDIO, ())
    assert maps(sel.args) == ["0:a:1"]
    assert sel.messages == ("AudioLanguageMissing: the source has no audio track in 'spa'",)


def test_no_language_matching_falls_back_to_the_default_track() -> None:
    untagged = tracks.AudioTrack(1, 0, "aac", 2, "stereo", None, False)
    sel = tracks.select(out(audio={"languages": ["spa", "ita"]}), (untagged,), ())
    assert maps(sel.args) == ["0:a:0"] and defaults(sel.args) == ["default"]
    assert "-metadata:s:a:0" not in sel.args  # no language tag to carry
    assert sel.messages[-1] == (
        "AudioLanguageMissing: no audio track in spa, ita; kept the source's default "
        "track 0 (aac, no language)")
    assert len(sel.messages) == 3


@pytest.mark.parametrize("spec", [{}, {"tracks": "all"}, {"languages": ["fra", "deu", "eng"]},
                                  {"languages": ["spa"]}])
def test_exactly_one_default_audio_track(spec: dict[str, Any]) -> None:
    sel = tracks.select(out(audio=spec), AUDIO, ())
    assert defaults(sel.args).count("default") == 1
    assert len(defaults(sel.args)) == len(sel.audio)


def test_encode_args_per_track_with_bitrate_scaled_by_channels() -> None:
    sel = tracks.select(out(audio={"tracks": "all"}), AUDIO, ())
    assert pairs(sel.args, "-c:a:") == {"-c:a:0": "aac", "-c:a:1": "aac", "-c:a:2": "aac"}
    assert pairs(sel.args, "-b:a:") == {"-b:a:0": "128000", "-b:a:1": "128000",
                                        "-b:a:2": "384000"}
    assert not pairs(sel.args, "-ac")


def test_explicit_bitrate_applies_to_every_track() -> None:
    sel = tracks.select(out(audio={"tracks": "all", "codec": "aac", "bitrate": 160000}), AUDIO, ())
    assert set(pairs(sel.args, "-b:a:").values()) == {"160000"}


def test_bitrate_default_is_capped() -> None:
    eight = tracks.AudioTrack(1, 0, "truehd", 8, "7.1", "eng", True)
    sel = tracks.select(out(), (eight,), ())
    assert pairs(sel.args, "-b:a:") == {"-b:a:0": "512000"}


def test_stereo_downmixes_only_tracks_that_are_not_stereo() -> None:
    sel = tracks.select(out(audio={"tracks": "all", "channels": "stereo"}), AUDIO, ())
    assert pairs(sel.args, "-ac") == {"-ac:a:2": "2"}
    assert pairs(sel.args, "-b:a:")["-b:a:2"] == "128000"  # bitrate follows the output's channels


def test_mono_downmixes_every_track() -> None:
    sel = tracks.select(out(audio={"tracks": "all", "channels": "mono"}), AUDIO, ())
    assert pairs(sel.args, "-ac") == {"-ac:a:0": "1", "-ac:a:1": "1", "-ac:a:2": "1"}


def test_opus_keeps_surround_in_a_vorbis_layout() -> None:
    sel = tracks.select(out("webm", audio={"languages": ["deu"]}), AUDIO, ())
    assert pairs(sel.args, "-c:a:") == {"-c:a:0": "libopus"}
    assert pairs(sel.args, "-filter:a:") == {"-filter:a:0": tracks._OPUS_LAYOUTS}
    assert pairs(sel.args, "-b:a:") == {"-b:a:0": "288000"}


def test_opus_stereo_needs_no_layout_filter() -> None:
    sel = tracks.select(out("webm", audio={"languages": ["deu"], "channels": "stereo"}), AUDIO, ())
    assert not pairs(sel.args, "-filter:a:") and pairs(sel.args, "-ac") == {"-ac:a:0": "2"}
    assert pairs(sel.args, "-b:a:") == {"-b:a:0": "96000"}


def test_copy_passes_tracks_through() -> None:
    sel = tracks.select(out("mkv", audio={"codec": "copy", "tracks": "all"}), AUDIO, ())
    assert pairs(sel.args, "-c:a:") == {"-c:a:0": "copy", "-c:a:1": "copy", "-c:a:2": "copy"}
    assert not pairs(sel.args, "-b:a") and not pairs(sel.args, "-ac")


@pytest.mark.parametrize(("spec", "source"), [({"codec": "none"}, AUDIO), ({}, ())])
def test_no_audio(spec: dict[str, Any], source: tuple[tracks.AudioTrack, ...]) -> None:
    sel = tracks.select(out(audio=spec), source, ())
    assert sel.args[:1] == ("-an",) and sel.audio == () and sel.messages == ()
    assert not [a for a in sel.args if a.startswith("0:a")]


def test_undecodable_audio_track_is_dropped_with_a_message() -> None:
    odd = tracks.AudioTrack(1, 0, "unknown", 2, None, "eng", True)
    sel = tracks.select(out(audio={"tracks": "all"}), (odd, FRE), ())
    assert maps(sel.args) == ["0:a:1"] and defaults(sel.args) == ["default"]
    assert sel.messages == ("AudioTrackDropped: audio track 0 (unknown, eng) has a codec "
                            "FFmpeg cannot read",)
    only = tracks.select(out(), (odd,), ())
    assert only.args[:1] == ("-an",) and len(only.messages) == 1


# --- subtitle selection -------------------------------------------------------------
def test_mp4_converts_text_to_mov_text_and_drops_bitmaps() -> None:
    sel = tracks.select(out("mp4", audio={"codec": "none"}), (), (*SUBS, MOVTEXT))
    assert maps(sel.args) == ["0:s:0", "0:s:1", "0:s:3"]
    assert pairs(sel.args, "-c:s:") == {"-c:s:0": "mov_text", "-c:s:1": "mov_text",
                                        "-c:s:2": "copy"}
    assert pairs(sel.args, "-metadata:s:s:") == {"-metadata:s:s:0": "language=eng",
                                                 "-metadata:s:s:1": "language=fra",
                                                 "-metadata:s:s:2": "language=deu"}
    assert sel.subtitles == (SRT_EN, ASS_FR, MOVTEXT)
    assert sel.messages == ("SubtitleDropped: subtitle track 2 (pgs, fra) dropped: mp4 cannot "
                            "carry bitmap subtitles",)


def test_webm_converts_text_to_webvtt_and_drops_bitmaps() -> None:
    vtt = tracks.SubtitleTrack(8, 3, "webvtt", "spa", False, False, True)
    sel = tracks.select(out("webm"), (), (*SUBS, vtt))
    assert pairs(sel.args, "-c:s:") == {"-c:s:0": "webvtt", "-c:s:1": "webvtt", "-c:s:2": "copy"}
    assert sel.messages == ("SubtitleDropped: subtitle track 2 (pgs, fra) dropped: webm cannot "
                            "carry bitmap subtitles",)


def test_mkv_keeps_text_and_bitmaps_and_converts_mov_text() -> None:
    dvd = tracks.SubtitleTrack(9, 4, "dvd_subtitle", None, False, False, False)
    sel = tracks.select(out("mkv"), (), (*SUBS, MOVTEXT, dvd))
    assert maps(sel.args) == ["0:s:0", "0:s:1", "0:s:2", "0:s:3", "0:s:4"]
    assert pairs(sel.args, "-c:s:") == {"-c:s:0": "copy", "-c:s:1": "copy", "-c:s:2": "copy",
                                        "-c:s:3": "subrip", "-c:s:4": "copy"}
    assert "-metadata:s:s:4" not in sel.args and sel.messages == ()


def test_subtitle_flags_are_kept() -> None:
    sel = tracks.select(out("mkv"), (), SUBS)
    assert defaults(sel.args, "s") == ["0", "default", "forced"]
    both = tracks.SubtitleTrack(1, 0, "ass", "eng", True, True, True)
    assert defaults(tracks.select(out("mkv"), (), (both,)).args, "s") == ["default+forced"]


def test_subtitle_languages_filter_in_order_with_missing_named() -> None:
    sel = tracks.select(out("mkv", subtitles={"languages": ["fre", "jpn", "en"]}), (), SUBS)
    assert maps(sel.args) == ["0:s:1", "0:s:2", "0:s:0"]
    assert sel.messages == ("SubtitleLanguageMissing: the source has no subtitle track in 'jpn'",)


def test_unknown_subtitle_codec_is_dropped_with_a_message() -> None:
    teletext = tracks.SubtitleTrack(1, 0, "dvb_teletext", "deu", False, False, False)
    sel = tracks.select(out("mkv"), (), (teletext,))
    assert sel.args == ("-an", "-sn") and sel.subtitles == ()
    assert sel.messages == ("SubtitleDropped: subtitle track 0 (dvb_teletext, deu) dropped: "
                            "dvb_teletext subtitles are neither text nor a known bitmap format",)


@pytest.mark.parametrize("subs", [{"mode": "none"}, None])
def test_no_subtitles(subs: dict[str, Any] | None) -> None:
    sel = tracks.select(out("mkv", subtitles=subs), (ENG,), SUBS if subs else ())
    assert sel.args[-1] == "-sn" and sel.subtitles == () and sel.messages == ()
    assert not [a for a in sel.args if a.startswith("0:s")]


def test_only_bitmaps_into_mp4_leaves_no_subtitle_stream() -> None:
    sel = tracks.select(out("mp4"), (ENG,), (PGS_FR,))
    assert sel.args[-1] == "-sn" and len(sel.messages) == 1


# --- results ---------------------------------------------------------------------------
def test_results_list_codec_channels_language_and_flags() -> None:
    audio, subs = tracks.results((ENG, DEU51), (PGS_FR,))
    assert [a.to_dict() for a in audio] == [
        {"codec": "aac", "channels": 2, "language": "eng", "default": True},
        {"codec": "ac3", "channels": 6, "language": "deu", "default": False}]
    assert [s.to_dict() for s in subs] == [
        {"codec": "hdmv_pgs_subtitle", "language": "fra", "default": False, "forced": True}]
