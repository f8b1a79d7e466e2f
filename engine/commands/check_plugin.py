"""``treediff check-plugin NAME``: run the installed domain contract suite against a registered domain."""

from __future__ import annotations

import argparse

from treediff.engine.domains.registry import load_registry


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``check-plugin`` subcommand."""
    p = sub.add_parser("check-plugin", help="check a domain against the plugin contract (treediff.engine.domains."
                                            "contract)",
                       description="Run the domain contract suite against DOMAIN (a registered domain; `treediff "
                                   "plugins` lists them): grammar, executor, goal and distance, observation files, "
                                   "preview, encoder, test targets, bundled targets, sketch. Exits 1 if any fails.")
    p.add_argument("domain")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per check; exit 1 if any failed."""
    from treediff.engine.domains.contract import check_domain

    registry = load_registry()
    domain = registry.domain(args.domain)
    results = check_domain(domain, registry)
    for result in results:
        print(result)
    failed = [r for r in results if not r.ok]
    print(f"{domain.owner}: {len(results) - len(failed)} of {len(results)} checks passed or skipped"
          + (f", {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
