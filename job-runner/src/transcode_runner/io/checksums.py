"""Local digests of a file that predict what S3 reports for its upload.

`transfer.upload` uploads with CRC32 checksums and then asks the server for the
object's checksum; this module computes the matching local value: a full-object
CRC32, a composite CRC32 (CRC32 of the parts' CRC32s, suffixed `-N`), or, for a
server without checksum support, the ETag (MD5, or MD5 of the parts' MD5s
suffixed `-N` for a multipart upload). Part boundaries must equal the upload's
part size. Pure functions over a file; no S3 access.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path

_READ = 1024 * 1024


def _parts(path: Path, part_size: int) -> Iterator[Iterator[bytes]]:
    """Yield, per part, an iterator over its bytes in 1 MiB reads."""
    with path.open("rb") as handle:
        while True:
            first = handle.read(min(_READ, part_size))
            if not first:
                return

            def chunks(first: bytes = first) -> Iterator[bytes]:
                yield first
                left = part_size - len(first)
                while left > 0:
                    data = handle.read(min(_READ, left))
                    if not data:
                        return
                    left -= len(data)
                    yield data

            yield chunks()


def crc32_full(path: Path) -> str:
    """Base64 of the big-endian CRC32 of the whole file (S3's FULL_OBJECT value)."""
    crc = 0
    with path.open("rb") as handle:
        while data := handle.read(_READ):
            crc = zlib.crc32(data, crc)
    return _b64(crc.to_bytes(4, "big"))


def crc32_composite(path: Path, part_size: int) -> str:
    """S3's COMPOSITE CRC32 for a multipart upload with `part_size` parts: `b64-N`."""
    digests = bytearray()
    count = 0
    for part in _parts(path, part_size):
        crc = 0
        for data in part:
            crc = zlib.crc32(data, crc)
        digests += crc.to_bytes(4, "big")
        count += 1
    return f"{_b64(zlib.crc32(bytes(digests)).to_bytes(4, 'big'))}-{count}"


def etag(path: Path, part_size: int | None) -> str:
    """The ETag S3 gives an unencrypted object: MD5 hex, or `md5(md5s)-N` if multipart."""
    if part_size is None:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while data := handle.read(_READ):
                digest.update(data)
        return digest.hexdigest()
    digests = bytearray()
    count = 0
    for part in _parts(path, part_size):
        md5 = hashlib.md5(usedforsecurity=False)
        for data in part:
            md5.update(data)
        digests += md5.digest()
        count += 1
    return f"{hashlib.md5(bytes(digests), usedforsecurity=False).hexdigest()}-{count}"


def sha256_hex(path: Path) -> str:
    """Hex SHA-256 of a whole file (the checksum local outputs report)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(_READ):
            digest.update(data)
    return digest.hexdigest()


def b64_to_hex(value: str) -> str:
    """`base64[-N]` (as S3 prints checksums) to `hex[-N]`."""
    digest, dash, count = value.partition("-")
    return base64.b64decode(digest).hex() + (dash + count if dash else "")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
