"""Tree edit distance: Zhang-Shasha over production labels and terminal values, unit costs."""

from __future__ import annotations

from treediff.engine.trees.tree import Node

# A tree flattened for Zhang-Shasha: postorder label ids, leftmost-leaf postorder index per node, keyroots.
_Flat = tuple[list[int], list[int], list[int]]


def tree_edit_distance(a: Node, b: Node) -> int:
    """Fewest node insertions, deletions and relabellings turning ``a`` into ``b`` (each costs 1).

    Nodes are labelled by production name; each terminal value is a leaf child labelled
    ``terminal=value`` (e.g. ``coord=3``), so changing one value costs 1 and replacing a whole primitive
    costs its label plus every differing value.
    """
    if a == b:
        return 0
    ids: dict[str, int] = {}
    return _zhang_shasha(_flatten(a, ids), _flatten(b, ids))


def labelled_children(node: Node) -> list[tuple[str, Node | None]]:
    """The children of ``node`` as the distance sees them: ``(label, subtree or None for a leaf value)``."""
    out: list[tuple[str, Node | None]] = []
    for slot, child in zip(node.production.slots, node.children):
        if isinstance(child, Node):
            out.append((child.production.name, child))
        else:
            term = slot.terminal
            text = term.text(child) if term is not None else str(child)
            out.append((f"{slot.symbol}={text}", None))
    return out


def _flatten(root: Node, ids: dict[str, int]) -> _Flat:
    """Postorder labels (interned to ints in ``ids``), leftmost leaves and keyroots of ``root``."""
    labels: list[int] = []
    leftmost: list[int] = []  # a subtree is contiguous in postorder and starts at its leftmost leaf
    todo: list[tuple[int, Node | None, int]] = [(-1, root, -1)]  # (label, node to expand, subtree start)
    while todo:
        label, node, start = todo.pop()
        if node is None:
            labels.append(label)
            leftmost.append(len(labels) - 1 if start < 0 else start)
            continue
        todo.append((ids.setdefault(node.production.name, len(ids)), None, len(labels)))
        for text, sub in reversed(labelled_children(node)):
            todo.append((ids.setdefault(text, len(ids)), None, -1) if sub is None else (-1, sub, -1))
    last_with: dict[int, int] = {}
    for i, lm in enumerate(leftmost):
        last_with[lm] = i
    return labels, leftmost, sorted(last_with.values())


def _zhang_shasha(one: _Flat, two: _Flat) -> int:
    """The keyroot dynamic programme (Zhang & Shasha 1989) over flattened trees.

    Keyroots that are leaves (most of them: terminal values) are settled in closed form: one node against
    a subtree of ``m`` nodes costs ``m - 1``, plus 1 unless the subtree holds the node's label.
    """
    lab1, l1, keys1 = one
    lab2, l2, keys2 = two
    td = [[0] * len(lab2) for _ in range(len(lab1))]
    for i, costs in _leaf_keyroot_costs(keys1, lab1, l1, lab2, l2).items():
        td[i] = list(costs)
    for j, costs in _leaf_keyroot_costs(keys2, lab2, l2, lab1, l1).items():
        for row, cost in zip(td, costs):
            row[j] = cost
    columns = [(j, l2[j], [l2[y] - l2[j] for y in range(l2[j], j + 1)], lab2[l2[j]:j + 1])
               for j in keys2 if l2[j] != j]
    for i in keys1:
        if l1[i] != i:
            for j, lj, qs, labs in columns:
                _forest(i, j, lj, qs, labs, lab1, l1, td)
    return td[-1][-1]


def _leaf_keyroot_costs(keys: list[int], lab: list[int], left: list[int], other_lab: list[int],
                        other_left: list[int]) -> dict[int, list[int]]:
    """For each keyroot that is a leaf, its costs against every subtree of the other tree (one list per label)."""
    by_label: dict[int, list[int]] = {}
    out: dict[int, list[int]] = {}
    for i in keys:
        if left[i] == i:
            label = lab[i]
            if label not in by_label:
                by_label[label] = _single_node_costs(label, other_lab, other_left)
            out[i] = by_label[label]
    return out


def _single_node_costs(label: int, labels: list[int], leftmost: list[int]) -> list[int]:
    """Distance from a lone node labelled ``label`` to every subtree of a flattened tree."""
    seen = [0]
    count = 0
    for lab in labels:
        count += lab == label
        seen.append(count)
    return [y - lm + (seen[y + 1] == seen[lm]) for y, lm in enumerate(leftmost)]


def _forest(i: int, j: int, lj: int, qs: list[int], labs: list[int], lab1: list[int], l1: list[int],
            td: list[list[int]]) -> None:
    """Forest distances for keyroots ``i`` and ``j``; fills ``td`` for the subtree pairs it settles.

    Column ``y`` stands for node ``lj + y - 1`` of the second tree; ``qs[y - 1]`` is that node's leftmost
    leaf relative to ``lj`` (0 on ``j``'s leftmost path) and ``labs[y - 1]`` its label.
    """
    li = l1[i]
    cols = j - lj + 2
    fd = [list(range(cols))]
    for x in range(1, i - li + 2):
        xi = li + x - 1
        prev = fd[x - 1]
        tdrow = td[xi]
        lx = l1[xi]
        left = x
        row = [x]
        if lx == li:  # xi on i's leftmost path: the pair's tree distance is settled here
            labx = lab1[xi]
            y = lj
            for diag, up, q, lab in zip(prev, prev[1:], qs, labs):
                best = (up if up < left else left) + 1
                if q == 0:
                    sub = diag + (labx != lab)
                    if sub < best:
                        best = sub
                    tdrow[y] = best
                else:
                    sub = q + tdrow[y]  # fd[0][q] == q
                    if sub < best:
                        best = sub
                row.append(best)
                left = best
                y += 1
        else:
            fdp = fd[lx - li]
            for up, q, t in zip(prev[1:], qs, tdrow[lj:j + 1]):
                best = (up if up < left else left) + 1
                sub = fdp[q] + t
                if sub < best:
                    best = sub
                row.append(best)
                left = best
        fd.append(row)
