"""Decide whether NVDEC decodes this source, on which GPU, and if not, why.

`pipeline` calls `decide(capability, source, runner, ffmpeg, timeout)` after the
source is analysed, when an output encodes on NVENC or when the GPU has NVDEC
but no NVENC (the hybrid plan of H100/H200/A100: NVDEC decode, CPU encode).
Checks, in order: NVML sees a device with an NVDEC engine (its decoder
utilization can be read; without NVML the test decode alone decides); the
codec and profile are ones NVDEC decodes (no H.264 High 10 or 4:2:2/4:4:4
H.264); a one-frame CUDA decode of the source itself succeeds, its frame in GPU
memory (`-hwaccel_output_format cuda` then `hwdownload`: FFmpeg's silent
fallback to a CPU decode would fail it). The answer is a `graph.Decode` whose
message says what decodes, or why the CPU does.
"""

from __future__ import annotations

import os

from transcode_runner.domain import errors, graph, media
from transcode_runner.io import gpu, seams

# Codecs FFmpeg's cuda hwaccel hands to NVDEC (the cuvid family of Debian's FFmpeg).
NVDEC_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "vp8", "mpeg1video", "mpeg2video",
                          "mpeg4", "vc1", "mjpeg"})
_FRAME_FORMATS = "nv12|p010le|p016le|yuv444p|yuv444p16le"


def decide(capability: gpu.GPUCapability, source: media.MediaInfo,
           runner: seams.ProcessRunner, ffmpeg: str, timeout: float,
           device_index: int = -1) -> graph.Decode:
    """Where `source` is decoded: NVDEC when every check passes, else the CPU (with why)."""
    codec = source.video_codec
    device: gpu.Device | None = None
    if capability.nvml_error is None:
        devices = [d for d in capability.devices
                   if device_index < 0 or d.index == device_index]
        if not devices:
            return graph.Decode(False, message="CPU decode: NVML sees no GPU")
        with_nvdec = [d for d in devices if d.nvdec_supported]
        if not with_nvdec:
            names = ", ".join(sorted({d.name for d in devices}))
            return graph.Decode(False, message=f"CPU decode: {names} reports no NVDEC engine")
        device = gpu.best_device(with_nvdec)
    unsupported = unsupported_reason(source)
    if unsupported is not None:
        return graph.Decode(False, message=f"CPU decode: {unsupported}")
    index = device.index if device is not None else None
    failure = test_decode(source, runner, ffmpeg, timeout, index)
    if failure is not None:
        return graph.Decode(False, message=f"CPU decode: NVDEC test decode of the source "
                            f"failed: {failure}")
    where = f"GPU {index} ({device.name})" if device is not None else "the GPU"
    return graph.Decode(True, index, f"{codec} decoded on NVDEC, {where}")


def unsupported_reason(source: media.MediaInfo) -> str | None:
    """Why NVDEC cannot take this codec/profile/bit depth; None when it may."""
    codec = source.video_codec
    if codec not in NVDEC_CODECS:
        return f"NVDEC cannot decode {codec}"
    chroma_420 = "420" in (source.pix_fmt or "yuv420p") or source.pix_fmt in ("nv12", "p010le")
    if codec == "h264" and (source.bit_depth > 8 or not chroma_420):
        return (f"NVDEC decodes 8-bit 4:2:0 H.264 only (source is {source.pix_fmt}, "
                f"{source.profile or 'unknown profile'})")
    if not chroma_420 and codec not in ("hevc", "mjpeg"):
        return f"NVDEC decodes 4:2:0 {codec} only (source is {source.pix_fmt})"
    return None


def test_decode(source: media.MediaInfo, runner: seams.ProcessRunner, ffmpeg: str,
                timeout: float, device: int | None) -> str | None:
    """Decode one frame of the source on NVDEC into GPU memory; None on success, else why."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-hwaccel", "cuda"]
    if device is not None:
        argv += ["-hwaccel_device", str(device)]
    argv += ["-hwaccel_output_format", "cuda", "-i", "file:" + os.fspath(source.path.resolve()),
             "-map", "0:v:0", "-frames:v", "1", "-vf", f"hwdownload,format={_FRAME_FORMATS}",
             "-an", "-sn", "-f", "null", "-"]
    done = runner.run(argv, timeout=timeout)
    if done.timed_out:
        return f"timed out after {timeout:.0f} s"
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        return errors.one_line(lines[0] if lines else f"exit status {done.returncode}",
                               limit=200)
    return None
