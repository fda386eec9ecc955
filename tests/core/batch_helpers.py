"""Small inputs for the batch tests: a folder of little images, plus the bad files a line produces."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, count: int, size: int = 48, seed: int = 0) -> list[Path]:
    """``count`` random RGB PNGs in ``folder/a`` and ``folder/b`` (so there are two folders)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        sub = folder / ("a" if i % 2 == 0 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"img_{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (size, size + i % 3, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header() -> bytes:
    """A PNG that declares 60000×60000 pixels (far above the pixel limit) in a few bytes."""
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + _png_chunk(b"IEND", b"")


def write_bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """Truncated, empty, not an image, huge: one of each in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    bad = {"truncated": folder / "truncated.png", "empty": folder / "empty.png",
           "text": folder / "notes.png", "huge": folder / "huge.png"}
    bad["truncated"].write_bytes(good.read_bytes()[:200])
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("this is not an image\n")
    bad["huge"].write_bytes(huge_png_header())
    return bad
