"""Documented resource limits: inputs past them are refused early with the limit in the message.

Each limit is a module constant (the default) that a command flag can raise where that makes sense.
"""

from __future__ import annotations

MAX_TREE_DEPTH = 4000
"""Deepest nesting of a program tree accepted by the parser (every tree walk is iterative below it)."""

MAX_PROGRAM_CHARS = 1_000_000
"""Longest program text parsed (``--max-program-chars`` raises it where a command reads programs)."""

MAX_IMAGE_PIXELS = 16_000_000
"""Most pixels of an input image decoded (checked on the header; ``--max-image-pixels`` raises it)."""

MAX_RENDERED_SAMPLES = 10_000
"""Most programs ``treediff sample --out`` renders in one call (held in memory; ``--max-samples`` raises it).
Without ``--out`` programs are streamed one line at a time, so any ``-n`` runs in constant memory."""


def check_program_length(length: int, source: str) -> None:
    """InputError when program text of ``length`` characters is over :data:`MAX_PROGRAM_CHARS`."""
    from treediff.engine.errors import InputError

    if length > MAX_PROGRAM_CHARS:
        raise InputError(f"program {source!r} is {length} characters long; expected at most {MAX_PROGRAM_CHARS} "
                         "(treediff.engine.limits.MAX_PROGRAM_CHARS). hint: raise it with --max-program-chars N "
                         "if this program is really meant")


def check_image_pixels(width: int, height: int, source: str) -> None:
    """InputError when an image header announces more than :data:`MAX_IMAGE_PIXELS` (checked before decoding)."""
    from treediff.engine.errors import InputError

    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"image {source!r} is {width}x{height} = {width * height} pixels; expected at most "
                         f"{MAX_IMAGE_PIXELS} (treediff.engine.limits.MAX_IMAGE_PIXELS), checked before decoding. "
                         "hint: shrink it first, or raise the limit with --max-image-pixels N")
