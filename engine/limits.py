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

MAX_SAMPLES = 1_000_000
"""Most programs ``treediff sample`` draws in one call (``--max-samples`` raises it)."""
