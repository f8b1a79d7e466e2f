"""``treediff plugins``: installed plugins, their versions and domains, and load failures."""

from __future__ import annotations

import argparse

from treediff.engine.domains.registry import load_registry


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``plugins`` subcommand."""
    p = sub.add_parser("plugins", help="list installed plugins, their domains and load failures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per plugin, then one per failure; exit 1 if any plugin failed to load."""
    reg = load_registry()
    print(f"{'plugin':<18} {'version':<10} {'module':<32} provides")
    for info in reg.plugins:
        provides = [f"domain {d}" for d in info.domains] + [f"encoder {e}" for e in info.encoders]
        print(f"{info.name:<18} {info.version:<10} {info.module:<32} {', '.join(provides) or '-'}")
    for name, reason in reg.failures:
        print(f"{name:<18} {'FAILED':<10} {reason}")
    for name, dom in sorted(reg.domains.items()):
        ckpt = dom.checkpoint if dom.checkpoint and dom.checkpoint.exists() else "no shipped model"
        print(f"domain {name}: grammar {dom.grammar.name} ({len(dom.grammar.productions)} productions), "
              f"observation {tuple(dom.observation_shape)} in {dom.storage.suffix} files, encoder "
              f"{dom.observation_encoder}, model: {ckpt}")
        for field_name, field in dom.storage.options.model_fields.items():
            flag = f"--{field_name.replace('_', '-')}"
            print(f"  option {flag}: {field.description or ''} (default {field.default!r})")
    return 1 if reg.failures else 0
