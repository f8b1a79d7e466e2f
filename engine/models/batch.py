"""Training batches of edits as tensors, and the helpers that pad token sequences into them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from treediff.engine.trees.tokens import BOS, EOS, PAD, Vocab, encode_edit
from treediff.engine.trees.tree import Edit, Node


@dataclass
class EditBatch:
    """One batch of denoiser / value / AR examples.

    target, current: observations ``[B, *S]`` (float); program: ``[B, L]`` long, PAD-padded token ids of
    the current program (for the AR model: of the program that produced ``target``); edit_position:
    ``[B]`` long, token index of the edited node in ``program``; replacement: ``[B, R]`` long, BOS +
    replacement ids + EOS, PAD-padded; path_length: ``[B]`` float, remaining edit-path length (0: the current
    program is the target, a value-only example); position_mask: ``[B, L]`` bool or None, every position whose
    edit lies on a shortest reverse path (the pointer is trained on their total probability).
    """

    target: torch.Tensor
    current: torch.Tensor
    program: torch.Tensor
    edit_position: torch.Tensor
    replacement: torch.Tensor
    path_length: torch.Tensor
    position_mask: torch.Tensor | None = None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> EditBatch:
        """A copy with every tensor on ``device``."""
        moved: dict[str, Any] = {f.name: None if getattr(self, f.name) is None
                                 else getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)}
        return EditBatch(**moved)

    def __len__(self) -> int:
        return int(self.program.shape[0])


def pad_sequences(seqs: Sequence[Sequence[int]], length: int | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Right-pad token id lists with PAD into a long tensor ``[len(seqs), length or longest]``."""
    width = max((len(s) for s in seqs), default=0) if length is None else length
    out = torch.full((len(seqs), max(width, 1)), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s) > width:
            raise ValueError(f"sequence {i} has {len(s)} tokens; expected at most {width}")
        out[i, :len(s)] = torch.tensor(list(s), dtype=torch.long)
    return out.to(device)


def encode_programs(vocab: Vocab, programs: Sequence[Node], device: torch.device | str = "cpu") -> torch.Tensor:
    """Token ids of each program, PAD-padded: ``[B, L]`` with L the longest encoding."""
    return pad_sequences([vocab.encode(p) for p in programs], device=device)


def make_edit_batch(vocab: Vocab, target: torch.Tensor, current: torch.Tensor, programs: Sequence[Node],
                    edits: Sequence[Edit], path_lengths: Sequence[float]) -> EditBatch:
    """Assemble an :class:`EditBatch` from trees: ``edits[i]`` applies to ``programs[i]``."""
    encoded = [encode_edit(vocab, p, e) for p, e in zip(programs, edits, strict=True)]
    return EditBatch(
        target=target,
        current=current,
        program=encode_programs(vocab, programs),
        edit_position=torch.tensor([e.position for e in encoded], dtype=torch.long),
        replacement=pad_sequences([(BOS, *e.replacement, EOS) for e in encoded]),
        path_length=torch.tensor(list(path_lengths), dtype=torch.float32),
    )
