"""What the AR model reads well and what it guesses: its teacher-forced accuracy on each field of the grammar.

Every token of a program decides one thing: which production expands a nonterminal (``<scene>``) or one leaf
value of one production (``arrange.gap``, ``ellipse.w``; ``Vocab.token_fields``). For generated targets (the
domain's complexity-filtered test-like set, development seed 1 by default) this reads each target program
teacher-forced after its own observation and groups the tokens by field: how often the token was the model's
most likely one, its mean negative log-likelihood, the chance level (uniform over the field's choices) and, for
leaf values, how many of the field's values would leave the execution a goal match (``equal``: 1 when the
observation pins the value down, more when other values look the same, e.g. the colour of an invisible shape).
A field near chance whose ``equal`` is near 1 is one the model cannot read although the observation shows it,
which the search then has to find by executing programs. Prints a table and writes JSON.

    python bench/field_reading.py tinysvg [--ar plugins/tinysvg/model_ar] [-n 200] [--seed 1] [--out F]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from treediff.engine.errors import TreediffError
from treediff.engine.evaluation.probe import ModelProbe, add_probe_arguments, open_probe
from treediff.engine.files import write_json
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tokens import Vocab
from treediff.engine.trees.tree import Edit, Node, get

Reading = tuple[str, float, bool, int | None]
"""(field, log-probability of the true token, whether it was the model's most likely token, how many values of
the leaf leave the execution a goal match: None for a production token)."""


def chance_nll(grammar: Grammar) -> dict[str, float]:
    """Per field of ``grammar``: the negative log-likelihood of a uniform guess among its choices."""
    out = {f"<{symbol}>": math.log(len(prods)) for symbol, prods in grammar.rules.items()}
    for prod in grammar.productions:
        for slot in prod.slots:
            if slot.terminal is not None:
                out[f"{prod.name}.{slot.field}"] = math.log(slot.terminal.size)
    return out


def field_table(readings: Iterable[Reading], chance: dict[str, float]) -> list[dict[str, Any]]:
    """One row per field read (sorted by name): tokens, top-1 accuracy, mean NLL and the chance NLL."""
    groups: dict[str, list[tuple[float, bool, int | None]]] = defaultdict(list)
    for field, logprob, top, equal in readings:
        groups[field].append((logprob, top, equal))
    out = []
    for field, rows in sorted(groups.items()):
        equals = [e for _, _, e in rows if e is not None]
        out.append({"field": field, "tokens": len(rows), "accuracy": sum(top for _, top, _ in rows) / len(rows),
                    "nll": -sum(lp for lp, _, _ in rows) / len(rows), "chance_nll": chance[field],
                    "equal": sum(equals) / len(equals) if equals else None})
    return out


def equal_values(tree: Node, vocab: Vocab, execute: Callable[[list[Node]], torch.Tensor],
                 goal: Callable[[torch.Tensor], torch.Tensor]) -> list[int | None]:
    """Per token of ``tree`` (``Vocab.encode`` order): None for a production token; for a leaf value, how many
    values of its terminal (its own included) make an execution that ``goal`` accepts."""
    out: list[int | None] = [None] * len(vocab.encode(tree))
    for path, own in vocab.node_tokens(tree):
        node = get(tree, path)
        leaves = [(i, s.terminal) for i, s in enumerate(node.production.slots) if s.terminal is not None]
        for k, (i, terminal) in zip(own[1:], leaves, strict=True):
            variants = [Edit(path, Node(node.production, node.children[:i] + (v,) + node.children[i + 1:])).apply(tree)
                        for v in terminal.values]
            out[k] = int(goal(execute(variants)).sum())
    return out


def read_fields(probe: ModelProbe, n: int, seed: int) -> list[Reading]:
    """The readings of every token of ``n`` generated targets of the probe's domain by its AR model."""
    from treediff.engine.models.likelihood import token_readings

    domain, bundle, executor = probe.domain, probe.bundle, probe.executor
    out: list[Reading] = []
    for target in probe.targets(n, seed):
        assert target.program is not None  # generated targets carry their program
        row = token_readings(bundle.need_ar(), bundle.vocab, target.observation[None], [target.program])[0]
        equal = equal_values(target.program, bundle.vocab, executor.execute,
                             lambda o, t=target: domain.goal(o, t.observation))
        out += [(f, lp, top, e) for f, (lp, top), e in zip(bundle.vocab.token_fields(target.program), row, equal,
                                                          strict=True)]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_probe_arguments(p, n=200, seed=1)
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/field-reading-DOMAIN.json")
    args = p.parse_args(argv)
    try:
        probe = open_probe(args.domain, args.ar)
        readings = read_fields(probe, args.n, args.seed)
    except TreediffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = field_table(readings, chance_nll(probe.domain.grammar))
    print(f"{'field':>16} {'tokens':>6} {'top-1':>6} {'nll':>6} {'chance':>6} {'equal':>6}")
    for r in table:
        equal = "-" if r["equal"] is None else f"{r['equal']:.2f}"
        print(f"{r['field']:>16} {r['tokens']:>6} {r['accuracy']:>6.3f} {r['nll']:>6.3f} {r['chance_nll']:>6.3f} "
              f"{equal:>6}")
    out = args.out or Path(__file__).resolve().parent / "results" / f"field-reading-{args.domain}.json"
    write_json(out, {"domain": args.domain, "ar": str(probe.model_dir), "targets": args.n, "seed": args.seed,
                     "fields": table})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
