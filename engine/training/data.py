"""Training data generated on the fly: noised programs, their first reverse edit, batched as tensors.

One example: sample a target program -> noise it with the forward process -> compute the reverse
edit path back to the target -> keep the first edit and the path length -> tokens. Examples are
grouped into :class:`TreeBatch` es (token tensors only: cheap to send between processes) by an
:class:`EditStream`, whose batch ``i`` depends only on ``(seed, rank, i)`` - so the stream is the same
with any number of DataLoader workers and a resumed run picks it up at its step. The training process
then executes the target and current programs of a batch in one call of the domain executor, on the
training device, and gets an :class:`treediff.engine.models.batch.EditBatch` (:class:`Materializer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from random import Random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from treediff.engine.errors import TreeError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.training.states import StatePair
from treediff.engine.trees.derivation import sample_tree
from treediff.engine.trees.noise import SIGMA_SMALL, forward, reverse_path
from treediff.engine.trees.tokens import BOS, EOS, PAD, Vocab, encode_edit
from treediff.engine.trees.tree import Edit, Node

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain
    from treediff.engine.models.batch import EditBatch

MAX_TRIES = 200  # draws per example before giving up (e.g. every program exceeds the token limits)
STREAM_TRAIN, STREAM_VAL, STREAM_SKETCH, STREAM_VAL_SKETCH, STREAM_TARGETS = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class DataSpec:
    """What examples look like: model kind, target sizes, forward-process and token-length limits."""

    kind: str = "diffusion"  # "diffusion": (current -> first edit) examples; "ar": whole target programs
    min_primitives: int = 2
    max_primitives: int = 8
    sigma_small: int = SIGMA_SMALL
    k_max: int = 5
    p_fresh: float = 0.2
    p_leaf: float = 0.0  # share of forward steps that move one leaf instead of replacing a subtree
    p_hoist: float = 0.0  # share of forward steps that drop a part (a small node -> one of its children)
    max_program_tokens: int = 128  # longest program token sequence (without BOS/EOS)
    max_edit_tokens: int = 40  # longest replacement including BOS and EOS
    max_depth: int = 24
    p_goal: float = 0.0  # share of goal examples (current == target, path length 0): value-network only
    multi_label: bool = False  # label every edit that can come first on the reverse path, not just the first
    p_states: float = 0.0  # share of examples whose (target, current) pair is drawn from ``states``
    states: tuple[StatePair, ...] = ()  # on-policy states: programs a search expanded, with their targets


@dataclass(frozen=True)
class Example:
    """One training example as token ids (``current`` is empty for the AR kind)."""

    target: tuple[int, ...]  # prefix tokens of the target program
    current: tuple[int, ...]  # prefix tokens of the noised program
    position: int  # token index (in ``current``) of the node the first edit replaces
    replacement: tuple[int, ...]  # the replacement subtree's tokens (no BOS/EOS)
    path_length: int  # edits left on the reverse path; 0 for a goal example (no edit to learn)
    positions: tuple[int, ...] = ()  # token indices of every edit that may come first (contains ``position``)


def first_edits(path: Sequence[Edit]) -> list[Edit]:
    """The edits of a reverse path that could be applied first: those not inside an earlier edit's subtree.

    The reverse path edits disjoint subtrees independently, except that a skeleton edit must precede the
    repairs of its own children; so any edit whose node no earlier edit contains is an equally short way
    to start, and "the first edit" alone is an arbitrary pick among them.
    """
    out: list[Edit] = []
    for i, edit in enumerate(path):
        if not any(edit.path[:len(e.path)] == e.path for e in path[:i]):
            out.append(edit)
    return out


def make_example(grammar: Grammar, vocab: Vocab, spec: DataSpec, rng: Random, target: Node | None = None,
                 state: Node | None = None) -> Example:
    """Draw one example (of ``target`` when given and within the token limits, else of random targets);
    TreeError if none within the token limits turns up in :data:`MAX_TRIES` draws.

    With ``state`` (a program a search expanded for ``target``) the first draw edits ``state`` into ``target``
    instead of a noised copy of the target; a state over the token limits falls back to the forward process.
    """
    for attempt in range(MAX_TRIES):
        if target is None:
            target = sample_tree(grammar, rng, spec.min_primitives, spec.max_primitives, max_depth=spec.max_depth)
        target_ids = tuple(vocab.encode(target))
        if len(target_ids) > spec.max_program_tokens:
            target = None
            continue
        if spec.kind == "ar":
            return Example(target_ids, (), 0, (), 0)
        if state is not None and attempt == 0:
            current = state
        else:
            if spec.p_goal > 0 and rng.random() < spec.p_goal:
                return Example(target_ids, target_ids, 0, (), 0, ())
            current = forward(target, grammar, rng, spec.k_max, spec.p_fresh, spec.sigma_small,
                              spec.min_primitives, spec.max_primitives, spec.max_depth, spec.p_leaf, spec.p_hoist)
        path = reverse_path(current, target, grammar, spec.sigma_small)
        if not path:  # the mutations cancelled out: nothing to learn
            continue
        firsts = first_edits(path) if spec.multi_label else [path[0]]
        edits = [encode_edit(vocab, current, e) for e in firsts]
        edit = edits[int(rng.random() * len(edits))] if len(edits) > 1 else edits[0]
        current_ids = tuple(vocab.encode(current))
        if len(current_ids) > spec.max_program_tokens or len(edit.replacement) + 2 > spec.max_edit_tokens:
            continue
        return Example(target_ids, current_ids, edit.position, edit.replacement, len(path),
                       tuple(sorted(e.position for e in edits)))
    raise TreeError(f"no training example of grammar {grammar.name!r} fits max_program_tokens="
                    f"{spec.max_program_tokens} and max_edit_tokens={spec.max_edit_tokens} in {MAX_TRIES} draws; "
                    "hint: lower max_primitives or raise the model's token limits")


def pad(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    """Rows of token ids as a ``[len(rows), width]`` long tensor padded with PAD."""
    width = width if width is not None else max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


@dataclass
class TreeBatch:
    """A batch before execution: programs as token tensors (trees are decoded where they are executed).

    For the diffusion kind ``program`` holds the current (noised) programs, ``replacement`` is
    ``BOS + ids + EOS``. For the AR kind ``program`` holds the target programs (the model adds BOS/EOS)
    and the edit fields are placeholders (position 0, replacement ``BOS EOS``, path length 0).
    """

    index: int  # position in the stream
    target_ids: torch.Tensor  # [B, Lt] target programs (no BOS/EOS)
    program: torch.Tensor  # [B, L]
    edit_position: torch.Tensor  # [B]
    replacement: torch.Tensor  # [B, R]
    path_length: torch.Tensor  # [B] float
    position_mask: torch.Tensor  # [B, L] bool: positions of every edit that may come first

    def __len__(self) -> int:
        return int(self.program.shape[0])


def collate(examples: Sequence[Example], index: int, kind: str) -> TreeBatch:
    """Stack examples into a :class:`TreeBatch` padded to the longest row."""
    target = pad([e.target for e in examples])
    if kind == "ar":
        program = target
        replacement = pad([(BOS, EOS)] * len(examples))
    else:
        program = pad([e.current for e in examples])
        replacement = pad([(BOS, *e.replacement, EOS) for e in examples])
    mask = torch.zeros(program.shape, dtype=torch.bool)
    for i, e in enumerate(examples):
        mask[i, list(e.positions or ((e.position,) if e.path_length else ()))] = True
    return TreeBatch(index, target, program, torch.tensor([e.position for e in examples], dtype=torch.long),
                     replacement, torch.tensor([float(e.path_length) for e in examples]), mask)


def stream_seed(seed: int, rank: int, index: int, stream: int = STREAM_TRAIN) -> int:
    """A 63-bit seed for batch ``index`` of ``rank`` that no other (seed, rank, index, stream) shares."""
    return int(np.random.SeedSequence([seed, rank, index, stream]).generate_state(1, np.uint64)[0] >> 1)


TargetSource = Callable[[int, int], Sequence[Node]]  # (n, seed) -> n target programs, deterministic in seed


def make_batch(grammar: Grammar, vocab: Vocab, spec: DataSpec, batch_size: int, seed: int, rank: int,
               index: int, stream: int = STREAM_TRAIN, targets: TargetSource | None = None) -> TreeBatch:
    """Batch ``index`` of the stream ``(seed, rank, stream)``: a pure function of its arguments.

    With ``targets`` (e.g. a domain's ``test_targets``) the batch's targets are ``targets(batch_size, s)`` for a
    seed ``s`` of this batch (a target over the token limits is swapped for a random one); else random programs.
    With ``spec.p_states`` > 0 each example is, with that probability, one of ``spec.states`` drawn at random
    (its target and the search state to edit) instead.
    """
    rng = Random(stream_seed(seed, rank, index, stream))
    chosen: list[Node | None] = [None] * batch_size
    if targets is not None:
        drawn = list(targets(batch_size, stream_seed(seed, rank, index, STREAM_TARGETS)))[:batch_size]
        chosen[:len(drawn)] = drawn
    examples = []
    for target in chosen:
        state = None
        if spec.p_states > 0 and spec.states and spec.kind == "diffusion" and rng.random() < spec.p_states:
            pair = spec.states[int(rng.random() * len(spec.states))]
            target, state = pair.target, pair.state
        examples.append(make_example(grammar, vocab, spec, rng, target, state))
    return collate(examples, index, spec.kind)


class EditStream(IterableDataset[TreeBatch]):
    """Endless batches ``start, start+1, ...`` of one rank; worker ``w`` of ``W`` makes those with
    ``index % W == w``, and the DataLoader's round-robin over workers restores the order."""

    def __init__(self, grammar: Grammar, spec: DataSpec, batch_size: int, seed: int, rank: int = 0,
                 start: int = 0, stop: int | None = None, targets: TargetSource | None = None) -> None:
        super().__init__()
        self.grammar, self.spec, self.batch_size = grammar, spec, batch_size
        self.seed, self.rank, self.start, self.stop = seed, rank, start, stop
        self.targets = targets

    def __iter__(self) -> Iterator[TreeBatch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        vocab = Vocab(self.grammar)
        index = self.start + worker
        while self.stop is None or index < self.stop:
            yield make_batch(self.grammar, vocab, self.spec, self.batch_size, self.seed, self.rank, index,
                             targets=self.targets)
            index += workers


def make_loader(stream: EditStream, workers: int, prefetch: int = 4) -> DataLoader[TreeBatch]:
    """A DataLoader over ``stream`` (whole batches, no collation) with ``workers`` processes."""
    options: dict[str, Any] = {"batch_size": None, "num_workers": workers}
    if workers > 0:
        options.update(prefetch_factor=prefetch, persistent_workers=False)
    return DataLoader(stream, **options)


class Materializer:
    """Executes a TreeBatch's programs with the domain executor (one call per batch, on ``device``) and
    returns the model-ready :class:`~treediff.engine.models.batch.EditBatch`.

    With ``sketch`` the target observation comes from the domain's sketch model, drawn with a generator
    seeded by the batch index (so it replays on resume).
    """

    def __init__(self, domain: Domain, vocab: Vocab, device: torch.device, kind: str = "diffusion",
                 sketch: bool = False, seed: int = 0, rank: int = 0) -> None:
        if sketch and domain.sketch is None:
            from treediff.engine.errors import DomainError

            raise DomainError(f"domain {domain.name!r} has no sketch model, but the training config asks for "
                              "sketch targets; expected sketch: false for this domain")
        self.domain, self.vocab, self.device, self.kind = domain, vocab, device, kind
        self.sketch, self.seed, self.rank = sketch, seed, rank
        self.executor = domain.make_executor(str(device))

    def trees(self, ids: torch.Tensor) -> list[Node]:
        """Decode rows of PAD-padded token ids into trees."""
        return [self.vocab.decode([t for t in row if t != PAD]) for row in ids.tolist()]

    def __call__(self, tb: TreeBatch, sketch_seed: int | None = None) -> EditBatch:
        """Execute ``tb``; ``sketch_seed`` defaults to the training stream's seed for batch ``tb.index``."""
        from treediff.engine.models.batch import EditBatch

        targets = self.trees(tb.target_ids)
        currents = targets if self.kind == "ar" else self.trees(tb.program)
        with torch.no_grad():
            if self.kind == "ar":
                obs = self.executor.execute(targets).to(self.device)
                current_obs = obs
            else:
                both = self.executor.execute(targets + currents).to(self.device)
                obs, current_obs = both[:len(targets)], both[len(targets):]
            if self.sketch:
                assert self.domain.sketch is not None
                if sketch_seed is None:
                    sketch_seed = stream_seed(self.seed, self.rank, tb.index, STREAM_SKETCH)
                gen = torch.Generator(device=self.device).manual_seed(sketch_seed)
                obs = self.domain.sketch(targets, gen).to(self.device)
        dev = self.device
        return EditBatch(target=obs.float(), current=current_obs.float(), program=tb.program.to(dev),
                         edit_position=tb.edit_position.to(dev), replacement=tb.replacement.to(dev),
                         path_length=tb.path_length.to(dev), position_mask=tb.position_mask.to(dev))


def validation_batches(grammar: Grammar, spec: DataSpec, size: int, batch_size: int, seed: int,
                       materialize: Materializer) -> list[EditBatch]:
    """The fixed validation set: ``size`` examples from stream ``(seed, rank 0, STREAM_VAL)``, executed.

    Always of the forward process: on-policy states (``spec.states``) are training data, so a validation set
    drawn from them would measure how well the run remembers them; leaving them out keeps runs comparable.
    """
    vocab = Vocab(grammar)
    spec = replace(spec, p_states=0.0, states=())
    out = []
    for start in range(0, size, batch_size):
        n = min(batch_size, size - start)
        index = start // batch_size
        tb = make_batch(grammar, vocab, spec, n, seed, 0, index, STREAM_VAL)
        out.append(materialize(tb, sketch_seed=stream_seed(seed, 0, index, STREAM_VAL_SKETCH)))
    return out
