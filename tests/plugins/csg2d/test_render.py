"""The batched CSG2D renderer against exact geometry and skia, per pixel, plus edge cases and batching."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tests.references.csg2d_skia import SkiaRenderer, exact_inside
from tests.toys import GRAMMAR_DIR
from treediff.engine.errors import DomainError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.tree import Node
from treediff.plugins.csg2d.plugin import GRAMMAR_PATH
from treediff.plugins.csg2d.render import Renderer

GRAMMAR = Grammar.load(GRAMMAR_PATH)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer("cpu")


@pytest.fixture(scope="module")
def skia() -> SkiaRenderer:
    return SkiaRenderer()


def trees_of(texts: list[str]) -> list[Node]:
    return [parse(GRAMMAR, text) for text in texts]


def random_trees(count: int, seed: int, lo: int = 1, hi: int = 8) -> list[Node]:
    rng = random.Random(seed)
    return [sample_tree(GRAMMAR, rng, lo, hi) for _ in range(count)]


def chain(depth: int) -> Node:
    """A left-deep tree of ``depth`` alternating unions and differences of rings and bars."""
    text = "(Circle 6 8 8)"
    for i in range(depth):
        op = "-" if i % 2 else "+"
        shape = f"(Circle {1 + i % 5} {2 + i % 12} {3 + (i * 5) % 11})" if i % 3 else f"(Quad {i % 16} 8 2 9 {i % 8})"
        text = f"({op} {text} {shape})" if i % 4 else f"({op} {shape} {text})"
    return parse(GRAMMAR, text)


def assert_exact(images: torch.Tensor, trees: list[Node]) -> None:
    """Pixels whose centre is more than half a pixel from every boundary are exactly 0 or 1, as geometry says."""
    for image, tree in zip(images[:, 0].numpy(), trees):
        inside, edge = exact_inside(tree)
        clear = edge > 0.5 + 1e-6
        wrong = np.argwhere(clear & (image != inside.astype(np.float32)))
        assert len(wrong) == 0, f"{tree}: pixels (row, col) {wrong[:5].tolist()} differ from exact geometry"


def assert_like_skia(images: torch.Tensor, trees: list[Node], skia: SkiaRenderer) -> None:
    """Binarized interiors agree exactly with skia; anti-aliased edges within tolerance."""
    for image, tree in zip(images[:, 0].numpy(), trees):
        reference = skia.render(tree)
        _, edge = exact_inside(tree)
        interior = edge > 1.0
        assert np.array_equal(image[interior] > 0.5, reference[interior] > 0.5), f"{tree}: interiors differ"
        diff = np.abs(image - reference)
        assert diff.max() <= 0.4, f"{tree}: edge pixel off by {diff.max():.3f}"
        assert diff.mean() <= 0.005, f"{tree}: mean difference {diff.mean():.4f}"


def test_random_programs_match_exact_geometry(renderer: Renderer) -> None:
    trees = random_trees(400, seed=1)
    images = renderer.execute(trees)
    assert images.shape == (400, 1, 128, 128) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert_exact(images, trees)


def test_random_programs_match_skia(renderer: Renderer, skia: SkiaRenderer) -> None:
    trees = random_trees(300, seed=2)
    assert_like_skia(renderer.execute(trees), trees, skia)


def test_tiled_and_dense_evaluation_are_bit_identical(renderer: Renderer) -> None:
    trees = random_trees(48, seed=3) + [chain(22)]
    dense = Renderer("cpu", tiled=False)
    assert torch.equal(renderer.execute(trees), dense.execute(trees))
    assert torch.equal(renderer.distances(trees, 9.0), dense.distances(trees, 9.0))


def test_pixel_centres_and_units() -> None:
    image = Renderer().execute(trees_of(["(Circle 1 8 8)"]))[0, 0]  # radius 8 px around (64, 64)
    assert image[64, 70] == 1.0  # centre (70.5, 64.5): 6.52 px from the centre
    assert abs(float(image[64, 71]) - (8.5 - np.hypot(7.5, 0.5))) < 1e-5  # 7.52 px: clamp(0.5 - sd)
    assert image[64, 72] == 0.0  # centre (72.5, 64.5): 8.51 px
    within = sum((i + 0.5) ** 2 + (j + 0.5) ** 2 < 64 for i in range(-9, 9) for j in range(-9, 9))
    assert int((image > 0.5).sum()) == within  # coverage 8.5 - d > 0.5 exactly for centres closer than 8 px
    box = Renderer().execute(trees_of(["(Quad 2 3 2 4 0)"]))[0, 0]  # x 8..24, y 8..40
    rows, cols = torch.nonzero(box == 1.0, as_tuple=True)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (8, 39, 8, 23)
    assert int((box > 0).sum()) == 16 * 32  # edges on pixel boundaries: no partial pixels


def test_rotation_is_clockwise_on_the_image() -> None:
    image = Renderer().execute(trees_of(["(Quad 8 8 12 1 1)"]))[0, 0]  # a long bar turned 45 degrees
    assert image[64 + 30, 64 + 30] == 1.0  # right end moved down
    assert image[64 - 30, 64 - 30] == 1.0
    assert image[64 - 30, 64 + 30] == 0.0
    three = Renderer().execute(trees_of(["(Quad 8 8 12 1 3)"]))[0, 0]  # 135 degrees: other diagonal
    assert three[64 - 30, 64 + 30] == 1.0 and three[64 + 30, 64 + 30] == 0.0


@pytest.mark.parametrize("angle", range(8))
def test_each_rotation_matches_references(angle: int, renderer: Renderer, skia: SkiaRenderer) -> None:
    trees = trees_of([f"(Quad 8 8 {w} {h} {angle})" for w, h in [(6, 2), (3, 11), (1, 1), (15, 15)]]
                     + [f"(- (Quad 5 9 9 4 {angle}) (Circle 2 5 9))", f"(Quad 0 15 7 3 {angle})"])
    images = renderer.execute(trees)
    assert_exact(images, trees)
    assert_like_skia(images, trees, skia)


def test_half_turns_and_quarter_turns() -> None:
    images = Renderer().execute(trees_of([f"(Quad 8 8 6 2 {a})" for a in range(8)]))[:, 0]
    for a in range(4):
        assert torch.equal(images[a], images[a + 4])
    assert torch.equal(images[2], images[0].T)  # centred on the canvas: a quarter turn transposes
    assert torch.equal(images[3], images[1].flip(-1))  # the other diagonal: a mirror image
    assert torch.equal(images[1], images[1].T)


def test_zero_sizes_draw_nothing(renderer: Renderer, skia: SkiaRenderer) -> None:
    texts = ["(Circle 0 8 8)", "(Circle 0 0 0)"] + [f"(Quad 8 8 0 5 {a})" for a in range(8)]
    texts += [f"(Quad 7 9 5 0 {a})" for a in range(8)] + ["(Quad 3 3 0 0 1)", "(+ (Circle 0 4 4) (Quad 4 4 0 9 3))"]
    trees = trees_of(texts)
    images = renderer.execute(trees)
    assert float(images.abs().max()) == 0.0
    assert all(skia.render(tree).max() == 0.0 for tree in trees)


def test_shapes_off_the_canvas(renderer: Renderer, skia: SkiaRenderer) -> None:
    trees = trees_of(["(Circle 3 15 15)", "(Circle 2 0 0)", "(Circle 15 0 0)", "(Circle 15 15 0)",
                      "(Quad 15 15 2 2 0)", "(Quad 0 0 15 15 1)", "(Quad 15 0 3 15 3)", "(Circle 1 0 15)"])
    images = renderer.execute(trees)
    assert_exact(images, trees)
    assert_like_skia(images, trees, skia)
    assert float(images[2].mean()) > 0.5  # radius 120 around the top-left corner covers most of the canvas


def test_deep_nesting(renderer: Renderer, skia: SkiaRenderer) -> None:
    trees = [chain(depth) for depth in (20, 21, 30)]
    assert max(t.size for t in trees) >= 61
    images = renderer.execute(trees)
    assert_exact(images, trees)
    assert_like_skia(images, trees, skia)


def test_empty_differences(renderer: Renderer) -> None:
    trees = trees_of(["(- (Circle 4 8 8) (Circle 5 8 8))", "(- (Quad 8 8 4 4 0) (Quad 8 8 6 6 0))",
                      "(- (Circle 4 8 8) (Circle 4 8 8))", "(- (Quad 8 8 5 3 1) (Quad 8 8 5 3 5))"])
    images = renderer.execute(trees)
    assert float(images[:2].max()) == 0.0
    assert float(images[2:].max()) <= 0.5  # a - a leaves at most the anti-aliased rim, never foreground
    assert not bool((images[2:] > 0.5).any())


def test_evaluation_is_recursive_not_a_left_fold() -> None:
    # A + (B - C): C cuts only B, so A's pixels under C stay; a left fold (A + B) - C would cut them.
    image = Renderer().execute(trees_of(["(+ (Circle 2 4 8) (- (Quad 8 8 12 4 0) (Circle 3 4 8)))"]))[0, 0]
    assert image[64, 32] == 1.0  # centre of A, inside C
    assert image[64, 80] == 1.0 and image[64, 48] == 0.0  # B survives beyond C; B inside C (outside A) is cut


def test_batches_chunks_and_cache_agree(renderer: Renderer) -> None:
    trees = random_trees(10, seed=4)
    batch = renderer.execute(trees)
    single = torch.cat([renderer.execute([t]) for t in trees])
    chunked = Renderer("cpu", chunk=3, cache_size=0).execute(trees)
    assert torch.equal(batch, single) and torch.equal(batch, chunked)
    assert torch.equal(renderer.execute(trees), batch)  # cached compilations
    assert renderer.execute([]).shape == (0, 1, 128, 128)


def test_trees_of_an_equivalent_grammar_render_the_same(renderer: Renderer) -> None:
    toy = Grammar.load(GRAMMAR_DIR / "csg.yaml")
    text = "(- (+ (Circle 5 8 8) (Quad 3 4 5 6 7)) (Circle 2 9 9))"
    assert torch.equal(renderer.execute([parse(toy, text)]), renderer.execute([parse(GRAMMAR, text)]))


def test_foreign_trees_raise_domain_error(renderer: Renderer) -> None:
    arith = Grammar.load(GRAMMAR_DIR / "arith.yaml")
    with pytest.raises(DomainError, match="csg2d"):
        renderer.execute([parse(arith, "(1 + x)")])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    trees = random_trees(64, seed=5) + [chain(25)]
    gpu = Renderer("cuda")
    images = gpu.execute(trees)
    assert images.device.type == "cuda" and gpu.device.type == "cuda"
    assert torch.allclose(images.cpu(), Renderer("cpu").execute(trees), atol=1e-5)
