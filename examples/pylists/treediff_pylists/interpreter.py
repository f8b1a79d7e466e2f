"""A safe interpreter of pylists trees: walks the syntax tree (never eval/exec) with Python's own semantics."""

from __future__ import annotations

from treediff import Node

FNS = {
    "add": lambda x, k: x + k,
    "sub": lambda x, k: x - k,
    "mul": lambda x, k: x * k,
    "square": lambda x, k: x * x,
    "mod": lambda x, k: x % k,  # Python's floor modulo; k >= 1 by the grammar
}
PREDS = {
    "gt": lambda x, k: x > k,
    "lt": lambda x, k: x < k,
    "even": lambda x, k: x % 2 == 0,
    "odd": lambda x, k: x % 2 == 1,
}


def _k(node: Node) -> int:
    return int(node["k"]) if "k" in node.production.field_index else 0  # type: ignore[arg-type]


def run(node: Node, xs: list[int]) -> list[int]:
    """The list a program computes from the input list ``xs`` (exactly what Python computes)."""
    name = node.name
    if name == "xs":
        return list(xs)
    src = run(node["src"], xs)  # type: ignore[arg-type]
    if name == "map":
        fn: Node = node["f"]  # type: ignore[assignment]
        return [FNS[fn.name](x, _k(fn)) for x in src]
    if name == "filter":
        pred: Node = node["p"]  # type: ignore[assignment]
        return [x for x in src if PREDS[pred.name](x, _k(pred))]
    if name == "sort":
        return sorted(src)
    if name == "reverse":
        return src[::-1]
    if name == "take":
        return src[: int(node["n"])]  # type: ignore[arg-type]
    if name == "drop":
        return src[int(node["n"]):]  # type: ignore[arg-type]
    raise ValueError(f"not a pylists list expression: {name!r}")
