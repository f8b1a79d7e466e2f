"""The bench probes' shared setting: a domain's AR model beside its generated targets, and their arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from treediff.engine.errors import InputError, TreediffError
from treediff.engine.evaluation.probe import add_probe_arguments, open_probe


def test_open_probe_loads_the_shipped_ar_model_and_generates_the_evals_targets() -> None:
    probe = open_probe("csg2d")
    assert "model_ar" in probe.model_dir.parts and probe.bundle.ar is not None
    targets = probe.targets(3, 5)
    assert [t.name for t in targets] == [t.name for t in probe.targets(3, 5)]
    assert all(t.program is not None and t.observation.shape == tuple(probe.domain.observation_shape)
               for t in targets)
    assert (probe.executor.execute([targets[0].program])[0] == targets[0].observation).all()


def test_open_probe_names_the_bad_domain_or_folder(tmp_path: Path) -> None:
    with pytest.raises(TreediffError, match="nosuchdomain"):
        open_probe("nosuchdomain")
    with pytest.raises(TreediffError, match=str(tmp_path)):
        open_probe("csg2d", tmp_path)


def test_open_probe_asks_for_a_model_when_the_domain_ships_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from treediff.engine.domains.registry import Registry

    original = Registry.domain
    monkeypatch.setattr(Registry, "domain", lambda self, name: dataclasses.replace(original(self, name),
                                                                                  ar_checkpoint=None))
    with pytest.raises(InputError, match="ships no AR model; expected --ar"):
        open_probe("csg2d")


def test_probe_arguments_take_the_defaults_given() -> None:
    p = argparse.ArgumentParser()
    add_probe_arguments(p, n=64, seed=2)
    args = p.parse_args(["tinysvg"])
    assert (args.domain, args.ar, args.n, args.seed) == ("tinysvg", None, 64, 2)
    args = p.parse_args(["csg2d", "--ar", "m", "-n", "3", "--seed", "7"])
    assert (args.ar, args.n, args.seed) == (Path("m"), 3, 7)
