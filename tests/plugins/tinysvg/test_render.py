"""The batched TinySVG renderer: against skia per pixel, exact coverage cases, edge cases, batching, devices."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
import torch

from tests.references.tinysvg_skia import render_reference
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import Node
from treediff.plugins.tinysvg.render import TinySVGExecutor, ellipse_distance

Parse = Callable[[str], Node]
RED, BLUE, BLACK, WHITE = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def render(executor: TinySVGExecutor, tree: Node) -> np.ndarray:
    """One rendering as [H, W, 3] numpy."""
    return executor.execute([tree])[0].permute(1, 2, 0).numpy()


def _edge_programs(program: Parse) -> list[Node]:
    texts = ["(Ellipse 1 9 purple orange 9)", "(Ellipse 9 1 none black 9)", "(Rectangle 9 9 none green 9)",
             "(Ellipse 0 5 red blue 9)", "(Rectangle 9 0 red blue 9)", "(Ellipse 1 1 yellow black 9)",
             "(Move (Rectangle 9 9 red blue 4) 9 9 false false)", "(Move (Ellipse 9 9 red blue 4) 9 9 true true)",
             "(Arrange h (Ellipse 9 9 white black 9) (Ellipse 9 9 blue white 9) 9)",
             "(Arrange v (Rectangle 9 9 orange purple 1) (Rectangle 9 9 purple orange 2) 0)"]
    return [program(t) for t in texts]


def test_matches_skia_on_random_programs(executor: TinySVGExecutor, svg_grammar: Grammar, program: Parse) -> None:
    rng = random.Random(1)
    trees = [sample_tree(svg_grammar, rng, 1, 8) for _ in range(250)] + _edge_programs(program)
    ours = executor.execute(trees).permute(0, 2, 3, 1).numpy()
    reference = np.stack([render_reference(t) for t in trees])
    error = np.abs(ours - reference)
    assert error.mean() < 0.002
    assert error.reshape(len(trees), -1).mean(axis=1).max() < 0.01
    # Large differences only where the reference itself changes within a pixel's 3x3 neighbourhood (edges).
    padded = np.pad(reference, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    shifted = np.stack([padded[:, 1 + dy:129 + dy, 1 + dx:129 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    flat = (shifted.max(axis=0) - shifted.min(axis=0)).max(axis=-1) < 1e-6
    interior = error.max(axis=-1)[flat]
    assert interior.max() < 0.2  # the inner stroke edge of thin ellipses with thick strokes (see render.py)
    assert (interior > 0.02).mean() < 1e-5


def test_exact_area_coverage_of_rectangles(executor: TinySVGExecutor, program: Parse) -> None:
    # 6 + 1 + 6 px wide: red covers 57.5..63.5 and blue 64.5..70.5, so columns 57, 63, 64, 70 are half painted.
    image = render(executor, program("(Arrange h (Rectangle 1 1 red none 0) (Rectangle 1 1 blue none 0) 1)"))
    assert np.allclose(image[64, 57], (1.0, 0.5, 0.5), atol=1e-6)
    assert np.allclose(image[64, 58:63], RED) and np.allclose(image[64, 63], (1.0, 0.5, 0.5), atol=1e-6)
    assert np.allclose(image[64, 64], (0.5, 0.5, 1.0), atol=1e-6) and np.allclose(image[64, 65:70], BLUE)
    assert np.allclose(image[64, 70], (0.5, 0.5, 1.0), atol=1e-6) and np.allclose(image[64, 71], WHITE)
    assert np.allclose(image[60, 56], WHITE) and np.allclose(image[61:67, 60], RED)
    assert np.allclose(image[60, 60], WHITE) and np.allclose(image[67, 60], WHITE)


def test_stroke_width_is_half_sw_centred_on_the_outline(executor: TinySVGExecutor, program: Parse) -> None:
    image = render(executor, program("(Rectangle 4 4 none black 4)"))  # box 52..76, stroke 2 px: 51..53
    assert np.allclose(image[64, 51:53], BLACK) and np.allclose(image[64, 75:77], BLACK)
    assert np.allclose(image[64, 50], WHITE) and np.allclose(image[64, 53:75], WHITE)
    assert np.allclose(image[51:53, 51:77], BLACK) and np.allclose(image[77, 60], WHITE)
    thin = render(executor, program("(Rectangle 4 4 none black 1)"))  # 0.5 px: 51.75..52.25
    assert np.allclose(thin[64, 51], 0.75, atol=1e-6) and np.allclose(thin[64, 52], 0.75, atol=1e-6)


def test_stroke_is_painted_over_the_fill(executor: TinySVGExecutor, program: Parse) -> None:
    image = render(executor, program("(Rectangle 4 4 red blue 8)"))  # stroke 4 px: 50..54 over fill 52..76
    assert np.allclose(image[64, 52:54], BLUE) and np.allclose(image[64, 54], RED)


def test_none_paints_nothing(executor: TinySVGExecutor, program: Parse) -> None:
    assert (render(executor, program("(Rectangle 4 4 none none 3)")) == 1.0).all()
    assert (render(executor, program("(Ellipse 6 3 none none 9)")) == 1.0).all()
    no_stroke = render(executor, program("(Ellipse 5 5 red none 9)"))
    assert np.array_equal(no_stroke, render(executor, program("(Ellipse 5 5 red none 0)")))
    outline = render(executor, program("(Ellipse 5 5 none blue 4)"))
    assert np.allclose(outline[64, 64], WHITE) and np.allclose(outline[64, 49], BLUE)


def test_zero_sizes_draw_nothing(executor: TinySVGExecutor, program: Parse) -> None:
    for text in ("(Rectangle 0 5 red blue 9)", "(Ellipse 5 0 red blue 9)", "(Ellipse 0 0 black black 9)"):
        assert (render(executor, program(text)) == 1.0).all()
    assert (render(executor, program("(Rectangle 3 3 red blue 0)"))[55:73, 55:73] == RED).all()


def test_shapes_off_the_canvas(executor: TinySVGExecutor, program: Parse) -> None:
    partly = render(executor, program("(Move (Rectangle 9 9 red none 0) 9 9 false false)"))  # 91..145
    assert np.allclose(partly[100, 100], RED) and np.allclose(partly[127, 127], RED)
    assert np.allclose(partly[90, 90], WHITE)
    back = program("(Move (Move (Ellipse 2 2 red blue 9) 9 9 false false) 9 9 true true)")  # moves cancel
    assert np.allclose(render(executor, back)[62:66, 62:66], RED) and np.allclose(render(executor, back)[64, 58], BLUE)
    away = program("(Move (Move (Ellipse 2 2 red blue 9) 9 9 false false) 9 9 false false)")
    assert (render(executor, away) == 1.0).all()


def test_painters_order(executor: TinySVGExecutor, program: Parse) -> None:
    under = program("(Arrange h (Move (Rectangle 2 2 red none 0) 2 0 false false) (Rectangle 2 2 blue none 0) 0)")
    assert np.allclose(render(executor, under)[64, 70], BLUE)
    over = program("(Arrange h (Rectangle 2 2 blue none 0) (Move (Rectangle 2 2 red none 0) 2 0 true false) 0)")
    assert np.allclose(render(executor, over)[64, 58], RED)


def test_batches_render_like_single_programs(executor: TinySVGExecutor, svg_grammar: Grammar) -> None:
    rng = random.Random(7)
    trees = [sample_tree(svg_grammar, rng, 1, 8) for _ in range(160)]  # enough shapes for smaller windows
    batch = executor.execute(trees)
    for i in range(0, len(trees), 23):
        assert torch.allclose(batch[i], executor.execute([trees[i]])[0], atol=1e-5)


def test_output_contract(executor: TinySVGExecutor, svg_grammar: Grammar) -> None:
    trees = [sample_tree(svg_grammar, random.Random(i), 2, 8) for i in range(5)]
    out = executor.execute(trees)
    assert out.shape == (5, 3, 128, 128) and out.dtype == torch.float32 and out.device == executor.device
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert executor.execute([]).shape == (0, 3, 128, 128)


def test_deep_nesting_renders(executor: TinySVGExecutor, program: Parse) -> None:
    text = "(Rectangle 1 1 red none 0)"
    for _ in range(300):
        text = f"(Arrange h {text} (Ellipse 1 1 blue black 1) 0)"
    image = render(executor, program(text))
    assert np.isfinite(image).all() and (image < 1.0).any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(executor: TinySVGExecutor, svg_grammar: Grammar) -> None:
    rng = random.Random(2)
    trees = [sample_tree(svg_grammar, rng, 1, 8) for _ in range(64)]
    gpu = TinySVGExecutor("cuda").execute(trees)
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), executor.execute(trees), atol=1e-4)


def _brute_force_distance(a: float, b: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, 20000, endpoint=False)
    gap = np.hypot(x[:, None] - a * np.cos(t), y[:, None] - b * np.sin(t)).min(axis=1)
    inside = (x / a) ** 2 + (y / b) ** 2 < 1.0
    return np.asarray(np.where(inside, -gap, gap))


@pytest.mark.parametrize("a, b", [(3.0, 27.0), (27.0, 3.0), (15.0, 24.0), (3.0, 3.0), (27.0, 27.0), (9.0, 27.0)])
def test_ellipse_distance_error_bound(a: float, b: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-a - 3.5, a + 3.5, 400)
    y = rng.uniform(-b - 3.5, b + 3.5, 400)
    exact = _brute_force_distance(a, b, x, y)
    band = np.abs(exact) < 3.0
    ours = ellipse_distance(torch.tensor(a), torch.tensor(b), torch.tensor(x, dtype=torch.float32),
                            torch.tensor(y, dtype=torch.float32)).numpy()
    assert np.abs(ours - exact)[band].max() < 0.02
