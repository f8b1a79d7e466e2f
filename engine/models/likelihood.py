"""Likelihoods of whole programs under the AR model: each token read teacher-forced after the target and the
tokens before it. How well a program reads as the target, and where it reads least like it."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from treediff.engine.models.autoregressive import ARModel, program_sequence
from treediff.engine.models.batch import pad_sequences
from treediff.engine.models.inference import model_device
from treediff.engine.trees.tokens import PAD, Vocab
from treediff.engine.trees.tree import Node

_Forced = tuple[list[list[int]], list[int], torch.Tensor, torch.Tensor, torch.Tensor]  # see _teacher_forced


def _teacher_forced(ar_model: ARModel, vocab: Vocab, target: torch.Tensor, programs: Sequence[Node]) -> _Forced:
    """``programs`` encoded, the indices of the ``K`` of them within ``cfg.max_program_tokens``, and for those
    the log-probability ``[K, L+1]`` of each token and then EOS, fed in teacher-forced after the target
    ``[1, *S]``, the mask ``[K, L+1]`` of the real (non-pad) ones and whether each was the model's most likely
    token ``[K, L+1]`` (one batch; none when ``K`` is 0)."""
    dev = model_device(ar_model)
    encoded = [vocab.encode(p) for p in programs]
    kept = [i for i, ids in enumerate(encoded) if len(ids) <= ar_model.cfg.max_program_tokens]
    if not kept:
        none = torch.zeros(0, 0, dtype=torch.bool, device=dev)
        return encoded, kept, torch.zeros(0, 0, device=dev), none, none
    seq = program_sequence(pad_sequences([encoded[i] for i in kept], device=dev))  # [K, L+2]: BOS program EOS PAD..
    memory, mask = ar_model.encode(target.to(dev))  # [1, T, d], [1, T]
    b = seq.shape[0]
    logits = ar_model.decoder(seq[:, :-1], memory.expand(b, -1, -1), mask.expand(b, -1))  # [K, L+1, V]
    nxt = seq[:, 1:]  # [K, L+1]
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, nxt.clamp_min(0)[..., None])[..., 0]  # [K, L+1]
    return encoded, kept, logp, nxt != PAD, logits.argmax(-1) == nxt


@torch.no_grad()
def program_logprobs(ar_model: ARModel, vocab: Vocab, target: torch.Tensor, programs: Sequence[Node]) -> torch.Tensor:
    """The AR model's log-probability of each whole program (its tokens and EOS, teacher-forced) given the target
    ``[1, *S]``: float32 ``[B]`` on the model's device. How well a program reads as the target to the AR model;
    programs longer than ``cfg.max_program_tokens`` get ``-inf``."""
    _, kept, logp, real, _ = _teacher_forced(ar_model, vocab, target, programs)  # [K, L+1] each
    out = torch.full((len(programs),), -float("inf"), device=model_device(ar_model))
    out[torch.tensor(kept, dtype=torch.long, device=out.device)] = (logp * real).sum(1)
    return out


@torch.no_grad()
def token_logprobs(ar_model: ARModel, vocab: Vocab, target: torch.Tensor,
                   programs: Sequence[Node]) -> list[list[float]]:
    """The AR model's log-probability of each token of each program given the target ``[1, *S]`` and the tokens
    before it (teacher-forced; EOS not included): one list per program, in :meth:`Vocab.encode` order, empty for
    programs longer than ``cfg.max_program_tokens``. Where a program reads least like the target."""
    return [[lp for lp, _ in row] for row in token_readings(ar_model, vocab, target, programs)]


@torch.no_grad()
def token_readings(ar_model: ARModel, vocab: Vocab, target: torch.Tensor,
                   programs: Sequence[Node]) -> list[list[tuple[float, bool]]]:
    """Per token of each program (as :func:`token_logprobs`): its log-probability and whether it was the
    model's most likely token there (teacher-forced after the target ``[1, *S]`` and the tokens before it).
    Empty for programs longer than ``cfg.max_program_tokens``. How well the model reads each choice."""
    encoded, kept, logp, _, top = _teacher_forced(ar_model, vocab, target, programs)  # [K, L+1] each
    out: list[list[tuple[float, bool]]] = [[] for _ in programs]
    for lps, hits, i in zip(logp.cpu().tolist(), top.cpu().tolist(), kept):
        n = len(encoded[i])
        out[i] = list(zip(lps[:n], hits[:n]))
    return out
