"""Bad inputs made on the fly: the images a careless or hostile client sends."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bad_images() -> dict[str, bytes]:
    """File name → bytes: empty, truncated JPEG, text, 1×1 PNG, and a PNG whose header
    claims 20000×20000 pixels (a decompression bomb)."""
    files = {"empty.jpg": b""}
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        buf, format="JPEG"
    )
    files["truncated.jpg"] = buf.getvalue()[: len(buf.getvalue()) // 2]
    files["text.jpg"] = b"hello, I am not an image\n"
    one = io.BytesIO()
    Image.new("RGB", (1, 1)).save(one, format="PNG")
    files["one_pixel.png"] = one.getvalue()
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)  # 400 MP claimed
    files["bomb.png"] = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + _png_chunk(b"IEND", b"")
    )
    return files


def noise_jpeg(size: int = 256, seed: int = 0) -> bytes:
    """A valid JPEG of random noise: an image without a face."""
    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), np.uint8)
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()
