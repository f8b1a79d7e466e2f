"""Tree edit distance: Zhang-Shasha over production labels and terminal values, unit costs."""

from __future__ import annotations

from engine.tree import Node

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
    leftmost: list[int] = []

    def visit(node: Node) -> int:
        first = -1
        for label, sub in labelled_children(node):
            if sub is None:
                index = len(labels)
                labels.append(ids.setdefault(label, len(ids)))
                leftmost.append(index)
            else:
                index = visit(sub)
            if first < 0:
                first = index
        me = len(labels)
        labels.append(ids.setdefault(node.production.name, len(ids)))
        leftmost.append(me if first < 0 else leftmost[first])
        return me

    visit(root)
    last_with: dict[int, int] = {}
    for i, lm in enumerate(leftmost):
        last_with[lm] = i
    return labels, leftmost, sorted(last_with.values())


def _zhang_shasha(one: _Flat, two: _Flat) -> int:
    """The classic keyroot dynamic programme (Zhang & Shasha 1989) over flattened trees."""
    lab1, l1, keys1 = one
    lab2, l2, keys2 = two
    td = [[0] * len(lab2) for _ in range(len(lab1))]
    for i in keys1:
        for j in keys2:
            _forest(i, j, lab1, l1, lab2, l2, td)
    return td[-1][-1]


def _forest(i: int, j: int, lab1: list[int], l1: list[int], lab2: list[int], l2: list[int],
            td: list[list[int]]) -> None:
    """Forest distances for keyroots ``i`` and ``j``; fills ``td`` for the subtree pairs it settles."""
    li, lj = l1[i], l2[j]
    cols = j - lj + 2
    fd = [list(range(cols))]
    tail2 = range(lj, j + 1)
    for x in range(1, i - li + 2):
        xi = li + x - 1
        prev = fd[x - 1]
        row = [x] * cols
        fd.append(row)
        tdrow = td[xi]
        lx = l1[xi]
        if lx == li:
            labx = lab1[xi]
            for y, yj in enumerate(tail2, 1):
                ly = l2[yj]
                best = prev[y] + 1
                ins = row[y - 1] + 1
                if ins < best:
                    best = ins
                if ly == lj:
                    sub = prev[y - 1] + (labx != lab2[yj])
                    if sub < best:
                        best = sub
                    tdrow[yj] = best
                else:
                    sub = fd[0][ly - lj] + tdrow[yj]
                    if sub < best:
                        best = sub
                row[y] = best
        else:
            fdp = fd[lx - li]
            for y, yj in enumerate(tail2, 1):
                best = prev[y] + 1
                ins = row[y - 1] + 1
                if ins < best:
                    best = ins
                sub = fdp[l2[yj] - lj] + tdrow[yj]
                if sub < best:
                    best = sub
                row[y] = best
