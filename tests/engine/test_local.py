"""Local proposals: which leaf steps, pairs, swaps and node wraps a beam program is offered, and in what order."""

from __future__ import annotations


def test_local_proposals_move_on_to_two_leaf_steps_when_single_steps_are_used_up(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals
    from treediff.engine.trees.neighbours import joint_edits, local_edits

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    singles = {e.apply(tree) for e in local_edits(tree)}
    pairs = {e.apply(tree) for e in joint_edits(tree)}

    class Visited:
        def __init__(self, seen):
            self.programs = set(seen)

        def seen(self, tree):
            return tree in self.programs

    fresh = local_proposals(Visited(()), tree, random.Random(0), 5, 1, True, False)  # type: ignore[arg-type]
    assert len(fresh) == 5 and {c for _, c in fresh} <= singles
    left = sorted(singles, key=str)[:3]
    mixed = local_proposals(Visited(singles - set(left)), tree, random.Random(0), 10, 1, True, False)  # type: ignore[arg-type]
    children = [c for _, c in mixed]
    assert set(left) <= set(children) and len(children) == len(set(children)) == 10
    assert set(children) - set(left) <= pairs
    only = local_proposals(Visited(singles - set(left)), tree, random.Random(0), 10, 1, False, False)  # type: ignore[arg-type]
    assert {c for _, c in only} == set(left)


def test_local_proposals_add_field_pairs_to_the_single_steps_when_asked(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals
    from treediff.engine.trees.neighbours import field_pair_edits, joint_edits, local_edits

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    singles = {e.apply(tree) for e in local_edits(tree)}
    fields = {e.apply(tree) for e in field_pair_edits(tree)}
    joint = {e.apply(tree) for e in joint_edits(tree)}
    assert len(fields) == 12 and not fields & (singles | joint)

    class Visited:
        domain = type("D", (), {"grammar": csg_grammar})

        def __init__(self, seen):
            self.programs = set(seen)

        def seen(self, tree):
            return tree in self.programs

    def children(seen, n, pairs, field_pairs):
        return [c for _, c in local_proposals(Visited(seen), tree, random.Random(0), n, 1, pairs, False,
                                               None, field_pairs)]  # type: ignore[arg-type]

    assert set(children((), 10**6, False, True)) == singles | fields
    assert set(children((), 10**6, False, False)) == singles
    assert set(children(singles, 10**6, False, True)) == fields  # what is left of the ring
    assert set(children(singles | fields, 5, True, True)) <= joint  # both used up: one node's pairs fill in


def test_local_proposals_add_node_wraps_beside_the_other_local_edits(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals
    from treediff.engine.trees.neighbours import local_edits, wrap_edits

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    singles = {e.apply(tree) for e in local_edits(tree)}
    wraps = {e.apply(tree) for e in wrap_edits(csg_grammar, tree)}

    def children(n, k, rng):
        return [c for _, c in local_proposals(_unvisited(csg_grammar)(), tree, rng, n, 1, False, False,
                                               None, False, k)]  # type: ignore[arg-type]

    plain = children(5, 0, random.Random(0))
    assert len(plain) == 5 and set(plain) <= singles
    more = children(5, 3, random.Random(0))
    assert more[:5] == plain and len(set(more[5:])) == 3 and set(more[5:]) <= wraps  # the same singles, then wraps
    assert set(children(5, 100, random.Random(1))[5:]) == wraps  # more asked than there are: every wrap once
    short = local_proposals(_unvisited(csg_grammar)(), tree, random.Random(0), 5, 1, False, False, None, False, 3,
                             lambda t: t.size <= tree.size + 1)  # type: ignore[arg-type]
    assert [c for _, c in short] == plain  # a wrap adds two nodes: none fits


def test_local_proposals_hand_further_wraps_to_a_filler_and_keep_what_fits(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals
    from treediff.engine.trees.neighbours import wrap_edits
    from treediff.engine.trees.tree import Edit, get, replace, walk

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    wraps = {e.apply(tree) for e in wrap_edits(csg_grammar, tree)}
    part = parse(csg_grammar, "(Circle 1 1 1)")
    asked: list = []

    def filler(parent, picked):  # writes the new parent's first child slot anew
        asked.append(picked)
        return [(Edit(e.path, replace(e.replacement, (1,), part)), replace(c, e.path + (1,), part)) for e, c in picked]

    def children(fills, fits=None):
        asked.clear()
        return [c for _, c in local_proposals(_unvisited(csg_grammar)(), tree, random.Random(0), 5, 1, False, False,
                                               None, False, 3, fits, fills, filler)]  # type: ignore[arg-type]

    plain = children(0)
    assert asked == [] and len(plain) == 8  # 5 local edits and 3 empty wraps; no filler call
    filled = children(4)
    empty = set(filled[5:8])
    assert filled[:5] == plain[:5] and empty <= wraps and len(asked) == 1 and len(asked[0]) == 4
    assert all(c in wraps and c not in empty and e.apply(tree) == c for e, c in asked[0])  # other wraps
    assert len(filled) == 12 and all(get(c, e.path + (1,)) == part for (e, _), c in zip(asked[0], filled[8:]))
    assert children(4, lambda t: t.size <= tree.size + 1)[5:] == []  # a wrap adds two nodes: none fits
    no_part = children(4, lambda t: all(n != part for _, n in walk(t)))
    assert len(asked) == 1 and no_part == filled[:8]  # the filled wraps asked for, then left out


def _unvisited(grammar):
    """A stand-in renderer for local proposals: the domain's grammar, and nothing executed yet."""

    class Fresh:
        domain = type("D", (), {"grammar": grammar})

        def seen(self, tree):
            return False

    return Fresh


def test_local_proposals_include_production_swaps_when_asked(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    Fresh = _unvisited(csg_grammar)

    def texts(swaps):
        return {str(c) for _, c in local_proposals(Fresh(), tree, random.Random(0), 10**6, 1, False, swaps)}  # type: ignore[arg-type]

    assert "(- (Circle 3 5 7) (Circle 4 5 6))" in texts(True) - texts(False)


def test_local_proposals_ordered_by_a_reader_take_its_best_same_size_edits_first(csg_grammar):
    import random

    from treediff.engine.grammar.parse import parse
    from treediff.engine.search.local import local_proposals

    tree = parse(csg_grammar, "(+ (Circle 3 5 7) (Circle 4 5 6))")
    Fresh = _unvisited(csg_grammar)

    def reader(trees):  # reads a program better the larger its first circle's radius
        return [float(t.children[0].children[0]) if t.children[0].production.name == "circle" else -1.0
                for t in trees]

    read = local_proposals(Fresh(), tree, random.Random(0), 8, 1, False, True, reader)  # type: ignore[arg-type]
    children = [c for _, c in read]
    assert len(children) == len(set(children)) == 8
    assert children[0].children[0].children[0] == 4  # the one leaf step that raises the radius comes first
    assert all(c.size == tree.size for c in children[:6])  # 3/4 by the reader: size-keeping edits only
    plain = [c for _, c in local_proposals(Fresh(), tree, random.Random(0), 8, 1, False, True)]  # type: ignore[arg-type]
    assert plain != children
