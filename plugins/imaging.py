"""Image files for image domains: atomic PNG writing, tolerant PNG reading, contact sheets, complexity."""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from treediff.engine.errors import InputError
from treediff.engine.files import write_atomic
from treediff.engine.limits import check_image_pixels

ImageLike = Any  # torch.Tensor or np.ndarray, float [H, W] or [C, H, W] in [0, 1]

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)  # ITU-R 601, what PIL's "L" conversion uses
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def to_hwc(image: ImageLike, what: str = "image") -> np.ndarray:
    """``image`` as a float64 numpy array [H, W, C] (C in 1, 3, 4) clipped to [0, 1]."""
    array = image.detach().to("cpu", torch.float64).numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[0] not in (1, 3, 4) or array.shape[1] == 0 or array.shape[2] == 0:
        raise InputError(f"{what} has shape {tuple(array.shape)}; expected [H, W] or [C, H, W] with C in 1, 3, 4. "
                         "hint: pass one image, not a batch")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(f"{what} contains NaN or infinite values; expected floats in [0, 1]")
    clipped: np.ndarray = np.clip(array, 0.0, 1.0)
    return clipped.transpose(1, 2, 0)


def to_uint8(image: ImageLike, what: str = "image") -> np.ndarray:
    """``image`` quantised to uint8 [H, W] (one channel) or [H, W, C]."""
    array = np.rint(to_hwc(image, what) * 255.0).astype(np.uint8)
    return array[:, :, 0] if array.shape[2] == 1 else array


def save_png(image: ImageLike, path: str | os.PathLike[str], invert: bool = False) -> None:
    """Write a float image [H, W] or [C, H, W] in [0, 1] (C = 1 gray, 3 RGB, 4 RGBA) as an 8-bit PNG.

    Atomic: the PNG is written to a temporary file in the same directory and renamed over ``path``, so a
    failure leaves no partial file. ``invert`` writes ``1 - image`` (e.g. coverage -> dark shapes on white).
    """
    array = to_hwc(image, f"image for {str(path)!r}")
    if invert:
        array = 1.0 - array
    pixels = np.rint(array * 255.0).astype(np.uint8)
    picture = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)  # L, RGB or RGBA
    write_atomic(Path(path), lambda tmp: picture.save(tmp, format="PNG"))


def png_bytes(image: ImageLike, invert: bool = False) -> bytes:
    """The 8-bit PNG encoding of a float image [H, W] or [C, H, W] in [0, 1] (for report previews)."""
    import io

    array = to_hwc(image, "image")
    if invert:
        array = 1.0 - array
    pixels = np.rint(array * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _check_format(found: str | None, path: Path) -> None:
    """Warn when the file's real format is not the one its name says (e.g. a JPEG named .png)."""
    named = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".bmp": "BMP"}.get(path.suffix.lower())
    if named is not None and found is not None and found != named:
        warnings.warn(f"image {str(path)!r} is named {path.suffix} but is a {found} file; read as {found}"
                      + (" (lossy: its pixels may differ from the original drawing)" if found == "JPEG" else ""),
                      stacklevel=4)


def _open(path: Path) -> Image.Image:
    expected = "expected a readable PNG image"
    try:
        with Image.open(path) as opened:
            check_image_pixels(opened.size[0], opened.size[1], str(path))  # header only: nothing decoded yet
            _check_format(opened.format, path)
            opened.load()
            picture = opened.copy() if opened.mode != "P" else opened.convert("RGBA")
    except FileNotFoundError:
        raise InputError(f"image file {str(path)!r} does not exist; {expected}. hint: check the path") from None
    except IsADirectoryError:
        raise InputError(f"image file {str(path)!r} is a directory; {expected}") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"image file {str(path)!r} is too large to decode ({exc}); {expected} of at most "
                         "treediff.engine.limits.MAX_IMAGE_PIXELS pixels") from None
    except UnidentifiedImageError:
        raise InputError(f"image file {str(path)!r} is not an image; {expected}. "
                         "hint: convert it to PNG first") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"image file {str(path)!r} is unreadable ({exc}); {expected}. "
                         "hint: the file may be truncated or corrupt") from None
    return picture


def _to_rgb(picture: Image.Image) -> np.ndarray:
    """Any PIL image as float64 RGB [H, W, 3] in [0, 1]; transparency is composited over white."""
    if picture.mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(picture, dtype=np.float64)
        scale = 65535.0 if picture.mode != "I" or gray.max(initial=0) > 255 else 255.0
        gray = np.clip(gray / scale, 0.0, 1.0)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if picture.mode == "F":
        gray = np.clip(np.asarray(picture, dtype=np.float64), 0.0, 1.0)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info
    if has_alpha:
        rgba = np.asarray(picture.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[:, :, 3:4]
        return rgba[:, :, :3] * alpha + (1.0 - alpha)
    return np.asarray(picture.convert("RGB"), dtype=np.float64) / 255.0


def load_png(path: str | os.PathLike[str], size: tuple[int, int] | None = (128, 128), channels: int = 1,
             invert: bool = False, resize: bool = True) -> torch.Tensor:
    """Read an image file as float32 [channels, H, W] in [0, 1] on the CPU.

    Any PNG mode is accepted (palette, gray, gray+alpha, RGBA composited on white, 16-bit). ``channels=1``
    gives luma (ITU-R 601), ``channels=3`` gives RGB. ``size`` is (height, width); an image of another
    size is resized with antialiasing and a warning naming the file and both sizes (or, with
    ``resize=False``, rejected with InputError). ``size=None`` keeps the file's size. ``invert`` returns
    ``1 - value``. Unreadable or non-image files raise InputError naming the file.
    """
    if channels not in (1, 3):
        raise InputError(f"channels={channels!r} for {str(path)!r}; expected 1 (grayscale) or 3 (RGB)")
    path = Path(path)
    rgb = _to_rgb(_open(path))
    array = (rgb @ _LUMA)[:, :, None] if channels == 1 else rgb
    image = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).to(torch.float32)
    height, width = image.shape[1:]
    if size is not None and (height, width) != tuple(size):
        image = _resize(image, path, tuple(size), resize)
    if invert:
        image = 1.0 - image
    return image.clamp_(0.0, 1.0)


def _resize(image: torch.Tensor, path: Path, size: tuple[int, ...], allowed: bool) -> torch.Tensor:
    height, width = image.shape[1:]
    found, wanted = f"{width}x{height}", f"{size[1]}x{size[0]}"
    if not allowed:
        raise InputError(f"image {str(path)!r} is {found} pixels; expected {wanted}. "
                         "hint: resize it, or allow resizing")
    warnings.warn(f"image {str(path)!r} is {found} pixels; resized to {wanted}", stacklevel=3)
    out = F.interpolate(image[None], size=(size[0], size[1]), mode="bilinear", antialias=True, align_corners=False)
    return out[0]


def _label_lines(label: str, width: int, char_px: int = 6, max_lines: int = 3) -> list[str]:
    per_line = max(1, width // char_px)
    lines = [label[i:i + per_line] for i in range(0, len(label), per_line)] or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "~"
    return lines


def contact_sheet(images: Sequence[ImageLike] | torch.Tensor, path: str | os.PathLike[str], columns: int = 8,
                  labels: Sequence[str] | None = None, pad: int = 4) -> None:
    """Tile display-ready images ([H, W] or [C, H, W] in [0, 1]) into one PNG, optionally labelled.

    Images may differ in size and channel count (gray is promoted to RGB). Labels are wrapped under each
    tile (up to three lines). The sheet is written atomically.
    """
    tiles = [to_hwc(image, f"contact sheet image {i}") for i, image in enumerate(images)]
    if not tiles:
        raise InputError(f"contact sheet {str(path)!r} has no images; expected at least one")
    if labels is not None and len(labels) != len(tiles):
        raise InputError(f"contact sheet {str(path)!r} has {len(tiles)} images but {len(labels)} labels; "
                         "expected one label per image")
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell_w = max(t.shape[1] for t in tiles)
    cell_h = max(t.shape[0] for t in tiles)
    wrapped = [_label_lines(str(label), cell_w) for label in labels] if labels is not None else None
    label_h = 11 * max(len(lines) for lines in wrapped) + 2 if wrapped else 0
    sheet = Image.new("RGB", (pad + columns * (cell_w + pad), pad + rows * (cell_h + label_h + pad)), (200, 200, 200))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, tile in enumerate(tiles):
        x = pad + (i % columns) * (cell_w + pad)
        y = pad + (i // columns) * (cell_h + label_h + pad)
        rgb = tile[:, :, :3] if tile.shape[2] >= 3 else np.repeat(tile, 3, axis=2)
        sheet.paste(Image.fromarray(np.rint(rgb * 255.0).astype(np.uint8)), (x, y))
        if wrapped:
            for j, line in enumerate(wrapped[i]):
                draw.text((x, y + cell_h + 1 + 11 * j), line, fill=(0, 0, 0), font=font)
    write_atomic(Path(path), lambda tmp: sheet.save(tmp, format="PNG"))


def compression_ratio(image: ImageLike) -> float:
    """Raw size over zlib-compressed size (level 9) of the image quantised to 8 bits; higher = simpler."""
    raw = to_uint8(image).tobytes()
    return len(raw) / len(zlib.compress(raw, 9))


def complexity_filter(trees: Sequence[Any], render_fn: Callable[[Sequence[Any]], Any],
                      keep: float = 0.5) -> list[Any]:
    """Keep the ``keep`` fraction of ``trees`` whose renderings compress worst (the most complex ones).

    ``render_fn(trees)`` returns one image per tree (a [B, C, H, W] tensor or a sequence of images).
    Deterministic: ties keep the earlier tree; the result preserves the input order.
    """
    if not 0.0 <= keep <= 1.0:
        raise InputError(f"keep={keep!r}; expected a fraction in [0, 1]")
    trees = list(trees)
    if not trees:
        return []
    images = render_fn(trees)
    ratios = [compression_ratio(images[i]) for i in range(len(trees))]
    count = round(len(trees) * keep)
    ranked = sorted(range(len(trees)), key=lambda i: (ratios[i], i))
    chosen = sorted(ranked[:count])
    return [trees[i] for i in chosen]
