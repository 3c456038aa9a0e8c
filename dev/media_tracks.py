"""Sources with several audio and subtitle tracks, made at test time (nothing binary committed).

`multi_language(folder)` writes a small Matroska file with three audio tracks
(eng default at 440 Hz, fre at 660 Hz, deu at 880 Hz, so a test can tell them
apart by pitch), two SubRip tracks (eng, fra), a PGS bitmap track (fra,
forced) and a DVD bitmap track (deu). `surround(folder)` writes an AC-3
5.1(side) track whose centre carries 300 Hz and whose side-left carries
2400 Hz, the other channels silent. FFmpeg 5.1 cannot render text into bitmap
subtitles, so `write_pgs` builds a tiny HDMV PGS (`.sup`) stream by hand (a
white bar per cue; FFmpeg's own `sup` demuxer reads it and its `dvdsub`
encoder converts it). `phone_mp4(folder)` writes an MP4 with mov_text
subtitles. Used by tests/functional/runner/test_tracks_*.py.
FFmpeg gets an argument list, never a shell.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path

WIDTH, HEIGHT, SECONDS = 160, 90, 2
TONES = {"eng": 440, "fre": 660, "deu": 880}
"""Audio language -> sine frequency (Hz) of that track in `multi_language`."""
CUES = {"eng": ["Hello viewer", "Second cue"], "fra": ["Bonjour spectateur"]}
"""Subtitle language -> cue texts of the SubRip tracks in `multi_language`."""
CENTRE_HZ, SIDE_LEFT_HZ = 300, 2400


def _ffmpeg(*args: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed: apt-get install ffmpeg (.ci/run installs it)")
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, timeout=120)


def write_srt(path: Path, cues: Sequence[str]) -> Path:
    """One cue per 0.9 s slot, from t=0."""
    lines = []
    for n, text in enumerate(cues):
        lines += [str(n + 1), f"00:00:0{n},000 --> 00:00:0{n},900", text, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _segment(kind: int, pts: int, data: bytes) -> bytes:
    return b"PG" + struct.pack(">IIBH", pts, 0, kind, len(data)) + data


def write_pgs(path: Path, shows: Sequence[tuple[float, float]], width: int = WIDTH,
              height: int = HEIGHT) -> Path:
    """An HDMV PGS stream showing a 96x16 white bar from each `start` to `end` (seconds)."""
    ow, oh = 96, 16
    x, y = (width - ow) // 2, height - oh - 8
    window = struct.pack(">BBHHHH", 1, 0, x, y, ow, oh)
    line = bytes([0, 0xC0 | (ow >> 8), ow & 0xFF, 1, 0, 0])  # ow pixels of colour 1, end of line
    rle = line * oh
    out = b""
    for n, (start, end) in enumerate(shows):
        t = int(start * 90_000)
        pcs = struct.pack(">HHBHBBBB", width, height, 0x10, 2 * n, 0x80, 0, 0, 1)
        pcs += struct.pack(">HBBHH", 0, 0, 0, x, y)
        palette = struct.pack(">BB", 0, 0) + bytes([1, 235, 128, 128, 255])
        ods = struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big")
        ods += struct.pack(">HH", ow, oh) + rle
        out += (_segment(0x16, t, pcs) + _segment(0x17, t, window) + _segment(0x14, t, palette)
                + _segment(0x15, t, ods) + _segment(0x80, t, b""))
        t = int(end * 90_000)
        clear = struct.pack(">HHBHBBBB", width, height, 0x10, 2 * n + 1, 0, 0, 0, 0)
        out += _segment(0x16, t, clear) + _segment(0x17, t, window) + _segment(0x80, t, b"")
    path.write_bytes(out)
    return path


def multi_language(folder: Path) -> Path:
    """Three audio languages, two text and two bitmap subtitle tracks, in Matroska."""
    eng = write_srt(folder / "eng.srt", CUES["eng"])
    fra = write_srt(folder / "fra.srt", CUES["fra"])
    pgs = write_pgs(folder / "bars.sup", [(0.1, 0.9), (1.0, 1.8)])
    path = folder / "multi-language.mkv"
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}"]
    for hz in TONES.values():
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={hz}:duration={SECONDS}"]
    # -fix_sub_duration: a PGS cue lasts until the next display set; DVD needs an end time
    inputs += ["-i", str(eng), "-i", str(fra), "-f", "sup", "-i", str(pgs),
               "-fix_sub_duration", "-f", "sup", "-i", str(pgs)]
    maps = [arg for i in range(8) for arg in ("-map", str(i))]
    meta = []
    for k, lang in enumerate(TONES):
        meta += [f"-metadata:s:a:{k}", f"language={lang}",
                 f"-disposition:a:{k}", "default" if k == 0 else "0"]
    for k, (lang, flag) in enumerate((("eng", "0"), ("fra", "0"), ("fra", "forced"),
                                      ("deu", "0"))):
        meta += [f"-metadata:s:s:{k}", f"language={lang}", f"-disposition:s:{k}", flag]
    _ffmpeg(*inputs, *maps, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            "-ac", "2", "-c:s:0", "copy", "-c:s:1", "copy", "-c:s:2", "copy",
            "-c:s:3", "dvdsub", *meta, "-f", "matroska", str(path))
    return path


def surround(folder: Path) -> Path:
    """AC-3 5.1(side): 300 Hz in the centre, 2400 Hz in side-left, silence elsewhere."""
    path = folder / "surround.mkv"
    tone = "0.5*sin(2*PI*{hz}*t)"
    # 5.1(side) channel order: FL FR FC LFE SL SR
    exprs = "|".join(["0", "0", tone.format(hz=CENTRE_HZ), "0",
                      tone.format(hz=SIDE_LEFT_HZ), "0"])
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}",
            "-f", "lavfi", "-i",
            f"aevalsrc=exprs={exprs}:channel_layout=5.1(side):sample_rate=48000:duration={SECONDS}",
            "-map", "0", "-map", "1", "-c:v", "libx264", "-preset", "ultrafast",
            "-c:a", "ac3", "-b:a", "384k", "-metadata:s:a:0", "language=eng",
            "-f", "matroska", str(path))
    return path


def phone_mp4(folder: Path) -> Path:
    """An MP4 as phones and stores make it: one AAC track, mov_text subtitles in eng."""
    srt = write_srt(folder / "phone.srt", CUES["eng"])
    path = folder / "phone.mp4"
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}", "-i", str(srt),
            "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast",
            "-c:a", "aac", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng",
            "-metadata:s:a:0", "language=eng", str(path))
    return path
