"""Bad inputs the test suite replays (tests/test_badinput.py): made here from a few bytes, so
nothing large is committed. Each returns bytes (or writes a file) exactly as a careless user or
a hostile client would send it."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int, real: bool = True) -> bytes:
    """A black 1-bit PNG of width x height: a few KB that a decoder expands to 3 bytes a pixel
    (8000 x 8000: 8 KB -> 192 MB). With real=False only the header is honest (the pixel data is
    cut short): it must be refused from the header alone."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    if real:
        packer = zlib.compressobj(9)
        rows = (b"\0" * (1 + (width + 7) // 8)) * 100  # filter byte + packed pixels, 100 rows
        body = b"".join(packer.compress(rows) for _ in range(height // 100)) + packer.flush()
    else:
        body = zlib.compress(b"\0" * 64)
    return PNG_MAGIC + header + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG claiming width x height (SOF0), with no picture after it."""
    sof = struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    return b"\xff\xd8" + app0 + b"\xff\xc0" + sof + b"\xff\xd9"


def gif_image() -> bytes:
    """A valid 1x1 GIF: an image, but not a format the server reads."""
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
            b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def hls_playlist(target: str) -> bytes:
    """An HLS playlist whose one segment is `target`: a path, a file:// URL or a web URL."""
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n".encode()


def ffconcat(target: str) -> bytes:
    """FFmpeg's concat script, another format that names other files."""
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def binary_junk(n: int = 256) -> bytes:
    """Bytes that are no text in any encoding a YAML or CSV reader would accept."""
    return bytes(range(256))[:n] * 2 + b"\xff\xfe\x00\x00\x80\x81"


def nested_json(depth: int) -> str:
    return '{"hands": ' + "[" * depth + "]" * depth + "}"


def hand(value: float | None = None, spread: bool = True) -> list:
    """21 [x, y, z] points: a plausible open hand, or every point equal to `value`."""
    if value is not None:
        return [[value, value, value]] * 21
    return [[0.4 + 0.01 * i, 0.5 + 0.012 * (i % 5), -0.01 * (i % 3)] for i in range(21)] if spread else None


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path
