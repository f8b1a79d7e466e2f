"""The TinySVG colour table: each colour word's 8-bit sRGB value (CSS/SVG named colours), ``none`` = no paint."""

from __future__ import annotations

# CSS Color Module Level 4 / SVG 1.1 named colours (note: CSS "green" is 0,128,0, not 0,255,0).
COLORS: dict[str, tuple[int, int, int] | None] = {
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "purple": (128, 0, 128),
    "orange": (255, 165, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "none": None,
}

WORDS: tuple[str, ...] = tuple(COLORS)  # index order used in layout tensors


def color_index(word: str) -> int:
    """Index of colour ``word`` in :data:`WORDS` (KeyError-free: the grammar only admits these words)."""
    return WORDS.index(word)


def rgb_table() -> list[tuple[float, float, float, float]]:
    """Per colour index: (r, g, b, paint) in [0, 1]; ``paint`` is 0 for ``none`` and 1 otherwise."""
    table: list[tuple[float, float, float, float]] = []
    for rgb in COLORS.values():
        if rgb is None:
            table.append((0.0, 0.0, 0.0, 0.0))
        else:
            table.append((rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, 1.0))
    return table
