"""Random derivations: bounds, uniform sizes, weights, depth limits, errors and minimal trees."""

from __future__ import annotations

import gc
import random
import weakref
from collections import Counter

import pytest

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.grammar.parse import parse
from treediff.engine.trees.derivation import minimal_tree, sample_tree
from treediff.engine.trees.tree import Node, validate, walk


def height(node: Node) -> int:
    """Levels of nodes in the tree (a node without node children has height 1)."""
    return 1 + max((height(c) for c in node.children if isinstance(c, Node)), default=0)


WEIGHTED = """
name: weighted
start: s
terminals:
  bit: {type: bool}
rules:
  s:
    - name: heavy
      form: "h {v:bit}"
      primitive: true
      weight: 3
    - name: light
      form: "l"
      primitive: true
    - name: never
      form: "n ( {a:s} {b:s} )"
      weight: 0
"""


def test_trees_are_valid_and_within_bounds(toy_grammar: Grammar) -> None:
    rng = random.Random(0)
    for lo, hi in [(1, 8), (0, 2), (3, 3), (2, 5)]:
        counts = set()
        for _ in range(60):
            try:
                t = sample_tree(toy_grammar, rng, lo, hi, max_depth=10)
            except TreeError:
                assert lo == 0 and toy_grammar.min_sigma[toy_grammar.start] > 0 or hi < lo
                break
            validate(t, toy_grammar)
            assert lo <= t.sigma <= hi and height(t) <= 10
            counts.add(t.sigma)
        if counts:
            assert len(counts) > 1 or lo == hi


def test_size_is_uniform_over_reachable_counts(csg_grammar: Grammar) -> None:
    rng = random.Random(1)
    seen = Counter(sample_tree(csg_grammar, rng, 2, 8).sigma for _ in range(3500))
    assert set(seen) == set(range(2, 9))
    assert all(400 <= n <= 600 for n in seen.values()), seen


def test_depth_limit_bounds_reachable_sizes(csg_grammar: Grammar) -> None:
    rng = random.Random(2)
    trees = [sample_tree(csg_grammar, rng, 1, 8, max_depth=3) for _ in range(300)]
    assert max(t.sigma for t in trees) == 4 and max(height(t) for t in trees) == 3
    with pytest.raises(TreeError, match="between 5 and 8 primitives within height 3"):
        sample_tree(csg_grammar, rng, 5, 8, max_depth=3)


def test_weights_are_respected_and_zero_weight_only_when_needed() -> None:
    g = Grammar.from_text(WEIGHTED)
    rng = random.Random(3)
    names = Counter(sample_tree(g, rng, 1, 1).name for _ in range(4000))
    assert set(names) == {"heavy", "light"}
    assert 0.72 < names["heavy"] / 4000 < 0.78
    big = sample_tree(g, rng, 3, 3)
    assert big.name == "never" and big.sigma == 3


def test_every_value_and_production_turns_up(csg_grammar: Grammar) -> None:
    rng = random.Random(4)
    values: Counter[int] = Counter()
    prods: Counter[str] = Counter()
    for _ in range(400):
        for _, node in walk(sample_tree(csg_grammar, rng, 1, 4)):
            prods[node.name] += 1
            values.update(c for c in node.children if not isinstance(c, Node))
    assert set(prods) == {"circle", "quad", "union", "difference"}
    assert set(values) == set(range(16))


def test_sigma_zero_recursion_terminates_and_reaches_every_size() -> None:
    g = Grammar.load("tests/grammars/lists.yaml")
    rng = random.Random(5)
    sizes = {sample_tree(g, rng, 0, 6, max_depth=12).sigma for _ in range(200)}
    assert sizes == set(range(7))


def test_same_seed_same_trees(toy_grammar: Grammar) -> None:
    a = [sample_tree(toy_grammar, random.Random(7), max_depth=10) for _ in range(5)]
    b = [sample_tree(toy_grammar, random.Random(7), max_depth=10) for _ in range(5)]
    assert a == b


def test_nonterminal_and_large_bounds() -> None:
    logo = Grammar.load("tests/grammars/logo.yaml")
    cmd = sample_tree(logo, random.Random(8), 2, 3, nonterminal="cmd")
    validate(cmd, logo, "cmd")
    assert cmd.name == "repeat"
    csg = Grammar.load("tests/grammars/csg.yaml")
    big = sample_tree(csg, random.Random(9), 40, 60)
    assert 40 <= big.sigma <= 60


def test_unreachable_bounds_raise_clear_errors(csg_grammar: Grammar) -> None:
    rng = random.Random(10)
    with pytest.raises(TreeError, match=r"no tree of 'shape' has between 0 and 0 primitives.*hint"):
        sample_tree(csg_grammar, rng, 0, 0)
    with pytest.raises(TreeError, match="between 5 and 3"):
        sample_tree(csg_grammar, rng, 5, 3)
    with pytest.raises(TreeError, match="no nonterminal 'shapes'; expected one of: shape"):
        sample_tree(csg_grammar, rng, nonterminal="shapes")
    with pytest.raises(TreeError, match="within height 0"):
        sample_tree(csg_grammar, rng, max_depth=0)


def test_minimal_tree(toy_grammar: Grammar) -> None:
    for nt in toy_grammar.nonterminals:
        t = minimal_tree(toy_grammar, nt)
        validate(t, toy_grammar, nt)
        assert t.sigma == toy_grammar.min_sigma[nt]
    csg = Grammar.load("tests/grammars/csg.yaml")
    assert minimal_tree(csg) == parse(csg, "(Circle 0 0 0)")


def test_cache_does_not_keep_grammars_alive() -> None:
    g = Grammar.load("tests/grammars/csg.yaml")
    sample_tree(g, random.Random(11))
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None
