"""RFC 6381 codec strings (`avc1.64001f`, `hvc1.1.6.L93.B0`, `av01.0.05M.08`, `mp4a.40.2`).

`app.package` reads each rendition's fMP4 init segment and calls `from_init`,
which finds the sample entry and its decoder configuration record (avcC, hvcC,
av1C, vpcC, esds, dOps) and writes the codec string the way ISO/IEC 14496-15
Annex E, the AV1 ISOBMFF binding, the VP codec ISOBMFF binding and RFC 6381
spell it: profile, constraints and level come from the encoded stream, never
from the spec. Pure: bytes in, a string out; `ValueError` when no known
configuration record is there.
"""

from __future__ import annotations

import struct

_VIDEO_ENTRIES = (b"avc1", b"avc3", b"hvc1", b"hev1", b"av01", b"vp09")


def from_init(data: bytes) -> str:
    """The codec string of the (single) track of an fMP4 init segment."""
    for config, reader in ((b"avcC", _avc), (b"hvcC", _hevc), (b"av1C", _av1), (b"vpcC", _vp9),
                           (b"esds", _aac), (b"dOps", _opus)):
        payload = _box(data, config)
        if payload is not None:
            return reader(payload, _entry(data))
    raise ValueError("no avcC, hvcC, av1C, vpcC, esds or dOps box in the init segment")


def _box(data: bytes, kind: bytes) -> bytes | None:
    """The payload of the first box of type `kind` (found by its header, size checked)."""
    at = data.find(kind, 4)
    while at >= 4:
        size = struct.unpack(">I", data[at - 4:at])[0]
        if 8 <= size <= len(data) - at + 4:
            return data[at + 4:at - 4 + size]
        at = data.find(kind, at + 1)
    return None


def _entry(data: bytes) -> str:
    for kind in _VIDEO_ENTRIES:
        if _box(data, kind) is not None:
            return kind.decode()
    return ""


def _avc(p: bytes, entry: str) -> str:
    return f"{entry or 'avc1'}.{p[1]:02x}{p[2]:02x}{p[3]:02x}"


def _hevc(p: bytes, entry: str) -> str:
    space = "" if p[1] >> 6 == 0 else "ABC"[(p[1] >> 6) - 1]
    tier = "H" if p[1] & 0x20 else "L"
    profile = p[1] & 0x1F
    compat = int("{:032b}".format(struct.unpack(">I", p[2:6])[0])[::-1], 2)
    constraints = list(p[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [entry or "hvc1", f"{space}{profile}", f"{compat:X}", f"{tier}{p[12]}"]
    return ".".join(parts + [f"{b:X}" for b in constraints])


def _av1(p: bytes, entry: str) -> str:
    profile, level = p[1] >> 5, p[1] & 0x1F
    tier = "H" if p[2] & 0x80 else "M"
    depth = 12 if (p[2] & 0x40 and p[2] & 0x20) else 10 if p[2] & 0x40 else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def _vp9(p: bytes, entry: str) -> str:
    profile, level, depth = p[4], p[5], p[6] >> 4  # after version (1) and flags (3)
    return f"vp09.{profile:02d}.{level:02d}.{depth:02d}"


def _aac(p: bytes, entry: str) -> str:
    """`mp4a.OTI.AOT`: the object type indication, and for AAC (0x40) the audio object type."""
    body = p[4:]  # version and flags
    at, oti = 0, None
    while at < len(body):
        tag = body[at]
        at += 1
        while at < len(body) and body[at] & 0x80:  # the descriptor size: 7 bits a byte
            at += 1
        at += 1
        if tag == 0x03:  # ES_Descriptor: ES_ID, flags, optional fields
            flags = body[at + 2]
            at += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                at += 1 + body[at]
        elif tag == 0x04:  # DecoderConfigDescriptor
            oti = body[at]
            at += 13
        elif tag == 0x05:  # DecoderSpecificInfo: AudioSpecificConfig
            aot = body[at] >> 3
            if aot == 31:
                aot = 32 + (((body[at] & 0x07) << 3) | (body[at + 1] >> 5))
            return f"mp4a.{oti or 0x40:02x}.{aot}"
        else:
            break
    return f"mp4a.{oti or 0x40:02x}"


def _opus(p: bytes, entry: str) -> str:
    return "opus"
