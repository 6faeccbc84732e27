"""Hand-built PNG bytes that Pillow's encoder would never write, for the decoder's error paths."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _gray_png(width: int, height: int, *data_chunks: tuple[bytes, bytes]) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    body = b"".join(_chunk(kind, data) for kind, data in data_chunks)
    return SIGNATURE + _chunk(b"IHDR", header) + body + _chunk(b"IEND", b"")


def png_header_only(width: int, height: int) -> bytes:
    """A gray PNG that declares width x height but holds no pixel data: any decode attempt fails,
    so refusing it as too large proves the size was checked before decoding."""
    return _gray_png(width, height, (b"IDAT", b""))


def broken_png() -> bytes:
    """A 16x16 PNG whose pixel data continues in a chunk with a garbled type, as a flipped byte in
    transit leaves it: Pillow raises SyntaxError ("broken PNG file") rather than OSError."""
    pixels = zlib.compress(b"".join(b"\x00" + bytes(range(row, row + 16)) for row in range(16)))
    half = len(pixels) // 2
    return _gray_png(16, 16, (b"IDAT", pixels[:half]), (b"\xa2\xa2BN", pixels[half:]))
