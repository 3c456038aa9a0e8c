"""The one filter-graph builder: input options and `-filter_complex` for CPU and CUDA alike.

`plan` calls `input_args(source, decode)` and `filter_complex(source, decode,
branches)` with each output's `render.Look` and encoder. The source is decoded
once: on the CPU, or on NVDEC (`decode.gpu`), where frames stay in GPU memory
(`-hwaccel_output_format cuda`) unless the source is rotated. The graph
deinterlaces once (`bwdif`, or `yadif_cuda` on GPU frames), splits to the
outputs, and for each output sets the rate (`fps`), the displayed size with
square pixels (`scale`, or `scale_cuda` on GPU frames), the colour (SDR
converted to BT.709 limited range with `colorspace`, HDR to SDR with `zscale` +
`tonemap`, both on the CPU) and the pixel format the encoder needs; a thumbnail's
branch (`thumbplan`) adds the filters that pick its frames and finish its picture
around that same chain. GPU frames go straight to NVENC
when nothing CPU-only is asked; otherwise, or for a CPU encoder (the hybrid
plan), they are downloaded (`hwdownload`) after scaling, so only the small
picture crosses PCIe.

Rotation: FFmpeg's autorotate (on by default) turns the picture before the
graph and writes no rotation into the output, so the graph sees the displayed
frame. Autorotate inserts CPU filters, so a rotated source decoded on NVDEC
has its frames copied to host memory by the decoder (no
`-hwaccel_output_format cuda`); `-noautorotate` with our own transpose is not
used because FFmpeg 5.1 then copies the stale rotation into MP4 outputs.
Autorotate also runs before the deinterlacer: a 180 degree turn swaps the
fields (handled); an interlaced source turned 90/270 degrees (not a thing
cameras make) would be deinterlaced across columns. Pure: argument lists only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transcode_api import constants
from transcode_runner.domain import colorimetry, interlace, media, render


@dataclass(frozen=True)
class Decode:
    """Where the source is decoded."""

    gpu: bool = False
    """NVDEC through FFmpeg's `cuda` hwaccel; False: FFmpeg's CPU decoder."""
    device: int | None = None
    message: str = ""
    """Why the CPU decodes although a GPU is present, or what NVDEC decodes."""


CPU = Decode()


@dataclass(frozen=True)
class Branch:
    """One output's part of the graph."""

    look: render.Look
    encoder: str
    pick: tuple[str, ...] = ()
    """Filters that only choose frames (`select`, `trim`, `fps`): before the look's chain
    on CPU frames, so only the chosen ones are scaled and tone-mapped; after it on GPU
    frames (they must be downloaded first). A thumbnail's branch has them."""
    finish: str = ""
    """Filter text after the look's chain (the poster's `thumbnail` filter)."""
    lead: bool = False
    """Send the branch's first decoded frame (through the look's chain) ahead of its
    picked frames: FFmpeg 5.1 writes no `-progress` report until every output has had
    a frame, and a poster chosen at the end would hold progress (and the stall
    watch) back for the whole encode. The caller drops that frame."""
    tail: str = ""
    """Filter text after the lead frame joins (the picture's pixel format)."""


def frames_on_gpu(source: media.MediaInfo, decode: Decode) -> bool:
    """Decoded frames stay in GPU memory: NVDEC decodes and no autorotate filter is needed."""
    return decode.gpu and source.rotation == 0


def input_args(source: media.MediaInfo, decode: Decode) -> list[str]:
    """Decoder options placed before `-i` (empty for a CPU decode)."""
    if not decode.gpu:
        return []
    args = ["-hwaccel", "cuda"]
    if decode.device is not None:
        args += ["-hwaccel_device", str(decode.device)]
    if frames_on_gpu(source, decode):
        # Room for the frames the split branches and NVENC hold on to.
        args += ["-hwaccel_output_format", "cuda", "-extra_hw_frames", "8"]
    return args


def filter_complex(source: media.MediaInfo, decode: Decode, branches: Sequence[Branch]
                   ) -> tuple[str, list[str]]:
    """The `-filter_complex` text and the label of each output's video (in order)."""
    on_gpu = frames_on_gpu(source, decode)
    head = _deinterlace(_shown_field_order(source), on_gpu) if source.interlaced else ""
    labels = [f"v{i}" for i in range(len(branches))]
    chains = [_branch(source, branch, on_gpu, f"l{i}") for i, branch in enumerate(branches)]
    lead = f"[0:v:0]{head}," if head else "[0:v:0]"
    if len(branches) == 1:
        return f"{lead}{chains[0]}[{labels[0]}]", labels
    split = "".join(f"[s{i}]" for i in range(len(branches)))
    parts = [f"{lead}split={len(branches)}{split}"]
    parts += [f"[s{i}]{chain}[{label}]"
              for i, (chain, label) in enumerate(zip(chains, labels, strict=True))]
    return ";".join(parts), labels


def _shown_field_order(source: media.MediaInfo) -> interlace.FieldOrder:
    """The field order of the picture the graph receives: autorotate's 180 degree flip
    (hflip, vflip) turns the top field into the bottom one."""
    if source.rotation != 180:
        return source.field_order
    return (interlace.FieldOrder.BFF if source.field_order == interlace.FieldOrder.TFF
            else interlace.FieldOrder.TFF)


def _deinterlace(order: interlace.FieldOrder, on_gpu: bool) -> str:
    parity = "bff" if order == interlace.FieldOrder.BFF else "tff"
    name = "yadif_cuda" if on_gpu else "bwdif"
    return f"{name}=mode=send_frame:parity={parity}:deint=all"


def _branch(source: media.MediaInfo, branch: Branch, on_gpu: bool, tag: str) -> str:
    chain = _look_chain(source, branch, on_gpu)
    steps = [chain, *branch.pick] if on_gpu else [*branch.pick, chain]
    main = ",".join(steps + ([branch.finish] if branch.finish else []))
    tail = f",{branch.tail}" if branch.tail else ""
    if not branch.lead:
        return main + tail
    return (f"split=2[{tag}a][{tag}b];[{tag}a]trim=end_frame=1,{chain}[{tag}d];"
            f"[{tag}b]{main}[{tag}m];[{tag}d][{tag}m]concat=n=2:v=1:a=0{tail}")


def _look_chain(source: media.MediaInfo, branch: Branch, on_gpu: bool) -> str:
    look = branch.look
    steps: list[str] = []
    if look.frame_rate is not None:
        steps.append(f"fps={look.frame_rate.numerator}/{look.frame_rate.denominator}")
    nvenc = branch.encoder in constants.GPU_ENCODERS
    cpu_colour = look.tonemap or look.convert_from is not None
    if on_gpu:
        hw_format = "p010le" if source.bit_depth > 8 else "nv12"
        if nvenc and not cpu_colour:
            want = "p010le" if look.colour.bit_depth > 8 else "nv12"
            steps.append(f"scale_cuda={look.width}:{look.height}:interp_algo=bicubic"
                         f":format={want}")
            steps.append("setsar=1")
            return ",".join(steps)
        steps.append(f"scale_cuda={look.width}:{look.height}:interp_algo=bicubic")
        steps += ["setsar=1", "hwdownload", f"format={hw_format}"]
        steps += _cpu_colour(source, look, scale=False)
    else:
        steps += _cpu_colour(source, look, scale=True)
    steps.append(f"format={_final_format(look, branch.encoder)}")
    return ",".join(steps)


def _cpu_colour(source: media.MediaInfo, look: render.Look, scale: bool) -> list[str]:
    """Scale (when `scale`), convert SDR colour to BT.709 limited, or tone-map HDR to it."""
    steps: list[str] = []
    if scale:
        steps += [f"scale={look.width}:{look.height}:flags=bicubic", "setsar=1"]
    if look.convert_from is not None:
        steps.append(f"colorspace=all=bt709:iall={look.convert_from}"
                     f":irange={'pc' if look.in_full_range else 'tv'}:range=tv:format=yuv420p")
    if look.tonemap:
        steps += _tonemap(source.colour)
    return steps


def _tonemap(src: colorimetry.Colour) -> list[str]:
    """HDR (PQ or HLG, BT.2020) to SDR BT.709: linear light, Hable curve, BT.709 again."""
    tin = src.transfer or colorimetry.PQ
    return [
        f"zscale=tin={tin}:min={src.matrix or 'bt2020nc'}:pin={src.primaries or 'bt2020'}"
        f":rin={'full' if src.range == 'pc' else 'limited'}:t=linear:npl=100",
        "format=gbrpf32le",
        "zscale=p=bt709",
        "tonemap=tonemap=hable:desat=0",
        "zscale=t=bt709:m=bt709:r=limited",
    ]


def _final_format(look: render.Look, encoder: str) -> str:
    if look.colour.bit_depth > 8:
        return "p010le" if encoder in constants.GPU_ENCODERS else "yuv420p10le"
    return "yuv420p"
