"""Draw planbot's Teams icons (no image library needed): python appmanifest/make_icons.py.

color.png 192x192: four RAG bars (red, amber, green, blue) on the accent colour.
outline.png 32x32: white on transparent, the same bars as outlines, as Teams asks.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

Pixel = tuple[int, int, int, int]
ACCENT = (31, 78, 121, 255)
RAG = [(209, 52, 56, 255), (255, 170, 68, 255), (16, 124, 16, 255), (0, 120, 212, 255)]
WHITE, CLEAR = (255, 255, 255, 255), (0, 0, 0, 0)


def png(size: int, paint: Callable[[int, int], Pixel]) -> bytes:
    """A size x size RGBA PNG whose pixel (x, y) is paint(x, y)."""
    rows = b"".join(b"\x00" + b"".join(bytes(paint(x, y)) for x in range(size))
                    for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def _bars(size: int, margin: int, gap: int) -> list[tuple[int, int, int, int]]:
    """Four rising bars (x0, y0, x1, y1) inside the square."""
    width = (size - 2 * margin - 3 * gap) // 4
    heights = [0.45, 0.6, 0.75, 0.9]
    bottom = size - margin
    return [(margin + i * (width + gap), int(bottom - h * (size - 2 * margin)),
             margin + i * (width + gap) + width, bottom) for i, h in enumerate(heights)]


def color(x: int, y: int) -> Pixel:
    """The colour icon: RAG bars on the accent background, rounded corners."""
    corner = 28
    for cx, cy in ((corner, corner), (191 - corner, corner), (corner, 191 - corner),
                   (191 - corner, 191 - corner)):
        outside_x = x < corner and cx == corner or x > 191 - corner and cx != corner
        outside_y = y < corner and cy == corner or y > 191 - corner and cy != corner
        if outside_x and outside_y and (x - cx) ** 2 + (y - cy) ** 2 > corner ** 2:
            return CLEAR
    for (x0, y0, x1, y1), rgba in zip(_bars(192, 36, 10), RAG, strict=True):
        if x0 <= x < x1 and y0 <= y < y1:
            return rgba
    return ACCENT


def outline(x: int, y: int) -> Pixel:
    """The outline icon: the bars as 2-pixel white outlines on transparent."""
    for x0, y0, x1, y1 in _bars(32, 3, 2):
        inside = x0 <= x < x1 and y0 <= y < y1
        if inside and (x < x0 + 2 or x >= x1 - 2 or y < y0 + 2 or y >= y1 - 2):
            return WHITE
    return CLEAR


def main(folder: str = str(Path(__file__).resolve().parent)) -> None:
    """Write color.png and outline.png into the folder."""
    Path(folder, "color.png").write_bytes(png(192, color))
    Path(folder, "outline.png").write_bytes(png(32, outline))


if __name__ == "__main__":
    main(*sys.argv[1:])
