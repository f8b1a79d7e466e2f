"""Renderer-call accounting for one solve: a budget of distinct programs, a wall clock and a tree cache.

Every search method executes programs only through :class:`BudgetedExecutor`. A *renderer call* is one distinct
program executed during a solve; programs are cached by tree (``Node`` hashes by structure), so a
re-visit is free and uncounted. Where the domain declares an ``observation_key`` (a normal form: equal keys
execute to the same observation), a program whose key was already executed is a *repeat*: it is not executed,
costs no call, and its visit is the executed program's. The renderer never executes more than ``budget``
distinct programs and never starts an executor batch after the wall-clock limit has passed; big batches are
split into chunks of ``chunk`` programs. The searches check :meth:`BudgetedExecutor.done` before every model
batch too, so a solve ends at most one model batch plus one executor chunk after its time limit (a running
batch is not cut).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from treediff.engine.domains.domain import Domain, Executor
from treediff.engine.errors import InputError
from treediff.engine.trees.tree import Node

Clock = Callable[[], float]
STALL_ROUNDS = 50  # rounds in a row without a new program before a search gives up early (every method)
# ``calls_at_solve`` is the goal match's own call number, not the size of the batch it came in: the searches
# make the same calls in the same order under any budget (the budget only truncates the last batch), so a
# budget of exactly that many calls finds the same solution, and one call fewer does not.
SECTIONS = ("model", "render", "python")


@dataclass
class Profile:
    """Seconds spent per section of a solve; ``python`` is whatever the other sections do not cover."""

    clock: Clock = time.perf_counter
    seconds: dict[str, float] = field(default_factory=lambda: {"model": 0.0, "render": 0.0})
    counts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time the ``with`` body under ``name`` (sections must not nest)."""
        start = self.clock()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + self.clock() - start

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` (edits proposed, model batches, ...)."""
        self.counts[name] = self.counts.get(name, 0) + n

    def breakdown(self, total: float) -> dict[str, float]:
        """Seconds per section plus ``python`` = ``total`` minus the timed sections."""
        out = dict(self.seconds)
        out["python"] = max(0.0, total - sum(self.seconds.values()))
        return out


@dataclass(frozen=True)
class Visit:
    """What executing one program told us: goal match, distance to the target, and when it was run."""

    tree: Node
    solved: bool
    distance: float
    call: int  # 1-based renderer call that executed it


class BudgetedExecutor:
    """Executes programs against one target under a renderer-call budget and an optional time limit.

    ``run(trees)`` returns one :class:`Visit` per tree (cached visits are free), or ``None`` for trees
    that could not be executed because the budget or the time ran out. ``observe(trees)`` returns the
    observations of visited trees; a bounded LRU keeps recent ones and evicted ones are re-executed
    without counting (they are not new programs). With ``use_goal=False`` (e.g. sketch targets) no
    program counts as solved and the search runs to its limits. With ``keyed`` (default) and a domain that
    declares ``observation_key``, repeats of executed programs (equal keys) are seen, free, and map to the
    executed program's visit (as a :class:`Visit` of the repeat, with the same distance and call).
    """

    def __init__(self, domain: Domain, executor: Executor, target: torch.Tensor, budget: int,
                 time_limit: float | None = None, *, use_goal: bool = True, chunk: int = 256,
                 keep_observations: int = 512, profile: Profile | None = None, clock: Clock = time.perf_counter,
                 keyed: bool = True) -> None:
        if budget < 1:
            raise InputError(f"renderer-call budget {budget!r}; expected a positive integer")
        if time_limit is not None and not time_limit >= 0:
            raise InputError(f"time limit {time_limit!r} seconds; expected a non-negative number")
        self.domain = domain
        self.executor = executor
        self.target = target.to(executor.device, torch.float32)
        self.budget = budget
        self.time_limit = time_limit
        self.use_goal = use_goal
        self.chunk = max(1, chunk)
        self.keep = max(1, keep_observations)
        self.clock = clock
        self.profile = profile if profile is not None else Profile(clock=clock)
        self.started = clock()
        self.visits: dict[Node, Visit] = {}
        self.best: Visit | None = None
        self.first_solution: Visit | None = None
        self.reexecutions = 0
        self._repeated: set[Node] = set()  # programs run() was given that repeat an executed one
        self._observations: OrderedDict[Node, torch.Tensor] = OrderedDict()
        self._key: Callable[[Node], Hashable] | None = domain.observation_key if keyed else None
        self._keys: dict[Node, Hashable] = {}  # observation keys computed so far
        self._executed_keys: dict[Hashable, Node] = {}  # key -> the program executed for it

    # -- limits ---------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Distinct programs executed so far."""
        return len(self.visits)

    @property
    def repeats(self) -> int:
        """Distinct programs given to :meth:`run` that were not executed because they repeat an executed one."""
        return len(self._repeated)

    @property
    def remaining(self) -> int:
        """Renderer calls left in the budget."""
        return self.budget - len(self.visits)

    def elapsed(self) -> float:
        """Seconds since the solve started."""
        return self.clock() - self.started

    def out_of_time(self) -> bool:
        """Whether the wall-clock limit has passed."""
        return self.time_limit is not None and self.elapsed() >= self.time_limit

    @property
    def calls_at_solve(self) -> int | None:
        """The call number of the first goal match (the x-coordinate of solved-vs-calls curves); None unsolved."""
        return self.first_solution.call if self.first_solution is not None else None

    @property
    def solved(self) -> bool:
        """Whether some executed program matched the goal."""
        return self.first_solution is not None

    def done(self) -> bool:
        """Whether the search should stop: solved, budget spent, or out of time."""
        return self.solved or self.remaining <= 0 or self.out_of_time()

    def seen(self, tree: Node) -> bool:
        """Whether ``tree``, or a program with its observation key, was already executed in this solve."""
        return self._executed(tree) is not None

    def _identity(self, tree: Node) -> Hashable:
        """What makes ``tree`` a new program: its observation key, or the tree where the domain has none."""
        if self._key is None:
            return tree
        key = self._keys.get(tree)
        if key is None:
            key = self._keys[tree] = self._key(tree)
        return key

    def _executed(self, tree: Node) -> Node | None:
        """The executed program ``tree`` is or repeats; None if it would be a new program."""
        if tree in self.visits:
            return tree
        return None if self._key is None else self._executed_keys.get(self._identity(tree))

    def _visit(self, tree: Node) -> Visit | None:
        """``tree``'s visit: its own, a repeat's copy of the executed program's, or None if never executed."""
        done = self._executed(tree)
        if done is None:
            return None
        visit = self.visits[done]
        return visit if done is tree else Visit(tree, visit.solved, visit.distance, visit.call)

    # -- execution ------------------------------------------------------------------------------
    def run(self, trees: Sequence[Node]) -> list[Visit | None]:
        """Execute the new trees among ``trees`` (deduplicated, in order) within the limits.

        New programs beyond the remaining budget, or in chunks that would start after the time limit,
        are not executed and map to ``None``. Cached trees always map to their visit.
        """
        fresh: list[Node] = []
        pending: set[Hashable] = set()
        for tree in trees:
            if self._executed(tree) is None and (identity := self._identity(tree)) not in pending:
                pending.add(identity)
                fresh.append(tree)
        fresh = fresh[:max(0, self.remaining)]
        for start in range(0, len(fresh), self.chunk):
            if self.out_of_time():
                break
            self._execute(fresh[start:start + self.chunk])
        visits = [self._visit(tree) for tree in trees]
        self._repeated.update(t for t, visit in zip(trees, visits) if visit is not None and t not in self.visits)
        return visits

    def _execute(self, batch: list[Node]) -> None:
        with self.profile.section("render"):
            observations = self.executor.execute(batch)
            distances = self.domain.distance(observations, self.target).detach().to("cpu", torch.float64)
            if self.use_goal:
                goals = self.domain.goal(observations, self.target).detach().to("cpu").tolist()
            else:
                goals = [False] * len(batch)
        for i, tree in enumerate(batch):
            distance = float(distances[i])
            visit = Visit(tree, bool(goals[i]), distance if math.isfinite(distance) else math.inf, len(self.visits) + 1)
            self.visits[tree] = visit
            if self._key is not None:
                self._executed_keys[self._identity(tree)] = tree
            self._remember(tree, observations[i])
            if visit.solved and self.first_solution is None:
                self.first_solution = visit
            if self.best is None or visit_order(visit) < visit_order(self.best):
                self.best = visit

    def _remember(self, tree: Node, observation: torch.Tensor) -> None:
        self._observations[tree] = observation
        self._observations.move_to_end(tree)
        while len(self._observations) > self.keep:
            self._observations.popitem(last=False)

    def observe(self, trees: Sequence[Node]) -> torch.Tensor:
        """Observations ``[len(trees), *S]`` of already visited trees or their repeats (re-executed for free if
        evicted)."""
        trees = [self._executed(tree) or tree for tree in trees]
        missing = [t for t in dict.fromkeys(trees) if t not in self._observations]
        for tree in missing:
            if tree not in self.visits:
                raise ValueError(f"observe() needs visited programs; {tree} was never run")
        found = {t: self._observations[t] for t in trees if t in self._observations}
        if missing:
            with self.profile.section("render"):
                fresh = self.executor.execute(missing)
            self.reexecutions += len(missing)
            for i, tree in enumerate(missing):
                found[tree] = fresh[i]
                self._remember(tree, fresh[i])
        for tree in found:
            if tree in self._observations:
                self._observations.move_to_end(tree)
        rows = [found[tree] for tree in trees]
        return torch.stack(rows)


def visit_order(visit: Visit) -> tuple[bool, float, int]:
    """Sort key of visits, best first: solved beats unsolved, then lower distance, then the earlier call."""
    return not visit.solved, visit.distance, visit.call
