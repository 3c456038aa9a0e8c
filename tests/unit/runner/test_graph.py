"""The one filter-graph builder: every branch, CPU and CUDA, as argv (this machine has no GPU).

What a viewer would notice if a branch were wrong: combing (no deinterlacer),
the wrong field order, a stretched or sideways picture (wrong size, a CPU-only
filter fed GPU frames so FFmpeg refuses to start), HDR shown as washed-out SDR
(missing tone map), or frames dragged across PCIe and back for nothing.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from tests.unit.runner import fakes
from transcode_runner.domain import colorimetry, graph, interlace, media, render

SDR = fakes.SOURCE  # 1920x1080 H.264, untagged (BT.709 by convention), progressive
HDR10 = replace(SDR, video_codec="hevc", pix_fmt="yuv420p10le",
                colour=colorimetry.Colour("bt2020", colorimetry.PQ, "bt2020nc", "tv", 10),
                hdr=colorimetry.Hdr(colorimetry.HdrKind.HDR10))
NVDEC = graph.Decode(gpu=True, device=1, message="h264 decoded on NVDEC")


def look(source: media.MediaInfo, encoder: str = "libx264", **video: object) -> render.Look:
    return render.decide(fakes.job({"video": video}).outputs[0].video, encoder, source)


def chain(source: media.MediaInfo, decode: graph.Decode, *branches: tuple[str, render.Look]
          ) -> str:
    text, labels = graph.filter_complex(
        source, decode, [graph.Branch(lk, enc) for enc, lk in branches])
    assert labels == [f"v{i}" for i in range(len(branches))]
    return text


def test_cpu_progressive_is_scale_square_pixels_and_the_encoder_format() -> None:
    text = chain(SDR, graph.CPU, ("libx264", look(SDR, resolution="720p")))
    assert text == "[0:v:0]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v0]"
    assert graph.input_args(SDR, graph.CPU) == []


@pytest.mark.parametrize("order", [interlace.FieldOrder.TFF, interlace.FieldOrder.BFF])
def test_cpu_interlaced_source_is_deinterlaced_once_with_its_parity(
        order: interlace.FieldOrder) -> None:
    source = replace(SDR, field_order=order)
    text = chain(source, graph.CPU, ("libx264", look(source)), ("libx265", look(source, codec="hevc")))
    assert text.startswith(f"[0:v:0]bwdif=mode=send_frame:parity={order.value}:deint=all,"
                           "split=2[s0][s1];")
    assert text.count("bwdif") == 1


def test_cpu_rate_colour_conversion_and_tone_map() -> None:
    sd = replace(SDR, width=720, height=576, sample_aspect=Fraction(16, 15))
    fixed = chain(sd, graph.CPU, ("libx264", look(sd, frameRate=29.97)))
    assert fixed.startswith("[0:v:0]fps=30000/1001,scale=768:576")
    assert "colorspace=all=bt709:iall=bt601-6-625:irange=tv:range=tv" in fixed
    full = replace(SDR, colour=colorimetry.Colour("bt709", "bt709", "bt709", "pc"))
    assert "iall=bt709:irange=pc:range=tv" in chain(full, graph.CPU, ("libx264", look(full)))
    mapped = chain(HDR10, graph.CPU, ("libx264", look(HDR10)))
    assert ("zscale=tin=smpte2084:min=bt2020nc:pin=bt2020:rin=limited:t=linear:npl=100,"
            "format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
            "zscale=t=bt709:m=bt709:r=limited,format=yuv420p[v0]") in mapped
    assert "colorspace" not in mapped


def test_cpu_hdr_kept_is_ten_bit_in_the_format_each_encoder_takes() -> None:
    assert chain(HDR10, graph.CPU, ("libx265", look(HDR10, "libx265", codec="hevc"))).endswith(
        "setsar=1,format=yuv420p10le[v0]")
    assert chain(HDR10, graph.CPU, ("hevc_nvenc", look(HDR10, "hevc_nvenc", codec="hevc"))
                 ).endswith("format=p010le[v0]")


def test_cuda_frames_stay_on_the_gpu_from_nvdec_to_nvenc() -> None:
    assert graph.input_args(SDR, NVDEC) == ["-hwaccel", "cuda", "-hwaccel_device", "1",
                                           "-hwaccel_output_format", "cuda",
                                           "-extra_hw_frames", "8"]
    text = chain(SDR, NVDEC, ("h264_nvenc", look(SDR, "h264_nvenc", resolution="720p")),
                 ("hevc_nvenc", look(SDR, "hevc_nvenc", codec="hevc", resolution="480p")))
    assert text == ("[0:v:0]split=2[s0][s1];"
                    "[s0]scale_cuda=1280:720:interp_algo=bicubic:format=nv12,setsar=1[v0];"
                    "[s1]scale_cuda=854:480:interp_algo=bicubic:format=nv12,setsar=1[v1]")
    assert "hwdownload" not in text and "format=yuv420p" not in text


def test_cuda_deinterlace_hdr_and_rate() -> None:
    source = replace(HDR10, field_order=interlace.FieldOrder.BFF)
    text = chain(source, NVDEC, ("hevc_nvenc", look(source, "hevc_nvenc", codec="hevc",
                                                    maxFrameRate=24)))
    assert text == ("[0:v:0]yadif_cuda=mode=send_frame:parity=bff:deint=all,fps=24/1,"
                    "scale_cuda=1920:1080:interp_algo=bicubic:format=p010le,setsar=1[v0]")


def test_hybrid_scales_on_the_gpu_then_downloads_for_the_cpu_encoder() -> None:
    text = chain(SDR, NVDEC, ("libx264", look(SDR, resolution="360p")))
    assert text == ("[0:v:0]scale_cuda=640:360:interp_algo=bicubic,setsar=1,hwdownload,"
                    "format=nv12,format=yuv420p[v0]")


def test_tone_map_and_colour_conversion_download_after_the_gpu_scale() -> None:
    mapped = chain(HDR10, NVDEC, ("h264_nvenc", look(HDR10, "h264_nvenc", resolution="720p")))
    assert mapped.startswith("[0:v:0]scale_cuda=1280:720:interp_algo=bicubic,setsar=1,"
                             "hwdownload,format=p010le,zscale=tin=smpte2084")
    assert mapped.endswith("format=yuv420p[v0]")
    sd = replace(SDR, width=720, height=480)
    converted = chain(sd, NVDEC, ("h264_nvenc", look(sd, "h264_nvenc")))
    assert "hwdownload,format=nv12,colorspace=all=bt709:iall=bt601-6-525" in converted


def test_rotated_source_on_nvdec_comes_to_host_memory_for_autorotate() -> None:
    portrait = replace(SDR, width=1280, height=720, rotation=90,
                       field_order=interlace.FieldOrder.TFF)
    args = graph.input_args(portrait, NVDEC)
    assert args == ["-hwaccel", "cuda", "-hwaccel_device", "1"]  # no cuda output format
    assert "-noautorotate" not in args
    text = chain(portrait, NVDEC, ("h264_nvenc", look(portrait, "h264_nvenc", resolution="720p")))
    assert text == ("[0:v:0]bwdif=mode=send_frame:parity=tff:deint=all,"
                    "scale=720:1280:flags=bicubic,setsar=1,format=yuv420p[v0]")


def test_upside_down_interlaced_source_swaps_field_order_after_autorotate() -> None:
    flipped = replace(SDR, rotation=180, field_order=interlace.FieldOrder.TFF)
    assert chain(flipped, graph.CPU, ("libx264", look(flipped))).startswith(
        "[0:v:0]bwdif=mode=send_frame:parity=bff:deint=all,")
