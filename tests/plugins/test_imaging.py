"""Tests for treediff.plugins.imaging: PNG round trips, modes, resizing, errors, contact sheets, complexity filter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from treediff.engine.errors import InputError
from treediff.plugins.imaging import complexity_filter, compression_ratio, contact_sheet, load_png, save_png


def _gradient(h: int = 16, w: int = 24) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((xs + ys) / (h + w - 2)).to(torch.float32)


def test_gray_round_trip_is_exact_to_8_bits(tmp_path: Path) -> None:
    image = _gradient()
    save_png(image, tmp_path / "g.png")
    back = load_png(tmp_path / "g.png", size=(16, 24))
    assert back.shape == (1, 16, 24) and back.dtype == torch.float32
    assert torch.allclose(back[0], image, atol=0.5 / 255 + 1e-6)
    assert Image.open(tmp_path / "g.png").mode == "L"


def test_rgb_round_trip_and_gray_conversion(tmp_path: Path) -> None:
    image = torch.stack([_gradient(), torch.zeros(16, 24), torch.ones(16, 24)])
    save_png(image, tmp_path / "c.png")
    rgb = load_png(tmp_path / "c.png", size=(16, 24), channels=3)
    assert torch.allclose(rgb, image, atol=0.5 / 255 + 1e-6)
    gray = load_png(tmp_path / "c.png", size=(16, 24), channels=1)
    expected = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    assert torch.allclose(gray[0], expected, atol=1e-5)


def test_save_invert_and_load_invert(tmp_path: Path) -> None:
    coverage = torch.zeros(1, 8, 8)
    coverage[0, 2:5, 2:5] = 1.0
    save_png(coverage, tmp_path / "s.png", invert=True)
    pixels = np.asarray(Image.open(tmp_path / "s.png"))
    assert pixels[3, 3] == 0 and pixels[0, 0] == 255  # shape dark on white
    assert torch.equal(load_png(tmp_path / "s.png", size=(8, 8), invert=True), coverage)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent black -> white
    rgba[0, 0] = (0, 0, 0, 255)  # opaque black
    rgba[1, 1] = (0, 0, 0, 128)  # half transparent black -> mid gray
    Image.fromarray(rgba).save(tmp_path / "a.png")
    gray = load_png(tmp_path / "a.png", size=(4, 4))[0]
    assert gray[0, 0] == 0.0 and gray[3, 3] == 1.0
    assert abs(gray[1, 1].item() - (1 - 128 / 255)) < 1e-5


def test_la_palette_and_sixteen_bit_modes(tmp_path: Path) -> None:
    la = Image.fromarray(np.stack([np.full((4, 4), 0, np.uint8), np.full((4, 4), 0, np.uint8)], axis=2), mode=None)
    la.save(tmp_path / "la.png")
    assert Image.open(tmp_path / "la.png").mode == "LA"
    assert torch.all(load_png(tmp_path / "la.png", size=(4, 4)) == 1.0)  # transparent -> white

    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    palette.putpixel((1, 2), 1)
    palette.save(tmp_path / "p.png")
    loaded = load_png(tmp_path / "p.png", size=(4, 4))[0]
    assert loaded[2, 1] == 1.0 and loaded[0, 0] == 0.0

    deep = (np.arange(16).reshape(4, 4) * 4369).astype(np.uint16)  # 0 .. 65535
    Image.fromarray(deep).save(tmp_path / "d.png")
    loaded = load_png(tmp_path / "d.png", size=(4, 4))[0]
    assert torch.allclose(loaded, torch.from_numpy(deep / 65535.0).float(), atol=1e-6)


def test_resize_warns_naming_file_and_sizes(tmp_path: Path) -> None:
    save_png(torch.zeros(64, 32), tmp_path / "small.png")
    with pytest.warns(UserWarning, match=r"small\.png.*32x64.*128x128"):
        image = load_png(tmp_path / "small.png")
    assert image.shape == (1, 128, 128)
    with pytest.raises(InputError, match=r"small\.png.*32x64.*expected 128x128"):
        load_png(tmp_path / "small.png", resize=False)


def test_unreadable_inputs_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.png.*does not exist"):
        load_png(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.txt.*not an image.*expected a readable PNG"):
        load_png(tmp_path / "notes.txt")
    save_png(torch.zeros(8, 8), tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:40])
    with pytest.raises(InputError, match=r"cut\.png"):
        load_png(tmp_path / "cut.png", size=(8, 8))
    with pytest.raises(InputError, match="directory"):
        load_png(tmp_path)


def test_save_is_atomic_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    save_png(torch.zeros(4, 4), target)
    before = target.read_bytes()
    with pytest.raises(InputError):
        save_png(torch.zeros(2, 3, 4, 4), target)  # a batch, not an image
    with pytest.raises(InputError):
        save_png(torch.full((4, 4), float("nan")), target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.png"]  # no temporary files left
    with pytest.raises(InputError, match="writable directory"):
        save_png(torch.zeros(4, 4), tmp_path / "no" / "such" / "dir.png")


def test_contact_sheet_tiles_and_labels(tmp_path: Path) -> None:
    images = [torch.full((1, 10, 10), i / 5) for i in range(5)] + [torch.zeros(3, 10, 10)]
    contact_sheet(images, tmp_path / "sheet.png", columns=4, labels=[f"#{i}" for i in range(6)], pad=2)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape[1] == 2 + 4 * 12 and sheet.shape[2] == 3
    assert tuple(sheet[2, 2]) == (0, 0, 0)  # first tile is black
    assert tuple(sheet[2, 2 + 12 * 3]) == (153, 153, 153)  # fourth tile is 0.6 gray
    contact_sheet(torch.zeros(3, 1, 8, 8), tmp_path / "batch.png", columns=8)
    assert Image.open(tmp_path / "batch.png").size == (4 + 3 * 12, 4 + 12)
    with pytest.raises(InputError, match="labels"):
        contact_sheet(images, tmp_path / "bad.png", labels=["one"])


def test_compression_ratio_orders_simple_before_complex() -> None:
    generator = torch.Generator().manual_seed(0)
    blank = torch.zeros(32, 32)
    noise = (torch.rand(32, 32, generator=generator) > 0.5).float()
    assert compression_ratio(blank) > compression_ratio(noise) > 0


def test_complexity_filter_keeps_complex_half_deterministically() -> None:
    generator = torch.Generator().manual_seed(1)
    images = {i: (torch.rand(16, 16, generator=generator) < i / 10).float() for i in range(10)}

    def render(keys: list[int]) -> torch.Tensor:
        return torch.stack([images[k][None] for k in keys])

    kept = complexity_filter(list(range(10)), render, keep=0.5)
    assert len(kept) == 5 and kept == sorted(kept)
    ratios = {k: compression_ratio(images[k]) for k in range(10)}
    assert max(ratios[k] for k in kept) <= min(ratios[k] for k in range(10) if k not in kept)
    assert complexity_filter(list(range(10)), render, keep=0.5) == kept
    assert complexity_filter([], render) == []
