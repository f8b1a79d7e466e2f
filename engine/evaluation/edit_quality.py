"""What search needs from a diffusion model: useful-edit rates by remaining path length, and value quality."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from random import Random
from typing import TYPE_CHECKING, Any

import torch

from treediff.engine.models.inference import predict_values, propose_edits
from treediff.engine.training.data import first_edits
from treediff.engine.training.states import StatePair
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import noise_step, reverse_path
from treediff.engine.trees.ted import tree_edit_distance
from treediff.engine.trees.tree import Edit, Node

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain, Executor
    from treediff.engine.grammar.grammar import Grammar
    from treediff.engine.training.bundle import ModelBundle
    from treediff.engine.trees.tokens import Vocab

MAX_TRIES = 200  # draws per pair before giving up (every noised program too long, or mutations cancelling)
MUTATION_CAP = 4  # with by_length, at most this many mutations per edit of the longest path length


@dataclass(frozen=True)
class EditPair:
    """One validation pair: the target, the noised program, its mutation count and true remaining length."""

    target: Node
    current: Node
    mutations: int  # k mutate() steps that made ``current`` (0 for a goal pair or a search state)
    length: int  # edits left on the reverse path (0 exactly when current == target)
    distance: int  # tree edit distance from current to target


@dataclass(frozen=True)
class LengthRow:
    """Rates over the pairs of one true remaining path length (``bin`` "1".."5", ">5" or "all")."""

    bin: str
    pairs: int
    greedy: float  # share of greedy edits that shorten the tree edit distance
    best_of: float  # share of pairs where one of the sampled edits shortens it
    oracle: float  # share of pairs where a first edit of the reverse path shortens it
    mean_value: float  # mean predicted remaining edits (nan without a value network)


@dataclass(frozen=True)
class EditQuality:
    """The measurement on one validation set (see the module docstring)."""

    rows: tuple[LengthRow, ...]
    goal_pairs: int
    value_spearman: float  # nan without a value network
    value_at_goal: float  # mean predicted remaining edits at current == target; nan without one
    samples: int
    temperature: float
    seed: int
    seconds: float

    def row(self, bin: str) -> LengthRow:
        """The row of ``bin`` ("1".."k_max", ">k_max" or "all"); KeyError if absent."""
        for r in self.rows:
            if r.bin == bin:
                return r
        raise KeyError(bin)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (nan becomes None)."""
        out: dict[str, Any] = _finite(asdict(self))
        return out


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def validation_pairs(grammar: Grammar, n: int, seed: int, *, k_max: int = 5, sigma_small: int = 2,
                     min_primitives: int = 2, max_primitives: int = 8, max_depth: int = 24,
                     vocab: Vocab | None = None, max_tokens: int | None = None,
                     by_length: bool = False, p_leaf: float = 0.0) -> list[EditPair]:
    """``n`` noised pairs, a pure function of its arguments.

    Pair ``i`` is made by exactly ``1 + i % k_max`` mutations (the forward process without fresh programs);
    its true path length is often shorter, as mutations overlap and the reverse path merges them. With
    ``by_length`` pair ``i`` instead has true path length exactly ``1 + i % k_max``: mutations are applied
    one at a time (at most ``MUTATION_CAP * k_max``) until the path has that length. Pairs whose mutations
    cancel out are redrawn, as are pairs whose target or noised program exceeds ``max_tokens`` tokens of
    ``vocab`` (when both are given; the model cannot read longer ones). With ``p_leaf`` > 0 each step is a
    leaf step (:func:`~treediff.engine.trees.noise.noise_step`) with that probability instead of a mutation:
    the near misses a search ends in, as training with ``p_leaf`` makes them.
    """
    rng = Random(seed)
    out: list[EditPair] = []
    for i in range(n):
        k = 1 + i % k_max
        for _ in range(MAX_TRIES):
            target = sample_tree(grammar, rng, min_primitives, max_primitives, max_depth=max_depth)
            if vocab is not None and max_tokens is not None and len(vocab.encode(target)) > max_tokens:
                continue
            pair = _noise(grammar, rng, target, k, by_length, sigma_small, max_depth, k_max, p_leaf)
            if pair is None or (vocab is not None and max_tokens is not None
                                and len(vocab.encode(pair.current)) > max_tokens):
                continue
            out.append(pair)
            break
        else:
            what = f"a reverse path of {k} edits" if by_length else f"{k} mutations"
            raise ValueError(f"no validation pair of grammar {grammar.name!r} with {what} within {max_tokens} "
                             f"tokens turned up in {MAX_TRIES} draws; hint: lower k_max, or raise max_primitives "
                             "(small programs have short paths) or max_tokens")
    return out


def _noise(grammar: Grammar, rng: Random, target: Node, k: int, by_length: bool, sigma_small: int,
           max_depth: int, k_max: int, p_leaf: float = 0.0) -> EditPair | None:
    """``target`` noised by ``k`` steps (or to path length ``k``); None when that fails."""
    current = target
    for step in range(1, (MUTATION_CAP * k_max if by_length else k) + 1):
        current = noise_step(current, grammar, rng, sigma_small, max_depth, p_leaf)
        if not by_length and step < k:
            continue
        length = len(reverse_path(current, target, grammar, sigma_small))
        if length == 0:
            return None
        if not by_length or length == k:
            return EditPair(target, current, step, length, tree_edit_distance(current, target))
        if length > k:
            return None
    return None


def state_pairs(grammar: Grammar, states: Sequence[StatePair], n: int, seed: int, *, sigma_small: int = 2,
                vocab: Vocab | None = None, max_tokens: int | None = None) -> list[EditPair]:
    """``n`` pairs of on-policy search states (:mod:`treediff.engine.training.states`) drawn from ``states``
    with ``seed`` (all of them when there are fewer), with their true path lengths; states or targets over
    ``max_tokens`` tokens of ``vocab`` are left out. The pairs record 0 mutations: no forward process made them."""
    fits = [p for p in states if vocab is None or max_tokens is None
            or max(len(vocab.encode(p.state)), len(vocab.encode(p.target))) <= max_tokens]
    chosen = Random(seed).sample(fits, n) if len(fits) > n else fits
    return [EditPair(p.target, p.state, 0, len(reverse_path(p.state, p.target, grammar, sigma_small)),
                     tree_edit_distance(p.state, p.target)) for p in chosen]


def goal_pairs(pairs: Sequence[EditPair], n: int) -> list[EditPair]:
    """Goal pairs (current == target, length 0) for the targets of the first ``n`` pairs."""
    return [EditPair(p.target, p.target, 0, 0, 0) for p in pairs[:n]]


def is_useful(pair: EditPair, edit: Edit) -> bool:
    """Whether ``edit`` applied to ``pair.current`` shortens the tree edit distance to ``pair.target``."""
    return tree_edit_distance(edit.apply(pair.current), pair.target) < pair.distance


def any_useful(pair: EditPair, edits: Sequence[Edit]) -> bool:
    """Whether one of ``edits`` is useful for ``pair`` (False for no edits)."""
    return any(is_useful(pair, e) for e in edits)


def oracle_useful(pair: EditPair, grammar: Grammar, sigma_small: int = 2) -> bool:
    """Whether an edit that may come first on the pair's reverse path shortens the tree edit distance."""
    return any_useful(pair, first_edits(reverse_path(pair.current, pair.target, grammar, sigma_small)))


def _average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; ties share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of tie-averaged ranks); nan if either is constant."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs sequences of equal length; got {len(x)} and {len(y)}")
    if len(x) < 2:
        return float("nan")
    rx, ry = _average_ranks(x), _average_ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else float("nan")


def _observe(executor: Executor, trees: Sequence[Node], device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return executor.execute(list(trees)).to(device).float()


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _bin(length: int, k_max: int) -> str:
    return str(length) if length <= k_max else f">{k_max}"


def measure(bundle: ModelBundle, grammar: Grammar, executor: Executor, pairs: Sequence[EditPair],
            goals: Sequence[EditPair] = (), *, samples: int = 8, temperature: float = 1.0, seed: int = 0,
            batch_size: int = 32, k_max: int = 5) -> EditQuality:
    """Useful-edit rates of ``bundle.denoiser`` and value quality of ``bundle.value`` (if any) on ``pairs``.

    A fixed validation set of (target, noised) pairs is drawn from an explicit seed (:func:`validation_pairs`):
    targets from :func:`~.sample_tree`, each noised by exactly ``k`` :func:`~treediff.engine.trees.noise.mutate`
    steps with ``k`` cycling through ``1..k_max``, binned by the true remaining length of the reverse path
    (:func:`~.noise.reverse_path`), which may differ from ``k`` (mutations can undo or nest in each other).
    An edit is *useful* when it shortens the tree edit distance (:mod:`treediff.engine.trees.ted`) to the target.

    Reported per true path length ``1..k_max`` (longer paths in ``>k_max``) and overall:

    * ``greedy``: the share of pairs whose greedy (top-1) edit is useful. ``propose_edits`` decodes greedily at
      ``temperature <= 0``: the most probable position, then the most probable token at each step of the
      replacement (the greedy decode, not an exhaustive search for the most probable whole replacement).
      A no-op edit counts as not useful.
    * ``best_of``: the share of pairs where at least one of ``samples`` (8) edits sampled at ``temperature`` (1)
      is useful, drawn as beam search draws them (distinct positions while enough are eligible).
    * ``oracle``: the share of pairs where an edit that may come first on the reverse path
      (:func:`~.first_edits`) is useful: the ceiling a model trained on reverse-path labels aims at.
    * value quality: the Spearman rank correlation between the value network's predicted remaining edits and
      the true path length over the edit pairs plus goal pairs (current == target, length 0), the mean
      prediction at the goal (which should be near 0) and the mean prediction per length.

    Everything is domain-free: observations are whatever the domain's executor returns.

    ``goals`` are goal pairs for the value statistics. Sampling uses a generator seeded with ``seed`` on the
    model's device, so the result is deterministic given the pairs, the models and ``seed``.
    """
    if bundle.denoiser is None:
        raise ValueError("edit quality needs a diffusion model bundle (a denoiser); got one without")
    denoiser = bundle.need_denoiser()
    value = bundle.need_value() if bundle.value is not None else None
    start = time.perf_counter()
    device = bundle.device
    sigma = int(bundle.config.sigma_small)
    gen = torch.Generator(device=device).manual_seed(seed)
    greedy: list[bool] = []
    best: list[bool] = []
    values: list[float] = []
    everything = list(pairs) + list(goals)
    for lo in range(0, len(everything), batch_size):
        chunk = everything[lo:lo + batch_size]
        obs = _observe(executor, [p.target for p in chunk] + [p.current for p in chunk], device)
        target, current = obs[:len(chunk)], obs[len(chunk):]
        if value is not None:
            values += predict_values(value, bundle.vocab, target, current,
                                     [p.current for p in chunk]).cpu().tolist()
        edit_rows = [i for i, p in enumerate(chunk) if p.length > 0]
        if not edit_rows:
            continue
        rows = torch.tensor(edit_rows, device=device)
        trees = [chunk[i].current for i in edit_rows]
        top = propose_edits(denoiser, bundle.vocab, target[rows], current[rows], trees, 1, gen,
                            temperature=0.0, unique=False)
        drawn = propose_edits(denoiser, bundle.vocab, target[rows], current[rows], trees, samples, gen,
                              temperature=temperature, unique=False)
        for i, one, many in zip(edit_rows, top, drawn):
            greedy.append(any_useful(chunk[i], [p.edit for p in one[:1]]))
            best.append(any_useful(chunk[i], [p.edit for p in many]))
    oracle = [oracle_useful(p, grammar, sigma) for p in pairs]
    pair_values = values[:len(pairs)] if values else []
    bins = [_bin(p.length, k_max) for p in pairs]
    names = [str(k) for k in range(1, k_max + 1)] + [f">{k_max}"]
    rows_out: list[LengthRow] = []
    for name in [*names, "all"]:
        idx = [i for i, b in enumerate(bins) if name in (b, "all")]
        if not idx and name != "all":
            continue
        rows_out.append(LengthRow(name, len(idx), _mean([float(greedy[i]) for i in idx]),
                                  _mean([float(best[i]) for i in idx]), _mean([float(oracle[i]) for i in idx]),
                                  _mean([pair_values[i] for i in idx]) if pair_values else float("nan")))
    lengths = [float(p.length) for p in everything]
    rho = spearman(values, lengths) if values else float("nan")
    at_goal = _mean([v for v, p in zip(values, everything) if p.length == 0]) if values else float("nan")
    return EditQuality(tuple(rows_out), sum(1 for p in goals), rho, at_goal, samples, temperature, seed,
                       time.perf_counter() - start)


def edit_quality(bundle: ModelBundle, domain: Domain, executor: Executor, n: int = 64, seed: int = 0, *,
                 k_max: int = 5, samples: int = 8, temperature: float = 1.0, batch_size: int = 32,
                 by_length: bool = False, p_leaf: float = 0.0) -> EditQuality:
    """Draw the fixed validation set of ``domain`` (``n`` pairs, ``n // k_max`` goal pairs) and :func:`measure` it.

    Targets use the domain's primitive bounds; mutations use the model's ``sigma_small``; programs longer than
    the model's ``max_program_tokens`` are redrawn; ``by_length`` and ``p_leaf`` as in :func:`validation_pairs`.
    """
    cfg = bundle.config
    pairs = validation_pairs(domain.grammar, n, seed, k_max=k_max, sigma_small=int(cfg.sigma_small),
                             min_primitives=domain.min_primitives, max_primitives=domain.max_primitives,
                             vocab=bundle.vocab, max_tokens=int(cfg.max_program_tokens), by_length=by_length,
                             p_leaf=p_leaf)
    return measure(bundle, domain.grammar, executor, pairs, goal_pairs(pairs, max(1, n // k_max)), samples=samples,
                   temperature=temperature, seed=seed, batch_size=batch_size, k_max=k_max)


def table(result: EditQuality) -> str:
    """The result as a plain-text table (rates in percent)."""
    lines = [f"{'length':>6} {'pairs':>5} {'greedy':>7} {'best-of-' + str(result.samples):>10} {'oracle':>7} "
             f"{'value':>6}"]
    for r in result.rows:
        lines.append(f"{r.bin:>6} {r.pairs:>5} {100 * r.greedy:>6.1f}% {100 * r.best_of:>9.1f}% "
                     f"{100 * r.oracle:>6.1f}% {r.mean_value:>6.2f}")
    lines.append(f"value: spearman {result.value_spearman:.3f}, mean at goal {result.value_at_goal:.3f} "
                 f"({result.goal_pairs} goal pairs); {result.seconds:.1f} s")
    return "\n".join(lines)
