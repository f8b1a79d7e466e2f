"""Programs read by the AR model: its log-probability of a whole program given the target, used to choose
which of many cheap proposals a search spends renderer calls on.

The AR model reads only the target, so its reading of a program is a second opinion next to the executed
distance: a program whose tokens the model finds likely for this target is more often on the way to it. Model
calls are not renderer calls, so proposals can be over-sampled and filtered by reading at no cost in budget.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from treediff.engine.trees.tree import Node, Path

if TYPE_CHECKING:
    import torch

    from treediff.engine.search.budget import BudgetedExecutor
    from treediff.engine.training.bundle import ModelBundle

Reader = Callable[[list[Node]], list[float]]
"""Programs -> scores, higher = read more like the target."""

T = TypeVar("T", bound=tuple[Any, ...])
X = TypeVar("X")


def best_first(scores: list[float]) -> list[int]:
    """Indices of ``scores`` from the highest score down (a stable sort: equal scores keep their order)."""
    return sorted(range(len(scores)), key=lambda k: -scores[k])


def ar_reader(renderer: BudgetedExecutor, ar: ModelBundle) -> Reader:
    """A reader scoring programs by ``ar``'s log-probability of them given ``renderer``'s target (one batch per
    call for the programs it has not read before, timed as model time in the renderer's profile)."""
    from treediff.engine.models.inference import model_device
    from treediff.engine.models.likelihood import program_logprobs

    model = ar.need_ar()
    target = renderer.target.to(model_device(model))[None]
    known: dict[Node, float] = {}  # one search reads a program again when it orders the round it was chosen for

    def read(trees: list[Node]) -> list[float]:
        new = list(dict.fromkeys(t for t in trees if t not in known))
        if new:
            with renderer.profile.section("model"):
                known.update(zip(new, program_logprobs(model, ar.vocab, target, new).cpu().tolist()))
        return [known[t] for t in trees]

    return read


def best_read(pool: list[T], n: int, rng: random.Random, reader: Reader | None, size: int | None) -> list[T]:
    """``n`` of ``pool`` (tuples whose last item is the program) at random; with a ``reader``, first the ``3n/4``
    best-read programs of ``size`` nodes (edits that keep the program's size compare fairly: a shorter program
    has fewer tokens to pay for; ``None``: of any size), then the rest at random."""
    if reader is None or len(pool) <= n:
        return rng.sample(pool, min(n, len(pool)))
    same = [i for i, item in enumerate(pool) if size is None or item[-1].size == size]
    scores = reader([pool[i][-1] for i in same])
    best = [same[k] for k in best_first(scores)[:3 * n // 4]]
    taken = set(best)
    rest = [i for i in range(len(pool)) if i not in taken]
    return [pool[i] for i in best + rng.sample(rest, min(n - len(best), len(rest)))]


def read_filter(offered: list[T], reader: Reader, factor: int, seen: Callable[[Node], bool]) -> list[T]:
    """The best-read ``1 / factor`` of ``offered`` (tuples whose third item is the program), among those not
    ``seen`` and not repeated, in their original order."""
    fresh: dict[Node, int] = {}
    for i, item in enumerate(offered):
        if not seen(item[2]) and item[2] not in fresh:
            fresh[item[2]] = i
    keep = math.ceil(len(fresh) / factor)
    trees = list(fresh)
    scores = reader(trees)
    chosen = best_first(scores)[:keep]
    return [offered[fresh[trees[k]]] for k in sorted(chosen, key=lambda k: fresh[trees[k]])]


def read_first(trees: list[Node], reader: Reader) -> list[Node]:
    """``trees`` best-read first (equally read programs keep their order)."""
    return [trees[k] for k in best_first(reader(trees))]


def best_read_left(ranked: list[X], chosen: list[X], reader: Reader, k: int, tree: Callable[[X], Node]) -> list[X]:
    """The ``k`` best-read of ``ranked`` not in ``chosen`` (``tree`` gives an item's program): the beam places
    kept for programs the AR model finds likely although their execution ranks them lower."""
    taken = {id(c) for c in chosen}
    left = [c for c in ranked if id(c) not in taken]
    if k <= 0 or not left:
        return []
    scores = reader([tree(c) for c in left])
    return [left[i] for i in best_first(scores)[:k]]


def surprise_sites(renderer: BudgetedExecutor, ar: ModelBundle, programs: list[Node], n: int,
                   generator: torch.Generator, floor: float = 0.5) -> list[list[Path]]:
    """``n`` node paths per program where AR rewrites should go, drawn where the AR model reads the program as
    least like the target: a node's weight is the probability that the model, fed the program up to the node,
    would have written something other than the node's own tokens (its production and leaf values), mixed with
    the uniform draw at ``floor`` (so that every node stays reachable). One batched teacher-forced read of
    ``programs``; programs the model cannot read (too long) get the uniform draw."""
    import torch

    from treediff.engine.models.inference import model_device
    from treediff.engine.models.likelihood import token_logprobs

    model = ar.need_ar()
    with renderer.profile.section("model"):
        logps = token_logprobs(model, ar.vocab, renderer.target.to(model_device(model))[None], programs)
    out: list[list[Path]] = []
    for program, logp in zip(programs, logps):
        nodes = ar.vocab.node_tokens(program)
        uniform = torch.full((len(nodes),), 1.0 / len(nodes), dtype=torch.float64)
        weight = torch.tensor([1.0 - math.exp(sum(logp[k] for k in own)) for _, own in nodes],
                              dtype=torch.float64) if logp else torch.zeros(len(nodes), dtype=torch.float64)
        total = float(weight.sum())
        probs = uniform if total <= 0 else floor * uniform + (1.0 - floor) * weight / total
        picks = torch.multinomial(probs.to(generator.device), n, replacement=True,
                                  generator=generator).tolist() if n > 0 else []
        out.append([nodes[k][0] for k in picks])
    return out
