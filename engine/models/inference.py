"""Batched, grammar-constrained sampling: edits from the denoiser, programs from the AR model, values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from treediff.engine.models.autoregressive import ARModel
from treediff.engine.models.backbone import DecoderCache
from treediff.engine.models.batch import encode_programs
from treediff.engine.models.constraint import GrammarConstraint, TensorMaskTable
from treediff.engine.models.denoiser import Denoiser
from treediff.engine.models.value import ValueNet
from treediff.engine.search.config import RewriteMode
from treediff.engine.trees.tokens import BOS, EOS, PAD, Vocab
from treediff.engine.trees.tree import Edit, Node, Path, get

NO_LIMIT = 10**6  # a primitive budget that never binds


@dataclass(frozen=True)
class ProposedEdit:
    """One sampled edit and its log-probability under the model (pointer + replacement tokens + EOS)."""

    edit: Edit
    logprob: float


def model_device(module: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on."""
    return next(module.parameters()).device


def _rows(obs: torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
    """Observations ``[B, *S]`` on ``device``; a single ``[1, *S]`` is broadcast to ``B`` rows."""
    if obs.shape[0] == 1 and b != 1:
        obs = obs.expand(b, *obs.shape[1:])
    return obs.to(device)


def _gumbel(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise drawn from ``generator`` (on its own device), moved to ``device``."""
    u = torch.rand(shape, generator=generator, device=generator.device).to(device)
    return -torch.log(-torch.log(u.clamp_min(1e-20)))


def _choose(logits: torch.Tensor, allowed: torch.Tensor, temperature: float,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one allowed token per row of ``logits [N, V]``; returns ids ``[N]`` and their log-prob ``[N]``.

    The log-probability is that of the grammar-masked model distribution at temperature 1 (the policy's
    own probability), whatever temperature the sample was drawn at; ``temperature <= 0`` is greedy.
    """
    masked = logits.masked_fill(~allowed, float("-inf"))  # [N, V]
    scores = masked if temperature <= 0 else masked / temperature + _gumbel(tuple(logits.shape), generator,
                                                                            logits.device)
    tok = scores.argmax(-1)  # [N]
    logp = torch.log_softmax(masked, -1).gather(1, tok[:, None])[:, 0]  # [N]
    return tok, logp


def _decode(step: Callable[[torch.Tensor], torch.Tensor], constraint: GrammarConstraint, n_steps: int,
            temperature: float, generator: torch.Generator,
            forced: torch.Tensor | None = None) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """Run the decoder under ``constraint`` from BOS until every row wrote EOS (at most ``n_steps`` steps).

    ``forced [N, P]`` (token ids, -1 = free) fixes the first tokens of each row (a prefix the model is fed
    instead of sampling; it must be allowed by the grammar and is not counted in the log-probability).
    Returns the tree tokens of each row, the log-probability of each step's token ``[N, steps]`` (EOS included;
    0 for forced tokens and after EOS) and a bool ``[N]`` of rows that finished (a row fails only in a grammar
    dead end, which the budgets make rare).
    """
    n = constraint.rows.shape[0]
    dev = constraint.rows.device
    tokens = torch.full((n,), BOS, dtype=torch.long, device=dev)  # [N]
    ok = torch.ones(n, dtype=torch.bool, device=dev)  # [N]
    written: list[torch.Tensor] = []
    step_logp: list[torch.Tensor] = []
    for _ in range(n_steps):
        logits = step(tokens)  # [N, V]
        allowed = constraint.mask()  # [N, V]
        stuck = ~allowed.any(-1)  # [N]
        ok &= ~stuck
        allowed[stuck, EOS] = True
        active = ~constraint.finished  # [N]
        tokens, logp = _choose(logits, allowed, temperature, generator)
        if forced is not None and len(written) < forced.shape[1]:
            fixed = forced[:, len(written)]  # [N]
            tokens = torch.where(fixed >= 0, fixed, tokens)
            logp = torch.where(fixed >= 0, 0.0, logp)
        step_logp.append(torch.where(active & ~stuck, logp, 0.0))
        written.append(torch.where(active, tokens, -1))
        constraint.step(tokens)
        if bool(constraint.finished.all()):
            break
    ok &= constraint.finished
    ids = torch.stack(written, 1).cpu().numpy() if written else np.zeros((n, 0), dtype=np.int64)  # [N, steps]
    rows = [[int(t) for t in row if t >= 0 and t != EOS] for row in ids]
    logprob = torch.stack(step_logp, 1) if step_logp else torch.zeros((n, 0), device=dev)  # [N, steps]
    return rows, logprob, ok


def _subtree_spans(ids: Sequence[int], arity: np.ndarray) -> list[int]:
    """Token length of the subtree starting at each index of a prefix encoding (1 for value tokens)."""
    sizes: list[int] = []
    span = [0] * len(ids)
    for i in range(len(ids) - 1, -1, -1):
        a = int(arity[ids[i]])
        size = 1 + sum(sizes[-a:]) if a else 1
        if a:
            del sizes[-a:]
        sizes.append(size)
        span[i] = size
    return span


def _sample_positions(logits: torch.Tensor, valid: torch.Tensor, n: int, temperature: float,
                      generator: torch.Generator) -> torch.Tensor:
    """``n`` positions per row of ``logits [B, L]`` among ``valid [B, L]``: distinct while enough are valid
    (Gumbel top-k), then with replacement. Rows with no valid position get index 0 (caller drops them)."""
    b, length = logits.shape
    masked = logits.masked_fill(~valid, float("-inf"))  # [B, L]
    k = min(n, length)
    if temperature <= 0:
        distinct = masked.topk(k, dim=1).indices  # [B, k]
        repeat = masked.argmax(1, keepdim=True).expand(b, n)  # [B, n]
    else:
        scaled = masked / temperature
        distinct = (scaled + _gumbel((b, length), generator, logits.device)).topk(k, dim=1).indices  # [B, k]
        noise = _gumbel((b, n, length), generator, logits.device)  # [B, n, L]
        repeat = (scaled[:, None, :] + noise).argmax(-1)  # [B, n]
    if k < n:
        distinct = torch.cat([distinct, repeat[:, k:]], dim=1)  # [B, n]
    n_valid = valid.sum(1, keepdim=True)  # [B, 1]
    slot = torch.arange(n, device=logits.device)[None, :]  # [1, n]
    return torch.where(slot < n_valid, distinct, repeat)  # [B, n]


def _edit_sites(vocab: Vocab, table: TensorMaskTable, program: torch.Tensor, max_edit: int, max_program: int,
                max_sigma: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where an edit may go in ``program [B, L]``: each position's nonterminal symbol id (-1 off nodes),
    the replacement's tree-token budget (the edit window, and keeping the program within ``max_program``
    tokens), and which positions are eligible (a node whose nonterminal fits both budgets); each ``[B, L]``.
    """
    arity = table.token_arity.cpu().numpy()
    spans = torch.zeros(program.shape, dtype=torch.long)  # [B, L] token length of the subtree at each node
    for i, seq in enumerate(program.cpu().tolist()):
        seq = [t for t in seq if t != PAD]
        spans[i, :len(seq)] = torch.tensor(_subtree_spans(seq, arity))
    spans = spans.to(program.device)
    lengths = (program != PAD).sum(1, keepdim=True)  # [B, 1]
    budget = torch.minimum(torch.full_like(spans, max_edit), max_program - (lengths - spans))  # [B, L]
    lhs = table.token_lhs[program]  # [B, L]
    safe = lhs.clamp_min(0)
    valid = ((lhs >= 0) & (table.symbol_min_sigma[safe] <= max_sigma)
             & (table.symbol_min_tokens[safe] <= budget))  # [B, L]
    return lhs, budget, valid


@torch.no_grad()
def propose_edits(denoiser: Denoiser, vocab: Vocab, target: torch.Tensor, current: torch.Tensor,
                  programs: Sequence[Node], n_samples: int, generator: torch.Generator, temperature: float = 1.0,
                  max_primitives: int | None | Literal["sigma_small"] = "sigma_small",
                  unique: bool = True, per_position: int = 1) -> list[list[ProposedEdit]]:
    """Sample ``n_samples`` edits for each of ``B`` programs in one batch.

    ``target``/``current`` are observations ``[B, *S]`` (``[1, *S]`` is broadcast). Put the model in eval
    mode first (dropout is not switched off here). One context forward gives
    the pointer distribution; positions are drawn without replacement while enough are eligible; then
    all ``B * n_samples`` replacements are decoded together with the KV cache under the grammar mask:
    the replacement derives the chosen node's nonterminal, has at most ``max_primitives`` primitives
    (default ``cfg.sigma_small``; None = no bound), fits ``max_edit_tokens`` and keeps the program within
    ``max_program_tokens``; so every edit is valid by construction. Positions whose nonterminal cannot
    fit those bounds are never chosen. ``logprob`` = log p(position) + sum log p(token) (grammar-masked,
    temperature 1). With ``unique`` no-op edits and repeated edits are dropped, so a list may be shorter
    than ``n_samples``. Each list is sorted by decreasing logprob. Deterministic given ``generator``.
    ``per_position`` > 1 draws ``ceil(n_samples / per_position)`` positions and decodes that many replacements
    at each (fewer places, more tries at each).
    """
    if per_position < 1:
        raise ValueError(f"per_position {per_position!r}; expected a count of replacements >= 1")
    cfg = denoiser.cfg
    dev = model_device(denoiser)
    b = len(programs)
    if b == 0 or n_samples < 1:
        return [[] for _ in programs]
    limit = cfg.sigma_small if max_primitives == "sigma_small" else max_primitives
    max_sigma = NO_LIMIT if limit is None else int(limit)
    table = TensorMaskTable.of(vocab, dev)
    program = encode_programs(vocab, programs, device=dev)  # [B, L]
    lhs, budget, valid = _edit_sites(vocab, table, program, cfg.max_edit_tokens - 2, cfg.max_program_tokens,
                                     max_sigma)

    ctx = denoiser.encode(_rows(target, b, dev), _rows(current, b, dev), program)
    sites = -(-n_samples // per_position)
    positions = _sample_positions(ctx.position_logits, valid, sites, temperature, generator)  # [B, sites]
    positions = positions.repeat_interleave(per_position, dim=1)[:, :n_samples]  # [B, n]
    pos_logp = torch.log_softmax(ctx.position_logits.masked_fill(~valid, float("-inf")), 1)  # [B, L]
    pos_logp = pos_logp.gather(1, positions)  # [B, n]
    rows_ok = valid.gather(1, positions)  # [B, n]

    start = torch.where(rows_ok, lhs.gather(1, positions), table.symbol_ids[vocab.grammar.start]).reshape(-1)
    tok_budget = torch.where(rows_ok, budget.gather(1, positions), 0).clamp_min(0).reshape(-1)  # [N]
    constraint = GrammarConstraint(table, start, torch.full_like(tok_budget, max_sigma), tok_budget)
    cache = denoiser.start_decoding(ctx, positions)
    ids, tok_logp, done = _decode(lambda t: denoiser.decode_step(cache, t), constraint,
                                  int(tok_budget.max().item()) + 1, temperature, generator)
    total = (pos_logp.reshape(-1) + tok_logp.sum(1)).tolist()
    keep = (rows_ok.reshape(-1) & done).tolist()
    return _collect_edits(vocab, programs, positions.tolist(), ids, total, keep, table, start.tolist(), unique)


def _collect_edits(vocab: Vocab, programs: Sequence[Node], positions: list[list[int]], ids: list[list[int]],
                   total: list[float], keep: list[bool], table: TensorMaskTable, start: list[int],
                   unique: bool) -> list[list[ProposedEdit]]:
    out: list[list[ProposedEdit]] = []
    n = len(positions[0]) if positions else 0
    for i, program in enumerate(programs):
        paths = dict(vocab.node_positions(program))
        seen: set[Edit] = set()
        edits: list[ProposedEdit] = []
        for j in range(n):
            r = i * n + j
            if not keep[r]:
                continue
            path = paths[positions[i][j]]
            edit = Edit(path, vocab.decode(ids[r], table.symbols[start[r]]))
            if unique and (edit in seen or edit.replacement == get(program, path)):
                continue
            seen.add(edit)
            edits.append(ProposedEdit(edit, total[r]))
        edits.sort(key=lambda e: -e.logprob)
        out.append(edits)
    return out


@torch.no_grad()
def sample_programs(ar_model: ARModel, vocab: Vocab, target: torch.Tensor, n_samples: int,
                    generator: torch.Generator, temperature: float = 1.0, max_tokens: int | None = None,
                    max_primitives: int | None = None) -> list[list[tuple[Node, float]]]:
    """``n_samples`` whole programs per target ``[B, *S]`` from the AR model, with their log-probabilities.

    Decoding is grammar-constrained and length-bounded (``max_tokens``, default and cap
    ``cfg.max_program_tokens``): a token that would make the shortest completion too long is masked,
    which replaces rejection of over-long samples. Rows are in sampling order, duplicates kept.
    """
    cfg = ar_model.cfg
    dev = model_device(ar_model)
    b = target.shape[0]
    if b == 0 or n_samples < 1:
        return [[] for _ in range(b)]
    table = TensorMaskTable.of(vocab, dev)
    limit = cfg.max_program_tokens if max_tokens is None else min(max_tokens, cfg.max_program_tokens)
    n = b * n_samples
    start = torch.full((n,), table.symbol_ids[vocab.grammar.start], dtype=torch.long, device=dev)
    sigma = NO_LIMIT if max_primitives is None else max_primitives
    constraint = GrammarConstraint(table, start, torch.full((n,), sigma, device=dev),
                                   torch.full((n,), limit, device=dev))
    cache: DecoderCache = ar_model.start_decoding(target.to(dev))
    ids, logp, done = _decode(lambda t: ar_model.decode_step(cache, t), constraint, limit + 1, temperature,
                              generator)
    scores, keep = logp.sum(1).tolist(), done.tolist()
    return [[(vocab.decode(ids[r]), scores[r]) for r in range(i * n_samples, (i + 1) * n_samples) if keep[r]]
            for i in range(b)]


@torch.no_grad()
def predict_values(value_net: ValueNet, vocab: Vocab, target: torch.Tensor, current: torch.Tensor,
                   programs: Sequence[Node]) -> torch.Tensor:
    """Predicted remaining edit-path length ``[B]`` (float32, on the model's device) for each program;
    observations ``[B, *S]`` (``[1, *S]`` is broadcast)."""
    dev = model_device(value_net)
    program = encode_programs(vocab, programs, device=dev)  # [B, L]
    b = len(programs)
    return torch.expm1(value_net.predict_log(_rows(target, b, dev), _rows(current, b, dev), program)).clamp_min(0.0)


@torch.no_grad()
def infill_edits(ar_model: ARModel, vocab: Vocab, target: torch.Tensor, programs: Sequence[Node], n_samples: int,
                 generator: torch.Generator, temperature: float = 1.0,
                 mode: RewriteMode = "subtree",
                 sites: Sequence[Sequence[Path]] | None = None) -> list[list[ProposedEdit]]:
    """``n_samples`` subtree rewrites per program, written by the AR model from the program's own prefix.

    For each sample a node is drawn uniformly; the AR model is fed the program's tokens before that node
    (teacher-forced, as in training) and samples on from there under the grammar; the subtree it writes in the
    node's place becomes the replacement (what it writes after that is dropped), so the rest of the program is
    kept. With ``mode="suffix"`` the whole continuation is kept instead: the program becomes the prefix plus
    everything the AR model wrote after it (an edit of the root), so the parts after the node are rewritten
    too; ``"both"`` proposes the two from each decode. ``sites`` (node paths per program) replaces the uniform
    draw: a program's rewrites go to its sites in turn (e.g. where the denoiser chose to edit; a program with
    no sites falls back to the uniform draw). The AR model sees only the target ``[1, *S]`` (or
    ``[B, *S]``), not the current rendering: its rewrites are its reading of the target given the part of the
    program that comes first. Programs longer than ``cfg.max_program_tokens`` get none, and subtree rewrites
    that would make a program longer are dropped, as are
    no-op and repeated ones. ``logprob`` is the log-probability of the replacement's tokens given the prefix
    (grammar-masked, temperature 1). Deterministic given ``generator``.
    """
    cfg = ar_model.cfg
    dev = model_device(ar_model)
    limit = cfg.max_program_tokens
    rows: list[tuple[int, int, Path]] = []  # (program index, node position, node path)
    encoded = [vocab.encode(p) for p in programs]
    for i, program in enumerate(programs):
        if n_samples < 1 or len(encoded[i]) > limit:
            continue
        nodes = vocab.node_positions(program)
        chosen = sites[i] if sites is not None else ()
        if chosen:
            at = {path: pos for pos, path in nodes}
            rows.extend((i, at[chosen[k % len(chosen)]], chosen[k % len(chosen)]) for k in range(n_samples))
            continue
        picks = torch.randint(len(nodes), (n_samples,), generator=generator, device=generator.device).tolist()
        rows.extend((i, *nodes[k]) for k in picks)
    if not rows:
        return [[] for _ in programs]
    table = TensorMaskTable.of(vocab, dev)
    width = max(pos for _, pos, _ in rows)
    forced = torch.full((len(rows), max(width, 1)), -1, dtype=torch.long)  # [N, P]
    for r, (i, pos, _) in enumerate(rows):
        forced[r, :pos] = torch.tensor(encoded[i][:pos], dtype=torch.long)
    n = len(rows)
    start = torch.full((n,), table.symbol_ids[vocab.grammar.start], dtype=torch.long, device=dev)
    constraint = GrammarConstraint(table, start, torch.full((n,), NO_LIMIT, device=dev),
                                   torch.full((n,), limit, device=dev))
    # one target for all rows is encoded once ([1, *S] read by all N rows); else each row reads its program's
    obs = target.to(dev) if target.shape[0] == 1 else _rows(target, len(programs), dev)[[i for i, _, _ in rows]]
    cache: DecoderCache = ar_model.start_decoding(obs)
    ids, logp, done = _decode(lambda t: ar_model.decode_step(cache, t), constraint, limit + 1, temperature,
                              generator, forced.to(dev))
    out: list[list[ProposedEdit]] = [[] for _ in programs]
    seen: set[tuple[int, Edit]] = set()
    for r, (i, pos, path) in enumerate(rows):
        if not bool(done[r]):
            continue
        for edit, lp in _rewrites(vocab, mode, ids[r], pos, path, encoded[i], logp[r], limit):
            if (i, edit) in seen or edit.replacement == get(programs[i], edit.path):
                continue
            seen.add((i, edit))
            out[i].append(ProposedEdit(edit, lp))
    return out


def _rewrites(vocab: Vocab, mode: RewriteMode, ids: list[int], pos: int, path: Path, program: list[int],
              logp: torch.Tensor, limit: int) -> list[tuple[Edit, float]]:
    """The edits one AR decode from a forced prefix of ``pos`` tokens gives: its subtree at ``path`` and/or its
    whole program (``mode``), each with the log-probability of the tokens it adds (``logp [steps]``)."""
    found: list[tuple[Edit, float]] = []
    if mode in ("subtree", "both"):
        end = vocab.subtree_end(ids, pos)
        if len(program) - vocab.subtree_end(program, pos) + end <= limit:
            found.append((Edit(path, vocab.decode(ids[pos:end], vocab.token_production(ids[pos]).lhs)),
                          float(logp[pos:end].sum())))
    if mode in ("suffix", "both"):
        found.append((Edit((), vocab.decode(ids, vocab.grammar.start)), float(logp[pos:].sum())))
    return found
