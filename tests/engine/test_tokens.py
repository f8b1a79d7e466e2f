"""Tests for treediff.engine.trees.tokens: vocabulary layout, prefix encode/decode, node positions and edit encoding."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.toys import random_tree
from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tokens import BOS, EOS, PAD, SEP, EditTokens, Vocab, decode_edit, encode_edit
from treediff.engine.trees.tree import Edit, Node, build, get, validate, walk

GRAMMARS = sorted((Path(__file__).parents[1] / "grammars").glob("*.yaml"))




def test_layout(vocab: Vocab) -> None:
    g = vocab.grammar
    assert (PAD, BOS, EOS, SEP) == (0, 1, 2, 3)
    assert vocab.size == 4 + len(g.productions) + sum(t.size for t in g.terminals.values())
    assert len(vocab.names) == vocab.size == len(set(vocab.names))
    for p in g.productions:
        tok = vocab.production_token(p)
        assert vocab.token_kind(tok) == "production" and vocab.token_production(tok) is p
        assert vocab.names[tok] == p.name and vocab.production_token(p.name) == tok
    for term in g.terminals.values():
        toks = [vocab.value_token(term, v) for v in term.values]
        assert toks == list(range(toks[0], toks[0] + term.size))  # canonical value order
        for v, tok in zip(term.values, toks):
            assert vocab.token_kind(tok) == "value" and vocab.token_value(tok) == (term, v)
            assert vocab.names[tok] == f"{term.name}={term.text(v)}"
    assert [vocab.token_kind(t) for t in (PAD, BOS, EOS, SEP)] == ["special"] * 4


def test_lookup_errors(csg: Vocab) -> None:
    with pytest.raises(TreeError, match="no production 'triangle'"):
        csg.production_token("triangle")
    with pytest.raises(TreeError, match="no terminal 'colour'"):
        csg.value_token("colour", 1)
    with pytest.raises(TreeError, match="an integer 0..15"):
        csg.value_token("coord", 16)
    with pytest.raises(TreeError, match="an integer 0..7"):
        csg.value_token("angle", True)
    with pytest.raises(TreeError, match="outside the vocabulary"):
        csg.token_kind(csg.size)
    with pytest.raises(TreeError, match="not a production token"):
        csg.token_production(EOS)
    with pytest.raises(TreeError, match="not a value token"):
        csg.token_value(csg.production_token("circle"))


def test_round_trip_and_positions(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(7)
    for nt in g.nonterminals:
        for _ in range(60):
            tree = random_tree(g, rng, nt)
            ids = vocab.encode(tree)
            leaves = sum(1 for _, n in walk(tree) for c in n.children if type(c) is not Node)
            assert len(ids) == tree.size + leaves
            assert vocab.decode(ids, nt) == tree
            positions = vocab.node_positions(tree)
            assert [p for _, p in positions] == [p for p, _ in walk(tree)]
            owned = vocab.node_tokens(tree)
            assert sorted(k for _, own in owned for k in own) == list(range(len(ids)))  # each token has one owner
            for (pos, path), (own_path, own) in zip(positions, owned):
                node = get(tree, path)
                values = [c for c in node.children if type(c) is not Node]
                assert own_path == path and own[0] == pos
                assert [vocab.token_value(ids[k])[1] for k in own[1:]] == values  # its leaf values, in order
            for pos, path in positions:
                sub = get(tree, path)
                assert ids[pos] == vocab.production_token(sub.production)
                end = vocab.subtree_end(ids, pos)
                assert ids[pos:end] == vocab.encode(sub)


def test_token_fields_name_what_each_token_chooses(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(11)
    for nt in g.nonterminals:
        for _ in range(30):
            tree = random_tree(g, rng, nt)
            ids, fields = vocab.encode(tree), vocab.token_fields(tree)
            assert len(fields) == len(ids)
            for path, own in vocab.node_tokens(tree):
                node = get(tree, path)
                leaf_slots = [s for s in node.production.slots if s.terminal is not None]
                assert fields[own[0]] == f"<{node.production.lhs}>"
                assert [fields[k] for k in own[1:]] == [f"{node.production.name}.{s.field}" for s in leaf_slots]


def test_token_fields_of_a_written_program(csg: Vocab) -> None:
    from treediff.engine.grammar.parse import parse
    tree = parse(csg.grammar, "(+ (Circle 3 8 8) (Quad 8 8 12 8 0))")
    assert csg.token_fields(tree)[:5] == ["<shape>", "<shape>", "circle.r", "circle.x", "circle.y"]


def test_round_trip_on_sampled_trees(vocab: Vocab) -> None:
    sample = pytest.importorskip("treediff.engine.trees.derivation")
    rng = random.Random(3)
    for _ in range(100):
        tree = sample.sample_tree(vocab.grammar, rng, 1, 8)
        assert vocab.decode(vocab.encode(tree)) == tree


def test_encode_rejects_ill_typed_trees(csg: Vocab) -> None:
    circle = csg.grammar.by_name["circle"]
    with pytest.raises(TreeError, match="does not fit grammar 'csg2d'"):
        csg.encode(Node(circle, (True, 1, 2)))  # a bool is not a coord, even though True == 1
    with pytest.raises(TreeError, match="does not fit"):
        csg.encode(Node(circle, (1, 2)))
    with pytest.raises(TreeError, match="does not fit"):
        csg.encode(Node(circle, (1, 2, 16)))
    union = csg.grammar.by_name["union"]
    with pytest.raises(TreeError, match="does not fit"):
        csg.encode(Node(union, (1, 2)))


def test_deep_trees_encode_and_decode_without_recursion() -> None:
    logo = Vocab(Grammar.load(Path(__file__).parents[1] / "grammars" / "logo.yaml"))
    g = logo.grammar
    tree = build(g, "last", only=build(g, "forward", n=1))
    for _ in range(3000):
        tree = Node(g.by_name["seq"], (build(g, "forward", n=1), tree))
    ids = logo.encode(tree)
    assert logo.decode(ids) == tree
    assert [p for p, _ in logo.node_positions(tree)][:3] == [0, 1, 3]
    ids = [logo.production_token("seq"), logo.production_token("forward"), logo.value_token("steps", 1)] * 3000
    with pytest.raises(TreeError, match="ends early"):
        logo.decode(ids)


def test_encode_accepts_trees_from_another_load_of_the_grammar(csg: Vocab) -> None:
    other = Grammar.load(Path(__file__).parents[1] / "grammars" / "csg.yaml")
    tree = build(other, "union", left=build(other, "circle", r=1, x=2, y=3),
                 right=build(other, "quad", x=1, y=2, w=3, h=4, a=5))
    assert csg.decode(csg.encode(tree)) == tree
    arith = Grammar.load(Path(__file__).parents[1] / "grammars" / "arith.yaml")
    with pytest.raises(TreeError, match="does not fit"):
        csg.encode(build(arith, "num", value=3))


def test_decode_errors_name_position_and_expectation(csg: Vocab) -> None:
    tree = build(csg.grammar, "union", left=build(csg.grammar, "circle", r=1, x=2, y=3),
                 right=build(csg.grammar, "circle", r=4, x=5, y=6))
    ids = csg.encode(tree)
    with pytest.raises(TreeError, match=r"ends early at position 8: expected a value of terminal 'coord'"):
        csg.decode(ids[:8])
    with pytest.raises(TreeError, match=r"ends early at position 0: expected a production of 'shape' \(circle"):
        csg.decode([])
    with pytest.raises(TreeError, match=r"too long: a complete 'shape' ends at position 9 but 1 more"):
        csg.decode(ids + [ids[1]])
    with pytest.raises(TreeError, match=r"follow, starting with 2 \('<eos>'\); expected the sequence to end"):
        csg.decode(ids + [EOS])
    with pytest.raises(TreeError, match=r"token 2 \('<eos>'\) at position 4 does not fit"):
        csg.decode(ids[:4] + [EOS])
    bad = list(ids)
    bad[3] = csg.value_token("angle", 0)
    with pytest.raises(TreeError, match=r"'angle=0'\) at position 3 does not fit: expected a value of terminal 'coord"):
        csg.decode(bad)
    bad = list(ids)
    bad[5] = 999
    with pytest.raises(TreeError, match=r"999 \(not a token id\) at position 5"):
        csg.decode(bad)
    with pytest.raises(TreeError, match="no such nonterminal"):
        csg.decode(ids, "scene")


def test_decode_rejects_wrong_nonterminal() -> None:
    logo = Vocab(Grammar.load(Path(__file__).parents[1] / "grammars" / "logo.yaml"))
    cmd = build(logo.grammar, "forward", n=3)
    assert logo.decode(logo.encode(cmd), "cmd") == cmd
    with pytest.raises(TreeError, match=r"position 0 does not fit: expected a production of 'program' \(seq, last\)"):
        logo.decode(logo.encode(cmd))


def test_edit_round_trip(vocab: Vocab) -> None:
    g, rng = vocab.grammar, random.Random(11)
    for _ in range(80):
        tree = random_tree(g, rng, g.start)
        ids = vocab.encode(tree)
        path, node = rng.choice(list(walk(tree)))
        edit = Edit(path, random_tree(g, rng, node.production.lhs, depth=3))
        tokens = encode_edit(vocab, tree, edit)
        assert tokens.nonterminal == node.production.lhs
        assert vocab.token_production(ids[tokens.position]) is node.production
        assert decode_edit(vocab, tree, tokens) == edit
        end = vocab.subtree_end(ids, tokens.position)
        spliced = ids[:tokens.position] + list(tokens.replacement) + ids[end:]
        assert spliced == vocab.encode(edit.apply(tree))
        validate(vocab.decode(spliced), g)


def test_edit_errors(csg: Vocab) -> None:
    g = csg.grammar
    circle = build(g, "circle", r=1, x=2, y=3)
    tree = build(g, "union", left=circle, right=build(g, "circle", r=4, x=5, y=6))
    with pytest.raises(TreeError, match="leaf value"):
        encode_edit(csg, tree, Edit((0, 1), circle))
    ok = encode_edit(csg, tree, Edit((1,), circle))
    assert ok.position == 5
    with pytest.raises(TreeError, match=r"position 2 is not the token index of a node .* expected one of: 0, 1, 5"):
        decode_edit(csg, tree, EditTokens(2, "shape", ok.replacement))
    with pytest.raises(TreeError, match="holds a 'shape' node, but the edit says 'cmd'"):
        decode_edit(csg, tree, EditTokens(5, "cmd", ok.replacement))
    with pytest.raises(TreeError, match="ends early"):
        decode_edit(csg, tree, EditTokens(5, "shape", ok.replacement[:-1]))
    logo = Grammar.load(Path(__file__).parents[1] / "grammars" / "logo.yaml")
    lv = Vocab(logo)
    prog = build(logo, "last", only=build(logo, "forward", n=2))
    with pytest.raises(TreeError, match="replaces a 'cmd' with 'last', which derives 'program'"):
        encode_edit(lv, prog, Edit((0,), prog))
